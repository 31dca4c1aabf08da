"""Tampering with a 10,000-entry chain in the database itself, and `verify` naming what was done.

The chain lives in a database of its own (a SQLite file, or a PostgreSQL schema), built once: 4 rounds of
2,499 entries written by `record_many` in one transaction each, every round closed by a signed checkpoint
(at 2,499, 4,999, 7,499 and 9,999; entry 10,000 is the last checkpoint's own `audit.checkpoint` entry).

Each case is what someone with full access to the database would do: drop the protecting triggers (and the
constraints where the forgery needs it), change rows with raw SQL, then run the real verification on the
same connection, and roll everything back. Each kind is tried at the first, a middle and the last entry.
"Last" is the chain's last entry, except for the two forgeries that only a checkpoint can expose (a
dropped tail whose head was moved back too, and a history rewritten with every later hash recomputed):
there it is the last entry a checkpoint covers, 9,999 — entries after the latest checkpoint are protected
only by the chain and its head row, which is why checkpoints are taken nightly (see docs/audit-log.md).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import Connection, String, select, text, type_coerce
from sqlalchemy.exc import DBAPIError

from audit.integrity import runner as queries
from audit.integrity.chain import GENESIS_HASH, canonical_stored, hash_text
from audit.integrity.checkpoints import SigningKey, line_of, load_signing_key, log_path, read, write_new_key
from audit.integrity.verify import Checkpoint, Result
from audit.models import AuditEntry
from audit.services import create_checkpoint, record_many
from core.db import begin_write, db
from core.web import context
from tests.conftest import owner_connection
from tests.integration.audit_instances import SQLITE_AUDIT_TRIGGERS, on_postgres, separate_instance, tamper_connection

pytestmark = pytest.mark.slow

ROUNDS, PER_ROUND = 4, 2499
TOTAL = ROUNDS * (PER_ROUND + 1)  # 10,000
CHECKPOINTS = [(r + 1) * (PER_ROUND + 1) - 1 for r in range(ROUNDS)]  # 2499, 4999, 7499, 9999
FIRST, MIDDLE, LAST = 1, 5000, TOTAL
LAST_COVERED = CHECKPOINTS[-1]


@dataclass
class Chain:
    app: Flask
    key: SigningKey
    log: Path


@pytest.fixture(scope="module")
def chain(tmp_path_factory) -> Iterator[Chain]:
    """A 10,000-entry chain with four signed checkpoints, in a database of its own."""
    directory = tmp_path_factory.mktemp("tamper")
    key_path = directory / "signing.pem"
    write_new_key(key_path)
    with separate_instance("tamper", directory, AUDIT_SIGNING_KEY=str(key_path)) as app:
        key = load_signing_key(key_path)
        log = log_path(app.config)
        with app.app_context():
            context.set_origin("192.0.2.44", "pytest tamper", "build")
            for r in range(ROUNDS):
                begin_write(db.session)
                items = [
                    (
                        ("assets", str(i % 97)),
                        {
                            "before": {"location": "ห้องเก็บของ", "price": "350.00"},
                            "after": {"location": f"ห้องประชุมสภา ชั้น {i % 3 + 1}", "price": f"{300 + i % 50}.00"},
                        },
                    )
                    for i in range(r * PER_ROUND, (r + 1) * PER_ROUND)
                ]
                record_many(db.session, None, "asset.updated", items)
                db.session.commit()
                create_checkpoint(db.session, None, log=log, key=key)
            db.session.remove()
        yield Chain(app, key, log)


def verify(conn: Connection, chain: Chain) -> Result:
    return queries.verify_on(conn, log=chain.log, key=chain.key)


# --- what an intruder with full access does ------------------------------------------------------

SQLITE_TRIGGERS = SQLITE_AUDIT_TRIGGERS


def drop_constraints(conn: Connection) -> None:
    """Remove the primary key and the unique hashes (a forgery that repeats a number or a link needs it)."""
    if conn.dialect.name == "sqlite":
        conn.execute(text("CREATE TABLE audit_entries_loose AS SELECT * FROM audit_entries"))
        conn.execute(text("DROP TABLE audit_entries"))
        conn.execute(text("ALTER TABLE audit_entries_loose RENAME TO audit_entries"))
    else:
        for name in ("pk_audit_entries", "uq_audit_entries_prev_hash", "uq_audit_entries_hash"):
            conn.execute(text(f"ALTER TABLE audit_entries DROP CONSTRAINT {name}"))


def tampering(chain: Chain):
    """A connection whose transaction drops the triggers, is tampered with, verified, and rolled back."""
    return tamper_connection(chain.app)


COLUMNS = (
    "seq",
    "at",
    "actor_id",
    "actor",
    "action",
    "subject_type",
    "subject_id",
    "data",
    "ip",
    "user_agent",
    "request_id",
    "prev_hash",
    "hash",
)


def entry(conn: Connection, seq: int) -> dict:
    cols = [type_coerce(AuditEntry.at, String).label("at") if c == "at" else getattr(AuditEntry, c) for c in COLUMNS]
    return dict(conn.execute(select(*cols).where(AuditEntry.seq == seq)).one()._mapping)


def entries_from(conn: Connection, seq: int) -> list[dict]:
    cols = [type_coerce(AuditEntry.at, String).label("at") if c == "at" else getattr(AuditEntry, c) for c in COLUMNS]
    return [dict(r._mapping) for r in conn.execute(select(*cols).where(AuditEntry.seq >= seq).order_by(AuditEntry.seq))]


def insert(conn: Connection, row: dict) -> None:
    names = ", ".join(COLUMNS)
    values = ", ".join(":" + c for c in COLUMNS)
    conn.execute(text(f"INSERT INTO audit_entries ({names}) VALUES ({values})"), row)


def one_char_changed(value: str) -> str:
    """The same text with one letter or digit in its middle replaced by another."""
    for i in range(len(value) // 2, len(value)):
        c = value[i]
        if c.isdigit():
            return value[:i] + str((int(c) + 1) % 10) + value[i + 1 :]
        if "\u0e01" <= c <= "\u0e2e":  # a Thai consonant
            return value[:i] + ("ก" if c != "ก" else "ข") + value[i + 1 :]
        if c.isalpha():
            return value[:i] + ("a" if c != "a" else "b") + value[i + 1 :]
    raise AssertionError("nothing to change")


def hash_of(row: dict) -> str:
    return hash_text(canonical_stored(row))


def prev_of(conn: Connection, seq: int) -> str:
    return entry(conn, seq - 1)["hash"] if seq > 1 else GENESIS_HASH


def set_head(conn: Connection, seq: int) -> None:
    conn.execute(
        text("UPDATE audit_head SET seq = :seq, hash = :hash WHERE id = 1"),
        {"seq": seq, "hash": prev_of(conn, seq + 1)},
    )


def forge(conn: Connection, seq: int) -> dict:
    """An entry that was never written, made by someone who knows the encoding: it hashes right."""
    row = {
        **entry(conn, 2),
        "seq": seq,
        "action": "loan.approved",
        "subject_type": "loans",
        "subject_id": "77",
        "data": json.dumps({"note": "อนุมัติย้อนหลัง"}, ensure_ascii=False, separators=(",", ":")),
        "prev_hash": prev_of(conn, seq),
    }
    row["hash"] = hash_of(row)
    return row


def renumber_from(conn: Connection, seq: int) -> None:
    """Move every entry from `seq` on one place up (through negative numbers: the key is checked per row)."""
    conn.execute(text("UPDATE audit_entries SET seq = -seq - 1 WHERE seq >= :s"), {"s": seq})
    conn.execute(text("UPDATE audit_entries SET seq = -seq WHERE seq < 0"))


def rewrite_from(conn: Connection, seq: int) -> list[dict]:
    """Change entry `seq`, recompute every later hash and link and the head: a chain consistent in itself."""
    rows = entries_from(conn, seq)
    rows[0]["data"] = one_char_changed(rows[0]["data"])
    prev = prev_of(conn, seq)
    for row in rows:
        row["prev_hash"] = prev
        row["hash"] = prev = hash_of(row)
    conn.execute(
        text("UPDATE audit_entries SET data = :data, prev_hash = :prev_hash, hash = :hash WHERE seq = :seq"),
        [{k: r[k] for k in ("data", "prev_hash", "hash", "seq")} for r in rows],
    )
    conn.execute(text("UPDATE audit_head SET hash = :h WHERE id = 1"), {"h": prev})
    return rows


# --- the cases -----------------------------------------------------------------------------------


def test_a_clean_chain_verifies_with_its_count_head_and_checkpoints(chain):
    with chain.app.app_context():
        result = queries.verify_engine(db.engine, log=chain.log, key=chain.key)
        head = queries.head_of(db.session)
    assert result.ok, result.problem and result.problem.message
    assert (result.count, result.head_seq, result.head_hash) == (TOTAL, TOTAL, head[1])
    assert result.checkpoints == ROUNDS  # each one is in the database and in the file: counted once
    assert [cp.seq for cp in read(chain.log)] == CHECKPOINTS
    assert all(cp.signature and cp.key_id == chain.key.key_id for cp in read(chain.log))


@pytest.mark.parametrize("seq", [FIRST, MIDDLE, LAST], ids=["first", "middle", "last"])
def test_one_changed_character_is_named(chain, seq):
    with tampering(chain) as conn:
        row = entry(conn, seq)
        conn.execute(
            text("UPDATE audit_entries SET data = :d WHERE seq = :s"), {"d": one_char_changed(row["data"]), "s": seq}
        )
        problem = verify(conn, chain).problem
    assert (problem.seq, problem.kind) == (seq, "content_changed")


@pytest.mark.parametrize("seq", [FIRST, MIDDLE, LAST], ids=["first", "middle", "last"])
def test_a_deleted_entry_is_named(chain, seq):
    with tampering(chain) as conn:
        conn.execute(text("DELETE FROM audit_entries WHERE seq = :s"), {"s": seq})
        problem = verify(conn, chain).problem
    assert (problem.seq, problem.kind) == (seq, "missing")


@pytest.mark.parametrize("seq", [FIRST, MIDDLE, LAST], ids=["first", "middle", "last"])
def test_swapped_neighbours_are_named(chain, seq):
    first = min(seq, TOTAL - 1)  # the last entry swaps with the one before it
    with tampering(chain) as conn:
        conn.execute(text("UPDATE audit_entries SET seq = -1 WHERE seq = :a"), {"a": first})
        conn.execute(text("UPDATE audit_entries SET seq = :a WHERE seq = :b"), {"a": first, "b": first + 1})
        conn.execute(text("UPDATE audit_entries SET seq = :b WHERE seq = -1"), {"b": first + 1})
        problem = verify(conn, chain).problem
    assert (problem.seq, problem.kind) == (first, "order_changed")


@pytest.mark.parametrize("seq", [FIRST, MIDDLE, LAST], ids=["first", "middle", "last"])
def test_a_forged_entry_inserted_with_renumbering_is_named(chain, seq):
    with tampering(chain) as conn:
        drop_constraints(conn)
        fake = forge(conn, seq)
        renumber_from(conn, seq)
        insert(conn, fake)
        conn.execute(text("UPDATE audit_head SET seq = seq + 1 WHERE id = 1"))
        problem = verify(conn, chain).problem
    assert (problem.seq, problem.kind) == (seq, "inserted")


@pytest.mark.parametrize("seq", [FIRST, MIDDLE, LAST], ids=["first", "middle", "last"])
def test_a_forged_entry_inserted_without_renumbering_is_named(chain, seq):
    with tampering(chain) as conn:
        drop_constraints(conn)
        insert(conn, forge(conn, seq))  # shares its number with the real entry
        problem = verify(conn, chain).problem
    assert (problem.seq, problem.kind) == (seq, "inserted")


@pytest.mark.parametrize("seq", [FIRST, MIDDLE, LAST_COVERED], ids=["first", "middle", "last"])
def test_a_tail_dropped_after_a_checkpoint_is_named(chain, seq):
    with tampering(chain) as conn:
        conn.execute(text("DELETE FROM audit_entries WHERE seq >= :s"), {"s": seq})
        set_head(conn, seq - 1)  # the intruder moves the head back too: only the checkpoints know
        problem = verify(conn, chain).problem
    assert (problem.seq, problem.kind) == (seq, "shorter")
    assert problem.params["checkpoint"] == LAST_COVERED


@pytest.mark.parametrize("seq", [FIRST, MIDDLE, LAST_COVERED], ids=["first", "middle", "last"])
def test_history_rewritten_from_an_entry_on_is_caught_at_the_next_checkpoint(chain, seq):
    with tampering(chain) as conn:
        rewrite_from(conn, seq)
        problem = verify(conn, chain).problem
    assert problem.kind == "rewritten"
    if seq - 1 in CHECKPOINTS:
        # the rewritten entry is itself the `audit.checkpoint` entry of the checkpoint before it: named there
        assert (problem.seq, problem.code, problem.params["checkpoint"]) == (seq, "checkpoint_entry_changed", seq - 1)
        return
    expected = min(cp for cp in CHECKPOINTS if cp >= seq)
    assert problem.seq == problem.params["checkpoint"] == expected
    assert problem.params["first"] <= seq <= expected


def test_a_rewrite_that_also_rewrites_the_database_checkpoints_is_caught_by_the_file(chain):
    with tampering(chain) as conn:
        rows = rewrite_from(conn, MIDDLE + 1)  # (5000 is an `audit.checkpoint` entry: named by itself)
        new = {r["seq"]: r["hash"] for r in rows}
        for cp in CHECKPOINTS:
            if cp >= MIDDLE:
                conn.execute(
                    text("UPDATE audit_checkpoints SET hash = :h, signature = '' WHERE seq = :s"),
                    {"h": new[cp], "s": cp},
                )
        problem = verify(conn, chain).problem
    assert (problem.seq, problem.kind) == (7499, "checkpoint_conflict")


def test_a_rewrite_that_also_rewrites_the_checkpoint_file_is_caught_by_the_signatures(chain, tmp_path):
    forged_log = tmp_path / "forged-checkpoints.jsonl"
    with tampering(chain) as conn:
        rows = rewrite_from(conn, MIDDLE + 1)
        new = {r["seq"]: r["hash"] for r in rows}
        conn.execute(
            text("UPDATE audit_checkpoints SET hash = :h WHERE seq = :s"),
            [{"h": new[cp], "s": cp} for cp in CHECKPOINTS if cp >= MIDDLE],
        )
        lines = [
            line_of(Checkpoint(cp.seq, new.get(cp.seq, cp.hash), cp.at, cp.signature, cp.key_id))
            for cp in read(chain.log)
        ]
        forged_log.write_text("\n".join(lines) + "\n")
        problem = queries.verify_on(conn, log=forged_log, key=chain.key).problem
    assert (problem.seq, problem.kind) == (7499, "bad_signature")


def test_a_damaged_checkpoint_file_fails_verification(chain, tmp_path):
    damaged = tmp_path / "damaged.jsonl"
    damaged.write_text(chain.log.read_text()[:-20] + "\n")
    with tampering(chain) as conn:
        result = queries.verify_on(conn, log=damaged, key=chain.key)
    assert not result.ok and result.problem.code == "checkpoint_log_damaged"


# --- the database's own refusal ------------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_entries SET actor = 'someone' WHERE seq = 5",
        "DELETE FROM audit_entries WHERE seq = 5",
        "DELETE FROM audit_entries",
        "UPDATE audit_checkpoints SET hash = 'x'",
        "DELETE FROM audit_checkpoints",
        "DELETE FROM audit_head",
        "UPDATE audit_head SET seq = 1",
    ],
    ids=[
        "update-entry",
        "delete-entry",
        "delete-all",
        "update-checkpoint",
        "delete-checkpoint",
        "delete-head",
        "head-backwards",
    ],
)
def test_the_database_refuses_to_change_or_remove_history(chain, statement):
    # As the owner: the triggers refuse even the role that may do everything else (the app's role has
    # not even the privilege: test_pg_roles).
    with chain.app.app_context(), owner_connection(chain.app) as conn:
        with pytest.raises(DBAPIError, match="append-only|cannot be removed|only moves forward"):
            with conn.begin():
                conn.execute(text(statement))


@pytest.mark.skipif(not on_postgres(), reason="TRUNCATE exists on PostgreSQL only")
@pytest.mark.parametrize("table", ["audit_entries", "audit_checkpoints", "audit_head"])
def test_postgres_refuses_to_truncate_history(chain, table):
    with chain.app.app_context(), owner_connection(chain.app) as conn:
        with pytest.raises(DBAPIError, match="append-only"):
            with conn.begin():
                conn.execute(text(f"TRUNCATE {table} CASCADE"))


def test_after_every_tampering_was_rolled_back_the_chain_verifies_again(chain):
    with chain.app.app_context():
        result = queries.verify_engine(db.engine, log=chain.log, key=chain.key)
    assert result.ok and result.count == TOTAL


# --- the walk in parts (SQLite, long chains, a worker per part) gives the answer of one walk ---------


@pytest.fixture(scope="module")
def small_sqlite_chain(tmp_path_factory):
    """A 3,000-entry SQLite chain with a checkpoint three quarters in: the file to copy for each case."""
    directory = tmp_path_factory.mktemp("halves")
    with separate_instance("halves", directory) as app:
        log = log_path(app.config)
        with app.app_context():
            context.set_origin("192.0.2.45", "pytest halves")
            for n, chunk in enumerate((2250, 749)):
                begin_write(db.session)
                record_many(
                    db.session,
                    None,
                    "asset.updated",
                    [(("asset", str(i)), {"after": {"note": f"ครั้งที่ {i}"}}) for i in range(chunk)],
                )
                db.session.commit()
                if n == 0:
                    create_checkpoint(db.session, None, log=log)
            db.session.remove()
            db.engine.dispose()
    return directory / "halves.sqlite3", log


HALF = 1500


LAST_HASH = "(SELECT hash FROM audit_entries WHERE seq = 1999)"


@pytest.mark.skipif(on_postgres(), reason="the two-half walk is for SQLite")
@pytest.mark.parametrize(
    "case, sql, seq, kind",
    [
        ("clean", [], None, None),
        ("edit early", ["UPDATE audit_entries SET data = '{}' WHERE seq = 10"], 10, "content_changed"),
        ("delete before the split", ["DELETE FROM audit_entries WHERE seq = 1499"], 1499, "missing"),
        ("edit at the split", ["UPDATE audit_entries SET actor = 'x' WHERE seq = 1500"], 1500, "content_changed"),
        ("edit after the split", ["UPDATE audit_entries SET actor = 'x' WHERE seq = 1501"], 1501, "content_changed"),
        ("delete at the split", ["DELETE FROM audit_entries WHERE seq = 1500"], 1500, "missing"),
        ("delete after the split", ["DELETE FROM audit_entries WHERE seq = 1501"], 1501, "missing"),
        (
            "swap across the split",
            [
                "UPDATE audit_entries SET seq = -1 WHERE seq = 1500",
                "UPDATE audit_entries SET seq = 1500 WHERE seq = 1501",
                "UPDATE audit_entries SET seq = 1501 WHERE seq = -1",
            ],
            1500,
            "order_changed",
        ),
        ("edit late", ["UPDATE audit_entries SET ip = 'x' WHERE seq = 2900"], 2900, "content_changed"),
        (
            "tail dropped",
            ["DELETE FROM audit_entries WHERE seq >= 2000", f"UPDATE audit_head SET seq = 1999, hash = {LAST_HASH}"],
            2000,
            "shorter",
        ),
    ],
)
def test_the_two_half_walk_names_what_one_walk_names(small_sqlite_chain, tmp_path, case, sql, seq, kind):
    import shutil
    import sqlite3

    from sqlalchemy import create_engine

    source, log = small_sqlite_chain
    copy = tmp_path / "copy.sqlite3"
    shutil.copy(source, copy)
    raw = sqlite3.connect(copy)
    for name in SQLITE_TRIGGERS:
        raw.execute(f"DROP TRIGGER {name}")
    for statement in sql:
        raw.execute(statement)
    raw.commit()
    raw.close()
    engine = create_engine(f"sqlite:///{copy}")
    try:
        one = queries.verify_engine(engine, log=log, parallel_from=10**9)
        two = queries.verify_engine(engine, log=log, parallel_from=0)
    finally:
        engine.dispose()
    assert (two.ok, two.count, two.checkpoints) == (one.ok, one.count, one.checkpoints)
    if seq is None:
        assert two.ok and two.count == 3000 and two.checkpoints == 1
    else:
        assert (two.problem.seq, two.problem.kind) == (one.problem.seq, one.problem.kind) == (seq, kind)


@pytest.mark.skipif(on_postgres(), reason="the walk in parts is for SQLite")
def test_the_parts_are_walked_by_the_workers_themselves(small_sqlite_chain, monkeypatch):
    """If the workers could not run (a bare interpreter without sqlite3, say), the caller's own walk would
    still give the right answer, slowly: here the caller may not walk, so only the workers can."""
    from sqlalchemy import create_engine

    source, log = small_sqlite_chain

    def not_here(*_args, **_kwargs):
        raise AssertionError("a worker did not answer: the caller walked its part")

    monkeypatch.setattr(queries, "walk_stored", not_here)
    engine = create_engine(f"sqlite:///{source}")
    try:
        result = queries.verify_engine(engine, log=log, parallel_from=0)
    finally:
        engine.dispose()
    assert result.ok and result.count == 3000 and result.checkpoints == 1
