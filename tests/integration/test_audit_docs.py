"""docs/audit-log.md is enough to verify without our code: its sample verifier, run from the doc against an
intact and tampered SQLite copies, names the entry the app names; its test vectors are what the app makes."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, create_engine, text

from audit.integrity import mac as entry_mac
from audit.integrity import runner as queries
from audit.integrity.checkpoints import (
    SigningKey,
    fingerprint,
    line_of,
    load_signing_key,
    log_path,
    public_pem,
    read,
    statement,
    write_new_key,
)
from audit.integrity.verify import Checkpoint
from audit.services import create_checkpoint, record_many
from core.db import begin_write, db
from core.web import context
from tests.integration.audit_instances import SQLITE_AUDIT_TRIGGERS, on_postgres, separate_instance
from tests.integration.test_audit_tamper import drop_constraints, forge, insert, renumber_from

DOC = Path(__file__).resolve().parents[2] / "docs" / "audit-log.md"
FIRST_CP, LAST_CP, HEAD = 60, 91, 97  # checkpoints at 60 and 91 (entries 61 and 92 record them)


def doc_text() -> str:
    return DOC.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def instance(tmp_path_factory):
    """A SQLite chain of 97 entries with two signed checkpoints and MACs; the script from the doc."""
    if on_postgres():
        pytest.skip("the auditor's script reads a SQLite copy")
    directory = tmp_path_factory.mktemp("docs")
    script = re.search(r"<!-- verifier:begin -->\n```python\n(.*?)```\n<!-- verifier:end -->", doc_text(), re.S).group(
        1
    )
    (directory / "verify_chain.py").write_text(script, encoding="utf-8")
    key_path, mac_path = directory / "signing.pem", directory / "mac.key"
    write_new_key(key_path)
    entry_mac.write_new_key(mac_path)
    (directory / "public.pem").write_text(public_pem(load_signing_key(key_path)))
    with separate_instance("docs", directory, AUDIT_SIGNING_KEY=str(key_path), AUDIT_MAC_KEY=str(mac_path)) as app:
        key = load_signing_key(key_path)
        with app.app_context():
            context.set_origin("192.0.2.48", "pytest docs")
            for n in (FIRST_CP, LAST_CP - FIRST_CP - 1, HEAD - LAST_CP - 1):
                begin_write(db.session)
                record_many(
                    db.session,
                    None,
                    "asset.updated",
                    [(("assets", str(i)), {"after": {"note": f"ครั้งที่ {i}"}}) for i in range(n)],
                )
                db.session.commit()
                if n != HEAD - LAST_CP - 1:
                    create_checkpoint(db.session, None, log=log_path(app.config), key=key)
            db.session.remove()
            db.engine.dispose()
        yield {
            "dir": directory,
            "db": directory / "docs.sqlite3",
            "log": log_path(app.config),
            "key": key,
            "mac": entry_mac.load_key(mac_path),
        }


def tampered_copy(instance, tmp_path: Path, tamper: Callable[[Connection, Path], Path | None]) -> tuple[Path, Path]:
    copy = tmp_path / "copy.sqlite3"
    src, dst = sqlite3.connect(instance["db"]), sqlite3.connect(copy)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
    engine = create_engine(f"sqlite:///{copy}")
    try:
        with engine.connect() as conn, conn.begin():
            for name in SQLITE_AUDIT_TRIGGERS:
                conn.execute(text(f"DROP TRIGGER {name}"))
            forged_log = tamper(conn, tmp_path)
            log = forged_log if isinstance(forged_log, Path) else instance["log"]
    finally:
        engine.dispose()
    return copy, log


def run_script(instance, copy: Path, log: Path, *, mac: bool = True) -> subprocess.CompletedProcess:
    keys = ["--public-key", str(instance["dir"] / "public.pem")]
    keys += ["--mac-key", str(instance["dir"] / "mac.key")] if mac else []
    return subprocess.run(
        [sys.executable, str(instance["dir"] / "verify_chain.py"), str(copy), str(log), *keys],
        capture_output=True,
        text=True,
    )


def app_problem(instance, copy: Path, log: Path):
    engine = create_engine(f"sqlite:///{copy}")
    try:
        return queries.verify_engine(engine, log=log, key=instance["key"], mac_key=instance["mac"]).problem
    finally:
        engine.dispose()


def rewrite_log(tmp_path: Path, source: Path, change: Callable[[list[Checkpoint]], list[Checkpoint]]) -> Path:
    path = tmp_path / "forged.jsonl"
    path.write_text("".join(line_of(cp) + "\n" for cp in change(read(source))), encoding="utf-8")
    return path


def insert_renumbered_at_40(conn, _tmp):
    drop_constraints(conn)
    fake = forge(conn, 40)
    renumber_from(conn, 40)
    insert(conn, fake)
    conn.execute(text("UPDATE audit_head SET seq = seq + 1 WHERE id = 1"))


def stray(seq: int):
    def do(conn, _tmp):
        row = forge(conn, 5)
        row.update(seq=seq, prev_hash=hashlib.sha256(f"nowhere {seq}".encode()).hexdigest())
        from tests.integration.test_audit_tamper import hash_of

        row["hash"] = hash_of(row)
        insert(conn, row)

    return do


def forged_append(conn, _tmp):
    fake = forge(conn, HEAD + 1)
    insert(conn, fake)
    conn.execute(text("UPDATE audit_head SET seq = :s, hash = :h WHERE id = 1"), {"s": HEAD + 1, "h": fake["hash"]})


def cut_back(conn, _tmp):
    conn.execute(text("DELETE FROM audit_entries WHERE seq > :s"), {"s": LAST_CP})
    conn.execute(
        text("UPDATE audit_head SET seq = :s, hash = (SELECT hash FROM audit_entries WHERE seq = :s) WHERE id = 1"),
        {"s": LAST_CP},
    )


CASES = [
    ("insert at 40", insert_renumbered_at_40, 40, "no valid MAC"),
    (
        "edit 2",
        lambda c, _t: c.execute(text("UPDATE audit_entries SET actor = 'x' WHERE seq = 2")),
        2,
        "content changed",
    ),
    ("insert at 0", stray(0), 0, "outside the chain"),
    ("stray beyond the head", stray(HEAD + 20), HEAD + 20, "beyond the recorded head"),
    (
        "a database checkpoint deleted",
        lambda c, _t: c.execute(text(f"DELETE FROM audit_checkpoints WHERE seq = {FIRST_CP}")),
        FIRST_CP + 1,
        "missing from the database",
    ),
    (
        "every database checkpoint deleted",
        lambda c, _t: c.execute(text("DELETE FROM audit_checkpoints")),
        FIRST_CP + 1,
        "missing from the database",
    ),
    ("the checkpoint file emptied", None, FIRST_CP + 1, "missing from the file"),
    ("signatures stripped in both", None, FIRST_CP, "signature was removed"),
    ("cut back to the last checkpoint", cut_back, LAST_CP + 1, "history cut back"),
    ("forged append, head moved", forged_append, HEAD + 1, "no valid MAC"),
    (
        "every MAC stripped",
        lambda c, _t: c.execute(text("UPDATE audit_entries SET mac = NULL")),
        FIRST_CP + 1,
        "no valid MAC",
    ),
]


def tamper_for(case: str, tamper, instance):
    if case == "the checkpoint file emptied":
        return lambda _c, tmp: rewrite_log(tmp, instance["log"], lambda cps: [])

    if case == "signatures stripped in both":

        def strip(conn, tmp):
            conn.execute(text("UPDATE audit_checkpoints SET signature = '', key_id = ''"))
            return rewrite_log(tmp, instance["log"], lambda cps: [Checkpoint(c.seq, c.hash, c.at) for c in cps])

        return strip
    return tamper


def test_the_sample_verifier_passes_an_intact_chain(instance, tmp_path):
    copy, log = tampered_copy(instance, tmp_path, lambda _c, _t: None)
    ran = run_script(instance, copy, log)
    assert ran.returncode == 0 and ran.stdout.startswith(f"OK: {HEAD} entries"), ran.stdout + ran.stderr
    assert app_problem(instance, copy, log) is None


@pytest.mark.parametrize("case, tamper, seq, words", CASES, ids=[c[0] for c in CASES])
def test_the_sample_verifier_names_the_entry_the_app_names(instance, tmp_path, case, tamper, seq, words):
    copy, log = tampered_copy(instance, tmp_path, tamper_for(case, tamper, instance))
    ran = run_script(instance, copy, log)
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert ran.stderr.startswith(f"entry {seq}: ") and words in ran.stderr, ran.stderr
    assert app_problem(instance, copy, log).seq == seq


def test_without_the_mac_key_the_sample_verifier_names_an_insertion_by_the_chain(instance, tmp_path):
    copy, log = tampered_copy(instance, tmp_path, insert_renumbered_at_40)
    ran = run_script(instance, copy, log, mac=False)
    assert ran.returncode == 1 and ran.stderr.startswith("entry 40: inserted"), ran.stderr


# --- the test vectors in the doc -------------------------------------------------------------------


def vector(name: str) -> str:
    match = re.search(rf"^{re.escape(name)}:\s+(.*)$", doc_text(), re.M)
    assert match, name
    return match.group(1).strip()


def test_the_checkpoint_test_vector_is_what_the_app_makes():
    private = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(vector("private key (raw 32 bytes, hex)")))
    key = SigningKey(private)
    raw = key.public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert raw.hex() == vector("public key (raw, hex)")
    assert key.key_id == vector("key id")
    assert fingerprint(key) == vector("fingerprint")
    at, hash_ = "2023-10-01T01:02:04.000000Z", "2505ac84302be82c39c90e3a0f460639fcf034884a458d165d8056cc4b6e5a2e"
    assert statement(1, hash_, at).decode("utf-8") == vector("statement")
    assert key.sign(1, hash_, at) == vector("signature (base64)")
    assert line_of(Checkpoint(1, hash_, at, vector("signature (base64)"), key.key_id)) == vector("checkpoint file line")
    assert key.check(Checkpoint(1, hash_, at, vector("signature (base64)"), key.key_id)) is True
    pems = re.findall(r"-----BEGIN (PRIVATE|PUBLIC) KEY-----\n\s*(\S+)\n", doc_text())
    assert dict(pems)["PUBLIC"] in public_pem(key)
    der = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    assert dict(pems)["PRIVATE"] in der


def test_the_mac_test_vector_is_what_the_app_makes():
    match = re.search(
        r"key `([0-9a-f]{64})` \(a TEST key.*?hash `([0-9a-f]{64})`.*?mac `([0-9a-f]{64})`", doc_text(), re.S
    )
    key, hash_, mac = match.groups()
    assert entry_mac.mac_of(bytes.fromhex(key), hash_) == mac


def test_the_doc_describes_every_column_of_the_three_tables():
    from audit.models import AuditCheckpoint, AuditEntry, AuditHead

    doc = doc_text()
    for model in (AuditEntry, AuditCheckpoint, AuditHead):
        for column in model.__table__.columns:
            assert f"`{column.name}`" in doc, (model.__tablename__, column.name)
    data = json.loads('{"hash":"h","key_id":"","mac":true,"seq":1,"signed":false}')
    assert all(f'"{k}"' in doc for k in data)
