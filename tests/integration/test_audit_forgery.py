"""The tamper matrix: each way of forging or shortening history, and `verify` naming the problem and entry.

A 300-entry chain in a database of its own, with a signing key and a MAC key from the start: 3 rounds of
99 entries, each closed by a signed checkpoint (at 99, 199, 299; entries 100, 200 and 300 are the
`audit.checkpoint` entries that record them). The intruder owns the database and can read and write the
checkpoint file, but has neither key: they drop the triggers (and constraints where a forgery needs it),
change rows with raw SQL, rewrite the file, and the real verification runs on the same connection (the
exact walk and the quick pass) and — on SQLite — on a committed copy, through the walk in parts by worker
processes. Each kind is tried at the first, a middle and the last entry where that means something.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import Connection, create_engine, text

from audit.integrity import mac as entry_mac
from audit.integrity import runner as queries
from audit.integrity.checkpoints import SigningKey, line_of, load_signing_key, log_path, read, write_new_key
from audit.integrity.verify import Result
from audit.services import create_checkpoint, record_many
from core.db import begin_write, db
from core.web import context
from tests.integration.audit_instances import SQLITE_AUDIT_TRIGGERS, on_postgres, separate_instance, tamper_connection
from tests.integration.test_audit_tamper import (
    drop_constraints,
    entry,
    forge,
    hash_of,
    insert,
    one_char_changed,
    renumber_from,
)

pytestmark = pytest.mark.slow

ROUNDS, PER_ROUND = 3, 99
TOTAL = ROUNDS * (PER_ROUND + 1)  # 300
CHECKPOINTS = [(r + 1) * (PER_ROUND + 1) - 1 for r in range(ROUNDS)]  # 99, 199, 299
FIRST, MIDDLE, LAST = 1, 150, TOTAL


@dataclass
class Chain:
    app: Flask
    key: SigningKey
    mac_key: bytes
    log: Path
    directory: Path


@pytest.fixture(scope="module")
def chain(tmp_path_factory) -> Iterator[Chain]:
    """A 300-entry chain, signed checkpoints and MACs from its first entry, in a database of its own."""
    directory = tmp_path_factory.mktemp("forgery")
    key_path, mac_path = directory / "signing.pem", directory / "mac.key"
    write_new_key(key_path)
    entry_mac.write_new_key(mac_path)
    with separate_instance("forgery", directory, AUDIT_SIGNING_KEY=str(key_path), AUDIT_MAC_KEY=str(mac_path)) as app:
        key = load_signing_key(key_path)
        log = log_path(app.config)
        with app.app_context():
            context.set_origin("192.0.2.46", "pytest forgery", "build")
            for r in range(ROUNDS):
                begin_write(db.session)
                record_many(
                    db.session,
                    None,
                    "asset.updated",
                    [
                        (("assets", str(i % 31)), {"after": {"location": f"ห้องพัสดุ {i}"}})
                        for i in range(r * PER_ROUND, (r + 1) * PER_ROUND)
                    ],
                )
                db.session.commit()
                create_checkpoint(db.session, None, log=log, key=key)
            db.session.remove()
        yield Chain(app, key, entry_mac.load_key(mac_path), log, directory)


# --- what the intruder does: each returns the checkpoint file to verify against ----------------------


@dataclass
class Ctx:
    chain: Chain
    tmp: Path

    def log_with(self, change: Callable[[list], list]) -> Path:
        """A rewritten copy of the checkpoint file (the intruder can write it)."""
        path = self.tmp / "forged-checkpoints.jsonl"
        lines = [line_of(cp) for cp in change(read(self.chain.log))]
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        return path


def stray(conn: Connection, seq: int) -> dict:
    """A row that hashes right but belongs to no chain (its own made-up link)."""
    row = {
        **entry(conn, 2),
        "seq": seq,
        "action": "loan.approved",
        "subject_type": "loans",
        "subject_id": "77",
        "prev_hash": hashlib.sha256(f"nowhere {seq}".encode()).hexdigest(),
    }
    row["hash"] = hash_of(row)
    return row


def insert_stray(seq: int) -> Callable[[Connection, Ctx], None]:
    def do(conn: Connection, _ctx: Ctx) -> None:
        insert(conn, stray(conn, seq))

    return do


def insert_renumbered(seq: int) -> Callable[[Connection, Ctx], None]:
    def do(conn: Connection, _ctx: Ctx) -> None:
        drop_constraints(conn)
        fake = forge(conn, seq)
        renumber_from(conn, seq)
        insert(conn, fake)
        conn.execute(text("UPDATE audit_head SET seq = seq + 1 WHERE id = 1"))

    return do


def edit(seq: int) -> Callable[[Connection, Ctx], None]:
    def do(conn: Connection, _ctx: Ctx) -> None:
        conn.execute(
            text("UPDATE audit_entries SET data = :d WHERE seq = :s"),
            {"d": one_char_changed(entry(conn, seq)["data"]), "s": seq},
        )

    return do


def delete(seq: int) -> Callable[[Connection, Ctx], None]:
    def do(conn: Connection, _ctx: Ctx) -> None:
        conn.execute(text("DELETE FROM audit_entries WHERE seq = :s"), {"s": seq})

    return do


def swap(seq: int) -> Callable[[Connection, Ctx], None]:
    def do(conn: Connection, _ctx: Ctx) -> None:
        conn.execute(text("UPDATE audit_entries SET seq = -1 WHERE seq = :a"), {"a": seq})
        conn.execute(text("UPDATE audit_entries SET seq = :a WHERE seq = :b"), {"a": seq, "b": seq + 1})
        conn.execute(text("UPDATE audit_entries SET seq = :b WHERE seq = -1"), {"b": seq + 1})

    return do


def strip_signatures(where: str) -> Callable[[Connection, Ctx], Path | None]:
    def do(conn: Connection, ctx: Ctx) -> Path | None:
        if where in ("db", "both"):
            conn.execute(text("UPDATE audit_checkpoints SET signature = '', key_id = ''"))
        if where in ("file", "both"):
            return ctx.log_with(lambda cps: [type(cp)(cp.seq, cp.hash, cp.at, "", "") for cp in cps])
        return None

    return do


def delete_checkpoints(where: str, only: int | None = None) -> Callable[[Connection, Ctx], Path | None]:
    def do(conn: Connection, ctx: Ctx) -> Path | None:
        if where in ("db", "both"):
            if only is None:
                conn.execute(text("DELETE FROM audit_checkpoints"))
            else:
                conn.execute(text("DELETE FROM audit_checkpoints WHERE seq = :s"), {"s": only})
        if where in ("file", "both"):
            return ctx.log_with(lambda cps: [cp for cp in cps if only is not None and cp.seq != only])
        return None

    return do


def cut_back_to_last_checkpoint(conn: Connection, _ctx: Ctx) -> None:
    conn.execute(text("DELETE FROM audit_entries WHERE seq > :s"), {"s": CHECKPOINTS[-1]})
    conn.execute(
        text("UPDATE audit_head SET seq = :s, hash = (SELECT hash FROM audit_entries WHERE seq = :s) WHERE id = 1"),
        {"s": CHECKPOINTS[-1]},
    )


def forged_append(conn: Connection, _ctx: Ctx) -> None:
    """Two correctly chained entries after the head, and the head moved to them: only the MAC tells."""
    for seq in (TOTAL + 1, TOTAL + 2):
        fake = forge(conn, seq)
        insert(conn, fake)
        conn.execute(text("UPDATE audit_head SET seq = :s, hash = :h WHERE id = 1"), {"s": seq, "h": fake["hash"]})


def strip_macs(conn: Connection, _ctx: Ctx) -> None:
    conn.execute(text("UPDATE audit_entries SET mac = NULL"))


def forged_mac(conn: Connection, _ctx: Ctx) -> None:
    conn.execute(text("UPDATE audit_entries SET mac = :m WHERE seq = :s"), {"m": "0" * 64, "s": MIDDLE})


# (id, what is done, the entry named, the problem's code, its kind)
CASES = [
    ("insert at 0", insert_stray(0), 0, "outside_chain", "inserted"),
    ("insert at a negative number", insert_stray(-5), -5, "outside_chain", "inserted"),
    ("insert first", insert_renumbered(FIRST), FIRST, "inserted", "inserted"),
    ("insert middle", insert_renumbered(MIDDLE), MIDDLE, "inserted", "inserted"),
    ("insert last", insert_renumbered(LAST), LAST, "inserted", "inserted"),
    ("edit first", edit(FIRST), FIRST, None, "content_changed"),
    ("edit middle", edit(MIDDLE), MIDDLE, None, "content_changed"),
    ("edit last", edit(LAST), LAST, None, "content_changed"),
    ("delete first", delete(FIRST), FIRST, "missing", "missing"),
    ("delete middle", delete(MIDDLE), MIDDLE, "missing", "missing"),
    ("delete last", delete(LAST), LAST, "missing_tail", "missing"),
    ("reorder first", swap(FIRST), FIRST, None, "order_changed"),
    ("reorder middle", swap(MIDDLE), MIDDLE, None, "order_changed"),
    ("reorder last", swap(LAST - 1), LAST - 1, None, "order_changed"),
    ("stray row beyond the head", insert_stray(TOTAL + 50), TOTAL + 50, "inserted_past_head", "inserted"),
    ("stray row just after the head", insert_stray(TOTAL + 1), TOTAL + 1, "inserted_past_head", "inserted"),
    (
        "signatures stripped (db and file)",
        strip_signatures("both"),
        CHECKPOINTS[0],
        "signature_removed",
        "bad_signature",
    ),
    ("signatures stripped (db)", strip_signatures("db"), CHECKPOINTS[0], "signature_removed", "bad_signature"),
    ("signatures stripped (file)", strip_signatures("file"), CHECKPOINTS[0], "signature_removed", "bad_signature"),
    (
        "all checkpoints deleted",
        delete_checkpoints("both"),
        CHECKPOINTS[0] + 1,
        "checkpoint_missing_db",
        "checkpoint_missing",
    ),
    (
        "checkpoints deleted (db)",
        delete_checkpoints("db"),
        CHECKPOINTS[0] + 1,
        "checkpoint_missing_db",
        "checkpoint_missing",
    ),
    (
        "checkpoints deleted (file)",
        delete_checkpoints("file"),
        CHECKPOINTS[0] + 1,
        "checkpoint_missing_file",
        "checkpoint_missing",
    ),
    (
        "latest checkpoint deleted (db)",
        delete_checkpoints("db", CHECKPOINTS[-1]),
        CHECKPOINTS[-1] + 1,
        "checkpoint_missing_db",
        "checkpoint_missing",
    ),
    (
        "latest checkpoint deleted (file)",
        delete_checkpoints("file", CHECKPOINTS[-1]),
        CHECKPOINTS[-1] + 1,
        "checkpoint_missing_file",
        "checkpoint_missing",
    ),
    (
        "cut back to the last checkpoint",
        cut_back_to_last_checkpoint,
        CHECKPOINTS[-1] + 1,
        "checkpoint_entry_missing",
        "shorter",
    ),
    ("forged append after the head, head moved", forged_append, TOTAL + 1, "bad_mac", "bad_mac"),
    ("every MAC stripped", strip_macs, CHECKPOINTS[0] + 1, "mac_stripped", "bad_mac"),
    ("a MAC forged", forged_mac, MIDDLE, "bad_mac", "bad_mac"),
]


def verify(conn: Connection, chain: Chain, log: Path) -> Result:
    return queries.verify_on(conn, log=log, key=chain.key, mac_key=chain.mac_key)


def test_the_intact_chain_verifies_with_every_protection(chain):
    with chain.app.app_context():
        result = queries.verify_configured(db.engine, chain.app.config)
    assert result.ok, result.problem and result.problem.message
    assert (result.count, result.checkpoints) == (TOTAL, ROUNDS)
    assert result.warnings == []  # every entry carries a MAC, every checkpoint a signature


@pytest.mark.parametrize("case, tamper, seq, code, kind", CASES, ids=[c[0] for c in CASES])
def test_each_forgery_is_named(chain, tmp_path, case, tamper, seq, code, kind):
    with tamper_connection(chain.app) as conn:
        log = tamper(conn, Ctx(chain, tmp_path)) or chain.log
        problem = verify(conn, chain, log).problem
    assert problem is not None, f"{case}: verify passed"
    assert (problem.seq, problem.kind) == (seq, kind), (case, problem)
    if code is not None:
        assert problem.code == code, (case, problem)


@pytest.mark.skipif(on_postgres(), reason="the walk in parts by worker processes is for SQLite")
@pytest.mark.parametrize("case, tamper, seq, code, kind", CASES, ids=[c[0] for c in CASES])
def test_the_walk_in_parts_names_each_forgery_as_one_walk_does(chain, tmp_path, case, tamper, seq, code, kind):
    source = chain.directory / "forgery.sqlite3"
    copy = tmp_path / "copy.sqlite3"
    src, dst = sqlite3.connect(source), sqlite3.connect(copy)
    try:
        src.backup(dst)  # (a file copy could miss pages still in the write-ahead log)
    finally:
        src.close()
        dst.close()
    engine = create_engine(f"sqlite:///{copy}")
    try:
        with engine.connect() as conn, conn.begin():
            for name in SQLITE_AUDIT_TRIGGERS:
                conn.execute(text(f"DROP TRIGGER {name}"))
            log = tamper(conn, Ctx(chain, tmp_path)) or chain.log
        kwargs = {"log": log, "key": chain.key, "mac_key": chain.mac_key}
        one = queries.verify_engine(engine, parallel_from=10**9, **kwargs)
        parts = queries.verify_engine(engine, parallel_from=0, **kwargs)
    finally:
        engine.dispose()
    assert (one.problem.seq, one.problem.kind) == (parts.problem.seq, parts.problem.kind) == (seq, kind)


def test_without_the_mac_key_a_forged_append_is_the_documented_limit_and_macs_are_noted(chain, tmp_path):
    with tamper_connection(chain.app) as conn:
        forged_append(conn, Ctx(chain, tmp_path))
        result = queries.verify_on(conn, log=chain.log, key=chain.key)
    assert result.ok  # database write access plus no MAC key at the verifier: see docs/audit-log.md, Limits
    assert any("MACs were not checked" in w for w in result.warnings)


def test_entries_written_before_the_mac_key_are_noted_not_failed(tmp_path):
    mac_path = tmp_path / "mac.key"
    entry_mac.write_new_key(mac_path)
    with separate_instance("premac", tmp_path) as app:
        with app.app_context():
            context.set_origin("192.0.2.47", "pytest premac")
            begin_write(db.session)
            record_many(db.session, None, "asset.updated", [(("assets", str(i)), {"n": i}) for i in range(5)])
            db.session.commit()
            app.config["AUDIT_MAC_KEY"] = str(mac_path)  # the key is configured from here on
            begin_write(db.session)
            record_many(db.session, None, "asset.updated", [(("assets", str(i)), {"n": i}) for i in range(3)])
            db.session.commit()
            create_checkpoint(db.session, None, log=log_path(app.config))
            result = queries.verify_configured(db.engine, app.config)
            db.session.remove()
    assert result.ok, result.problem and result.problem.message
    assert "entries 1 to 5 are not MAC-protected (written before AUDIT_MAC_KEY was configured)" in result.warnings


def test_a_checkpoint_entry_records_whether_it_was_written_with_the_mac_key(chain):
    with chain.app.app_context():
        rows = (
            db.session.execute(text("SELECT data FROM audit_entries WHERE action = 'audit.checkpoint' ORDER BY seq"))
            .scalars()
            .all()
        )
        db.session.remove()
    assert [json.loads(d)["mac"] for d in rows] == [True] * ROUNDS
    assert [json.loads(d)["seq"] for d in rows] == CHECKPOINTS


def test_an_unreadable_mac_key_is_the_answer_of_verify_not_a_silent_skip(chain, tmp_path):
    broken = tmp_path / "broken.key"
    broken.write_text("not hex\n")
    with chain.app.app_context():
        result = queries.verify_configured(db.engine, {**chain.app.config, "AUDIT_MAC_KEY": str(broken)})
    assert not result.ok and result.problem.code == "key_unusable"


def test_sqlite3_sees_the_mac_column(chain):
    """The column the migration adds (an auditor's program reads it)."""
    if on_postgres():
        pytest.skip("SQLite file only")
    conn = sqlite3.connect(chain.directory / "forgery.sqlite3")
    try:
        macs = [m for (m,) in conn.execute("SELECT mac FROM audit_entries ORDER BY seq")]
    finally:
        conn.close()
    assert len(macs) == TOTAL and all(len(m) == 64 for m in macs)
