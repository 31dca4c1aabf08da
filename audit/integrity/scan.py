"""The quick pass of verification: check entries whose canonical text the database assembled, with nothing
but the standard library.

`scan` is the loop; `main` runs it in a worker process over a part of a SQLite chain. This module imports
no other part of the application (a worker loads it from its file, so it starts in milliseconds instead of
importing Flask and SQLAlchemy), and it judges nothing: an entry that does not pass stops the scan, and the
exact walk in `audit.integrity.verify` names what is wrong from there.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import sys
from collections.abc import Iterable, Mapping
from typing import Any

# The canonical text of each entry (see audit.integrity.chain), assembled by the database from the stored values.
# JSON strings come from the database's own JSON encoder, which escapes exactly as the writer does (`"`,
# `\` and control characters; non-ASCII as is); `data` goes in verbatim and `at` is reshaped as
# `canonical_stored` does. A value of an unexpected type gives no text or another text: that entry stops
# the scan.
QUICK_SQL = {
    "sqlite": """SELECT seq, hash, prev_hash, CASE typeof(data) WHEN 'text' THEN CAST(
        rtrim(json_object('action', action, 'actor', actor, 'actor_id', actor_id,
                          'at', replace(at, ' ', 'T') || 'Z'), '}')
        || ',"data":' || data || ','
        || ltrim(json_object('ip', ip, 'prev_hash', prev_hash, 'request_id', request_id, 'seq', seq,
                             'subject_id', subject_id, 'subject_type', subject_type,
                             'user_agent', user_agent), '{') AS BLOB) END
        FROM audit_entries""",
    "postgresql": """SELECT seq, hash, prev_hash, convert_to(
        '{"action":' || to_json(action)::text || ',"actor":' || to_json(actor)::text
        || ',"actor_id":' || coalesce(actor_id::text, 'null')
        || ',"at":"' || to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
        || '","data":' || data || ',"ip":' || to_json(ip)::text || ',"prev_hash":' || to_json(prev_hash)::text
        || ',"request_id":' || to_json(request_id)::text || ',"seq":' || seq::text
        || ',"subject_id":' || to_json(subject_id)::text || ',"subject_type":' || to_json(subject_type)::text
        || ',"user_agent":' || to_json(user_agent)::text || '}', 'UTF8')
        FROM audit_entries""",
}


def quick_sql(dialect: str, after: int | None = None, upto: int | None = None) -> str | None:
    sql = QUICK_SQL.get(dialect)
    if sql is None:
        return None
    where = [f"seq > {int(after)}"] if after is not None else []
    where += [f"seq <= {int(upto)}"] if upto is not None else []
    return sql + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY seq"


def scan(
    quick: Iterable[tuple[Any, Any, Any, bytes | None]],
    state: Mapping[str, Any],
    checkpoints: Mapping[int, str],
    stop: int | None = None,
) -> dict[str, Any]:
    """Check entries in order from `state` (seq, hash, before, checkpoint: after which entry, its hash, the
    hash before it, the last checkpoint passed) while each passes: it follows the one before (next number,
    links to its hash), its text hashes to its stored hash, and it agrees with a checkpoint at its number.

    Returns `passed` (every entry up to `stop`, or to the end, passed), the state after the last entry that
    passed, and `back`: the state one entry earlier, where the exact walk goes on from when one did not
    pass (a forged second entry with the same number may follow the last one that passed). `count` and
    `hits` (checkpoints met) are counted up to each state.
    """
    last_seq, prev, before_prev, good_cp = state["seq"], state["hash"], state["before"], state["checkpoint"]
    count = hits = 0
    back = (last_seq, prev, before_prev, good_cp, 0, 0)  # plain values: this loop runs a million times
    passed = True
    sha256 = hashlib.sha256
    try:
        for seq, stored, prev_hash, text in quick:
            # (a text of None makes sha256 raise: the exact walk judges that entry; no check in this hot loop)
            if seq != last_seq + 1 or prev_hash != prev or sha256(text).hexdigest() != stored:  # type: ignore[arg-type]
                passed = False
                break
            if stop is not None and seq > stop:
                break
            back = (last_seq, prev, before_prev, good_cp, count, hits)
            cp = checkpoints.get(seq)
            if cp is not None:
                if cp != stored:
                    passed = False
                    break
                hits, good_cp = hits + 1, seq
            before_prev, prev, last_seq = prev, stored, seq
            count += 1
    except Exception:  # noqa: BLE001 (a value the database cannot assemble: the exact walk judges it)
        passed = False

    def as_state(values: tuple) -> dict[str, Any]:
        return dict(zip(("seq", "hash", "before", "checkpoint", "count", "hits"), values, strict=True))

    return {
        "passed": passed,
        "state": as_state((last_seq, prev, before_prev, good_cp, count, hits)),
        "back": as_state(back),
    }


def main() -> None:
    """A worker: one part of a SQLite chain. The job (JSON on stdin): the database file, `state` where the
    part starts, `upto` where it ends, the checkpoints in it; the answer of `scan` as JSON on stdout."""
    job = json.load(sys.stdin)
    conn = sqlite3.connect(job["path"])
    try:
        conn.execute("PRAGMA busy_timeout=30000")
        # Read the file through memory mapping: no copy of every page through read() (a tenth of the
        # time on a large log). Reading only; SQLite caps the size at what it was built for.
        conn.execute("PRAGMA mmap_size=4294967296")
        cursor = conn.cursor()
        cursor.arraysize = 5000
        state = job["state"]
        sql = quick_sql("sqlite", state["seq"], job["upto"])
        if sql is None:  # not reached: SQLite has its statement; execute(None) would raise this
            raise TypeError("no quick statement for sqlite")
        answer = scan(
            cursor.execute(sql),
            state,
            {int(seq): h for seq, h in job["checkpoints"].items()},
        )
    finally:
        conn.close()
    json.dump(answer, sys.stdout)


if __name__ == "__main__":
    main()
