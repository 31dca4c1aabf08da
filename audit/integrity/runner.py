"""Verifying the stored chain: reading it as the database keeps it, walking it (audit.integrity.verify, with
the quick pass of audit.integrity.scan) against the checkpoints and the table as a whole, in one process,
in parts at once by worker processes (a long SQLite chain), or in a worker of its own in the background (a
long PostgreSQL chain, while a report computes its figures).

What `audit verify`, the auditor's "Verify now", the backup and the report all ask.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, select

from audit.integrity import checkpoints as checkpoint_file
from audit.integrity import mac as entry_mac
from audit.integrity.chain import GENESIS_HASH, at_text
from audit.integrity.scan import quick_sql
from audit.integrity.verify import Checkpoint, Problem, Result, Start, TableFacts, judge_table, quick_walk, resume
from audit.models import AuditCheckpoint, AuditEntry, AuditHead
from core.db import Session, known


def head_of(session: Session | Connection) -> tuple[int, str]:
    """The chain's head: (seq, hash) of its last entry, (0, the genesis hash) when it is empty."""
    row = session.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)).first()
    return (int(row.seq), row.hash) if row else (0, "0" * 64)


CHAIN_FIELDS = (
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
_CHAIN_SQL = f"SELECT {', '.join(CHAIN_FIELDS)} FROM audit_entries"
PARALLEL_FROM = 200_000  # a chain this long is walked in parts at once (SQLite), or in the background


def iter_chain(
    conn: Connection | Session, batch: int = 5000, *, after: int | None = None, upto: int | None = None
) -> Iterator[dict[str, Any]]:
    """Every entry (with seq > after, <= upto) in sequence order as a dict of its stored values, streamed.

    Plain SQL without type processing: `at` arrives as the database keeps it (SQLite's text, PostgreSQL's
    timestamptz) and the chain hashes it as is; this is most of the speed of `audit verify`.
    """
    if not isinstance(conn, Connection):
        conn = conn.connection()
    where = [f"seq > {int(after)}"] if after is not None else []
    where += [f"seq <= {int(upto)}"] if upto is not None else []
    sql = _CHAIN_SQL + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY seq"
    result = conn.exec_driver_sql(sql, execution_options={"yield_per": batch})
    try:
        for row in result:
            yield dict(zip(CHAIN_FIELDS, row, strict=True))
    finally:
        result.close()  # a walk that stops early must not leave a server-side cursor open


def open_quick(conn: Connection, batch: int = 5000, *, after: int | None = None, upto: int | None = None) -> Any:
    """(seq, hash, prev_hash, canonical text as UTF-8) of every entry with seq > after, <= upto, in order,
    as `audit.integrity.scan` reads them: an iterable to close after use.

    On SQLite it is the driver's own cursor (no row objects, no generator: this loop is most of the time
    of `audit verify`); on PostgreSQL a server-side cursor."""
    sql = quick_sql(conn.dialect.name, after, upto)
    if sql is None:
        return iter(())
    if conn.dialect.name == "sqlite":
        cursor = known(conn.connection.dbapi_connection, "DB-API connection").cursor()
        cursor.arraysize = batch
        return cursor.execute(sql)
    return conn.exec_driver_sql(sql, execution_options={"yield_per": batch})


def walk_stored(
    conn: Connection,
    cps: list[Checkpoint],
    head: tuple[int, str] | None,
    check_signature: Any = None,
    *,
    start: Start = Start(),  # noqa: B008 (a frozen value)
    stop: int | None = None,
) -> Result:
    """`walk` over the entries as `conn` sees them (from `start`, up to `stop`), by the quick pass."""
    upto = stop + 1 if stop is not None else None
    quick = open_quick(conn, after=start.seq or None, upto=upto)
    try:
        return quick_walk(
            quick,
            lambda after: iter_chain(conn, after=after, upto=upto),
            cps,
            head,
            check_signature,
            start=start,
            stop=stop,
        )
    finally:
        close = getattr(quick, "close", None)
        if close is not None:
            close()


def stored_checkpoints(conn: Connection | Session) -> list[Checkpoint]:
    rows = conn.execute(
        select(
            AuditCheckpoint.seq,
            AuditCheckpoint.hash,
            AuditCheckpoint.at,
            AuditCheckpoint.signature,
            AuditCheckpoint.key_id,
        ).order_by(AuditCheckpoint.seq)
    ).all()
    return [
        Checkpoint(
            seq=int(r.seq),
            hash=r.hash,
            at=at_text(r.at),
            signature=r.signature or "",
            key_id=r.key_id or "",
            source="database",
        )
        for r in rows
    ]


def _checkpoints(conn: Connection, log: Path | None) -> list[Checkpoint]:
    return stored_checkpoints(conn) + (checkpoint_file.read(log) if log is not None else [])


def _notes(result: Result, cps: list[Checkpoint], key: checkpoint_file.SigningKey | None) -> Result:
    if key is None and any(cp.signature for cp in cps):
        result.warnings.append("checkpoint signatures were not checked: no AUDIT_SIGNING_KEY is configured")
    elif key is not None and any(not cp.signature for cp in cps):
        result.warnings.append("some checkpoints are unsigned (taken before a signing key was configured)")
    return result


def _damaged(err: Exception) -> Result:
    return Result(ok=False, problem=Problem(0, "checkpoint_log_damaged", {"seq": 0, "detail": str(err)}))


def table_facts(
    conn: Connection, head: tuple[int, str], *, file_read: bool, mac_key: bytes | None = None
) -> TableFacts:
    """The whole-table facts `judge_table` needs: three aggregates, two index look-ups, and with a MAC key
    one pass over (seq, hash, mac)."""
    low, high, count = conn.exec_driver_sql("SELECT min(seq), max(seq), count(*) FROM audit_entries").one()
    beyond = conn.execute(select(func.min(AuditEntry.seq)).where(AuditEntry.seq > int(head[0]))).scalar()
    entries = tuple(
        (int(s), d)
        for s, d in conn.execute(
            select(AuditEntry.seq, AuditEntry.data)
            .where(AuditEntry.action == "audit.checkpoint")
            .order_by(AuditEntry.seq)
        )
    )
    facts = {
        "low": low,
        "high": high,
        "count": int(count or 0),
        "beyond": beyond,
        "checkpoint_entries": entries,
        "file_read": file_read,
    }
    if mac_key is None:
        # Whether MACs are in use, cheaply: at the head, or at the latest checkpoint's entry.
        looked_at = [int(head[0])] + [s for s, _d in entries[-1:]]
        macs = conn.execute(select(AuditEntry.mac).where(AuditEntry.seq.in_(looked_at))).scalars().all()
        return TableFacts(**facts, macs_present=any(macs))
    rows = conn.exec_driver_sql(
        "SELECT seq, hash, mac FROM audit_entries WHERE seq >= 1 ORDER BY seq", execution_options={"yield_per": 5000}
    )
    try:
        first, bad, valid, present = entry_mac.check(rows, mac_key, (s for s, _d in entries))
    finally:
        rows.close()
    return TableFacts(**facts, mac_checked=True, mac_first=first, mac_bad=bad, mac_valid=valid, macs_present=present)


def verify_on(
    conn: Connection | Session,
    *,
    log: Path | None = None,
    key: checkpoint_file.SigningKey | None = None,
    mac_key: bytes | None = None,
) -> Result:
    """Verify the chain as `conn` sees it, against the checkpoints in the database and the file, and the
    table as a whole (nothing beside the chain; checkpoints and their entries; signatures; MACs)."""
    if not isinstance(conn, Connection):
        conn = conn.connection()
    try:
        cps = _checkpoints(conn, log)
    except checkpoint_file.CheckpointLogError as err:
        return _damaged(err)
    head = head_of(conn)
    check = key.check if key else None
    facts = table_facts(conn, head, file_read=log is not None, mac_key=mac_key)
    result = walk_stored(conn, cps, head, check)
    return _notes(judge_table(result, facts, head, cps, check), cps, key)


def _spawn(code: str, job: dict[str, Any], *, bare: bool = False) -> subprocess.Popen:
    """A worker: a fresh interpreter that runs `code` (never the caller's script), the job (with the
    database's location) on stdin, not the command line. A bare one starts without site-packages."""
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, *(["-S"] if bare else []), "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    stdin = known(proc.stdin, "worker's stdin")  # a pipe: asked for above
    stdin.write(json.dumps(job))
    stdin.close()
    return proc


def _answer(proc: subprocess.Popen) -> Any:
    """A worker's JSON answer, or None when it failed."""
    stdout = known(proc.stdout, "worker's stdout")  # a pipe: _spawn asks for one
    out = stdout.read()
    stdout.close()
    if proc.wait() != 0 or not out:
        return None
    return json.loads(out)


def _result_of(data: dict[str, Any] | None) -> Result | None:
    if data is None:
        return None
    problem = data.pop("problem")
    return Result(**data, problem=Problem(**problem) if problem else None)


# The quick pass as a worker: `audit.integrity.scan` loaded from its file, so that it imports neither this package
# nor Flask nor SQLAlchemy and starts in milliseconds.
_SCAN_WORKER = (
    "import importlib.util as u; s = u.spec_from_file_location('kp_scan', {path!r}); "
    "m = u.module_from_spec(s); s.loader.exec_module(m); m.main()"
)


class PartsWalk:
    """Verification of a long SQLite chain in parts at once, one worker process per part.

    Every part is scanned quickly (`audit.integrity.scan`) from the stored hashes at its start; the parts join
    because each one checks that its first entry links to the hash the previous part ended on. When every
    part passes, the chain's end is judged as one walk judges it; from the first part that does not pass,
    the exact walk goes on from where that part stopped, so the answer is always the one walk's. Entries
    are never changed once written, so the workers' own snapshots hold the same entries up to the head.
    """

    def __init__(
        self,
        engine: Any,
        conn: Connection,
        cps: list[Checkpoint],
        head: tuple[int, str],
        key: checkpoint_file.SigningKey | None,
        parts: int,
        facts: TableFacts,
    ) -> None:
        self.engine, self.cps, self.head, self.key, self.facts = engine, cps, head, key, facts
        last = head[0]
        bounds = [last * i // parts for i in range(parts + 1)]
        at_checkpoint: dict[int, str] = {}
        for cp in cps:
            at_checkpoint.setdefault(int(cp.seq), cp.hash)
        starts: list[dict[str, Any]] = []
        for low in bounds[:-1]:
            if low == 0:
                starts.append({"seq": 0, "hash": GENESIS_HASH, "before": None, "checkpoint": 0})
                continue
            stored = dict(
                conn.execute(select(AuditEntry.seq, AuditEntry.hash).where(AuditEntry.seq.in_((low - 1, low)))).all()
            )
            starts.append(
                {
                    "seq": low,
                    "hash": stored.get(low),
                    "before": stored.get(low - 1),
                    "checkpoint": max((s for s in at_checkpoint if s <= low), default=0),
                }
            )
        self.ends = bounds[1:]
        path = str(Path(__file__).resolve().parent / "scan.py")
        self.workers = []
        for state, upto in zip(starts, self.ends, strict=True):
            job = {
                "path": engine.url.database,
                "state": state,
                "upto": upto,
                "checkpoints": {str(seq): h for seq, h in at_checkpoint.items() if state["seq"] < seq <= upto},
            }
            self.workers.append(
                None if state["hash"] is None else _spawn(_SCAN_WORKER.format(path=path), job, bare=True)
            )

    def result(self) -> Result:
        answers = [_answer(proc) if proc is not None else None for proc in self.workers]
        check = self.key.check if self.key else None
        counted = {"count": 0, "hits": 0}
        state: dict[str, Any] = {"seq": 0, "hash": GENESIS_HASH, "before": None, "checkpoint": 0}
        for answer, upto in zip(answers, self.ends, strict=True):
            if answer is None or not answer["passed"] or answer["state"]["seq"] != upto:
                # This part did not pass (or its worker failed, or its start could not be read): the
                # exact walk, with the quick pass where it can, from the last good state.
                go_on = answer["back"] if answer is not None else {**state, "count": 0, "hits": 0}
                with self.engine.connect() as conn:
                    result = walk_stored(
                        conn,
                        self.cps,
                        self.head,
                        check,
                        start=Start(go_on["seq"], go_on["hash"], go_on["before"], go_on["checkpoint"]),
                    )
                result.count += counted["count"] + go_on["count"]
                result.checkpoints += counted["hits"] + go_on["hits"]
                return _notes(judge_table(result, self.facts, self.head, self.cps, check), self.cps, self.key)
            counted = {
                "count": counted["count"] + answer["state"]["count"],
                "hits": counted["hits"] + answer["state"]["hits"],
            }
            state = answer["state"]
        result = resume(lambda _seq: (), self.cps, self.head, check, {**state, **counted})
        return _notes(judge_table(result, self.facts, self.head, self.cps, check), self.cps, self.key)


def _parts(engine: Any, head: int, parallel_from: int) -> int:
    """How many parts to verify a chain in at once: one per core on a long SQLite chain in a file."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if (
        engine.dialect.name != "sqlite"
        or head < parallel_from
        or cores < 2
        or engine.url.database in (None, "", ":memory:")
    ):
        return 1
    return min(cores, 4)


def _begin_snapshot(engine: Any) -> Connection:
    conn = engine.connect()
    if engine.dialect.name == "postgresql":
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
    conn.begin()
    return conn


def start_verify(
    engine: Any,
    *,
    log: Path | None = None,
    key: checkpoint_file.SigningKey | None = None,
    parallel_from: int = PARALLEL_FROM,
    mac_key: bytes | None = None,
) -> Callable[[], Result]:
    """Start verifying the whole chain, and return what waits for the answer.

    On a long SQLite chain the parts are walked by worker processes from now on, so the caller may do
    other work meanwhile (a report computes its figures); otherwise the chain is walked, in one consistent
    snapshot (REPEATABLE READ on PostgreSQL), when the answer is asked for.
    """
    conn = _begin_snapshot(engine)
    try:
        # The head and the checkpoints are read in one transaction: both of the same moment.
        head = head_of(conn)
        parts = _parts(engine, head[0], parallel_from)
        if parts > 1:
            try:
                cps = _checkpoints(conn, log)
            except checkpoint_file.CheckpointLogError as err:
                damaged = _damaged(err)
                return lambda: damaged
            walk = PartsWalk(engine, conn, cps, head, key, parts, TableFacts())
            # The whole-table facts, of the head's moment, while the workers run (the MAC pass reads the
            # same entries as they do: entries never change once written).
            walk.facts = table_facts(conn, head, file_read=log is not None, mac_key=mac_key)
            return walk.result
    finally:
        conn.close()

    def in_place() -> Result:
        snapshot = _begin_snapshot(engine)
        try:
            return verify_on(snapshot, log=log, key=key, mac_key=mac_key)
        finally:
            snapshot.close()

    return in_place


def verify_engine(
    engine: Any,
    *,
    log: Path | None = None,
    key: checkpoint_file.SigningKey | None = None,
    parallel_from: int = PARALLEL_FROM,
    mac_key: bytes | None = None,
) -> Result:
    """Verify through connections of its own: `audit verify`, the auditor's page."""
    return start_verify(engine, log=log, key=key, parallel_from=parallel_from, mac_key=mac_key)()


def verify_configured(engine: Any, config: Mapping[str, Any]) -> Result:
    """Verify with what the configuration names (checkpoint file, signing key, MAC key): what `audit
    verify` and the auditor's "Verify now" both answer. A configured key that cannot be read is itself
    the answer (a problem), never a verification that quietly skips it."""
    try:
        key = checkpoint_file.load_signing_key(config.get("AUDIT_SIGNING_KEY"))
        mac_key = entry_mac.load_key(config.get("AUDIT_MAC_KEY"))
    except (OSError, ValueError, entry_mac.MacKeyError) as err:
        return Result(ok=False, problem=Problem(0, "key_unusable", {"seq": 0, "detail": str(err)}))
    return verify_engine(engine, log=checkpoint_file.log_path(config), key=key, mac_key=mac_key)


def verify_main() -> None:
    """The worker process of a verification in the background (a PostgreSQL chain): a job as JSON on stdin
    (database URL, checkpoint file, signing key file), its Result as JSON on stdout."""
    from sqlalchemy import create_engine

    job = json.load(sys.stdin)
    engine = create_engine(job["url"])
    try:
        key = checkpoint_file.load_signing_key(job["key"]) if job.get("key") else None
        result = verify_engine(
            engine,
            log=Path(job["log"]) if job.get("log") else None,
            key=key,
            mac_key=entry_mac.load_key(job.get("mac")),
        )
    finally:
        engine.dispose()
    json.dump(dataclasses.asdict(result), sys.stdout)


def verify_in_background(
    engine: Any,
    *,
    log: Path | None = None,
    key_path: str | None = None,
    background_from: int = PARALLEL_FROM,
    mac_path: str | None = None,
) -> Callable[[], Result]:
    """Start verifying the whole chain now, off this process, and return what waits for the result.

    For a report: the chain is walked while the figures are computed, and the answer is of the moment
    the report was asked for. A long SQLite chain is walked in parts by workers (`start_verify`); a long
    chain elsewhere by one worker process of its own. A short chain, or a database only this process can
    see, is verified when the answer is asked for (a worker would cost more than it saves); so is a chain
    whose worker fails.
    """
    key = checkpoint_file.load_signing_key(key_path) if key_path else None
    mac_key = entry_mac.load_key(mac_path)
    if engine.dialect.name == "sqlite":
        return start_verify(engine, log=log, key=key, parallel_from=background_from, mac_key=mac_key)
    with engine.connect() as conn:
        head = head_of(conn)[0]
    if head < background_from:
        return lambda: verify_engine(engine, log=log, key=key, mac_key=mac_key)
    proc = _spawn(
        "from audit.integrity.runner import verify_main; verify_main()",
        {
            "url": engine.url.render_as_string(hide_password=False),
            "log": str(log) if log is not None else None,
            "key": str(key_path) if key_path else None,
            "mac": str(mac_path) if mac_path else None,
        },
    )

    def wait() -> Result:
        result = _result_of(_answer(proc))
        return result if result is not None else verify_engine(engine, log=log, key=key, mac_key=mac_key)

    return wait


def chain_hashes(conn: Connection | Session, upto: int | None = None) -> list[tuple[int, str]]:
    """(seq, hash) of every entry, for comparing two instances."""
    stmt = select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq)
    if upto is not None:
        stmt = stmt.where(AuditEntry.seq <= upto)
    return [(int(s), h) for s, h in conn.execute(stmt)]
