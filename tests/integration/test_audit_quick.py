"""The quick path of verification: the database assembles each entry's canonical text, Python hashes it.

It must give exactly the answer of the plain walk (`audit.integrity.verify.walk` over the stored values), and an intact
chain must never need the plain walk — otherwise `audit verify` is silently slow again. The entries here
carry what the database's JSON encoder could get wrong: quotes, backslashes, control characters, Thai
with its marks, emoji, long user agents, a system actor (no id).
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import text

from audit.integrity import runner as queries
from audit.integrity.verify import walk
from audit.services import record, record_many
from core.db import begin_write, db
from core.web import context
from tests.integration.audit_instances import separate_instance

pytestmark = pytest.mark.slow

AWKWARD = [
    'say "hi"',
    "back\\slash",
    "line\nbreak\ttab\rreturn",
    "bell\x07 and \x1f unit",
    "\x7f del",
    "กรุงเทพฯ ผู้ใหญ่ น้ำ ปี่",
    "🙂 emoji 𝄞",
    "\u2028 line separator \u2029",
    "</script>",
    "=HYPERLINK(1)",
    "",
    "null",
    "0" * 300,
]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    directory = tmp_path_factory.mktemp("quick")
    with separate_instance("quick", directory) as app:
        with app.app_context():
            for i, value in enumerate(AWKWARD):
                context.set_origin(ip=value[:64], user_agent=f"Mozilla/5.0 {value}"[:300], request_id=value[:64] or "r")
                actor = SimpleNamespace(id=None, username=value[:64])
                begin_write(db.session)
                record(
                    db.session,
                    actor,
                    f"test.{i}",
                    ("assets", value[:64]),
                    {"value": value, "nested": {"list": [value, i, 1.5, None, True]}},
                )
                record_many(
                    db.session, None, "test.many", [(("loans", str(n)), {"n": n, "text": value}) for n in range(20)]
                )
                db.session.commit()
            db.session.remove()
        yield app


def _both(conn):
    """(the quick path's result, the plain walk's result, whether the quick path fell back)."""
    calls = []
    real = queries.iter_chain

    def counting(*args, **kwargs):
        calls.append(kwargs.get("after"))
        return real(*args, **kwargs)

    cps = queries.stored_checkpoints(conn)
    head = queries.head_of(conn)
    queries.iter_chain = counting
    try:
        quick = queries.walk_stored(conn, cps, head)
    finally:
        queries.iter_chain = real
    rows = real(conn)
    try:
        plain = walk(rows, cps, head)
    finally:
        rows.close()
    return quick, plain, calls


def test_an_intact_chain_of_awkward_values_passes_without_the_plain_walk(app):
    with app.app_context(), db.engine.connect() as conn, conn.begin():
        quick, plain, fell_back = _both(conn)
    assert quick.ok and plain.ok, (quick.problem, plain.problem)
    assert (quick.count, quick.head_seq, quick.head_hash) == (plain.count, plain.head_seq, plain.head_hash)
    assert quick.count == len(AWKWARD) * 21
    assert fell_back == []


def test_parts_of_the_chain_give_what_one_walk_gives(app):
    with app.app_context(), db.engine.connect() as conn, conn.begin():
        cps, head = queries.stored_checkpoints(conn), queries.head_of(conn)
        first = queries.walk_stored(conn, cps, None, stop=100)
        hash_100 = conn.execute(text("SELECT hash FROM audit_entries WHERE seq = 100")).scalar_one()
        hash_99 = conn.execute(text("SELECT hash FROM audit_entries WHERE seq = 99")).scalar_one()
        second = queries.walk_stored(conn, cps, head, start=queries.Start(100, hash_100, hash_99, 0))
    assert first.ok and second.ok
    assert (first.count, first.head_seq) == (100, 100)
    assert second.count == len(AWKWARD) * 21 - 100


SQLITE_ODDITIES = {
    # The same values in another stored form: the plain walk decides, and the quick path agrees with it.
    "time with a T": "UPDATE audit_entries SET at = replace(at, ' ', 'T') WHERE seq = 30",
    "actor id given": "UPDATE audit_entries SET actor_id = 1.5 WHERE seq = 31",
    "data as a blob": "UPDATE audit_entries SET data = CAST(data AS BLOB) WHERE seq = 32",
    "actor as a blob": "UPDATE audit_entries SET actor = CAST(actor AS BLOB) WHERE seq = 33",
    "data with a space": "UPDATE audit_entries SET data = replace(data, ':', ': ') WHERE seq = 34",
    "an escaped character unescaped": "UPDATE audit_entries SET actor = replace(actor, '\"', '') WHERE seq = 1",
}


@pytest.mark.parametrize("sql", SQLITE_ODDITIES.values(), ids=SQLITE_ODDITIES.keys())
def test_values_stored_in_another_form_are_judged_as_the_plain_walk_judges_them(app, sql):
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("stored forms of SQLite's dynamic types")
        with db.engine.connect() as conn:
            tx = conn.begin()
            try:
                conn.execute(text("PRAGMA defer_foreign_keys = ON"))  # rolled back before any check
                conn.execute(text("DROP TRIGGER audit_entries_no_update"))
                conn.execute(text(sql))
                quick, plain, _ = _both(conn)
            finally:
                tx.rollback()
    assert (quick.ok, quick.count, quick.problem) == (plain.ok, plain.count, plain.problem)


def test_a_verification_in_the_background_gives_the_answer_of_one_walk(app, monkeypatch):
    with app.app_context():
        here = queries.verify_engine(db.engine)

        def not_here(*_args, **_kwargs):
            raise AssertionError("the worker process did not answer")

        monkeypatch.setattr(queries, "verify_engine", not_here)  # only the worker may verify now
        there = queries.verify_in_background(db.engine, background_from=0)()  # a worker, even this short
    assert there.ok and here.ok
    assert (there.count, there.head_seq, there.head_hash) == (here.count, here.head_seq, here.head_hash)
