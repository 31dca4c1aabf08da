"""Walking the chain: a pure function over stored entries and checkpoints, with no database and no Flask.

`walk(entries, checkpoints, head)` reads entries in sequence order (a stream: it keeps two entries back and
one ahead) and stops at the first thing wrong, which it names by sequence number and kind:

- ``content_changed``  the entry's stored values no longer hash to its stored hash, or (found at the next
  entry) its hash was recomputed after a change;
- ``missing``          a sequence number is skipped, or the chain ends before the recorded head;
- ``order_changed``    two entries changed places, or an entry does not link to the one before it;
- ``inserted``         an entry that was not written by the writer sits in the chain (the entries after
  it were renumbered, or it repeats a sequence number), or the chain runs past the recorded head;
- ``shorter``          the chain ends before a checkpoint: entries from there on were removed (or an older
  backup was restored over newer history);
- ``rewritten``        the entry at a checkpoint's sequence number has another hash: history was rewritten
  (every later hash recomputed) somewhere between the previous checkpoint and this one;
- ``checkpoint_conflict`` / ``bad_signature``  the checkpoint records themselves were tampered with.

Messages are English msgids with %(name)s placeholders, translated where they are shown.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from audit.chain import GENESIS_HASH, canonical, canonical_stored, hash_text
from audit.scan import scan
from core.db import N_

MESSAGES = {
    "content_changed": N_("Entry %(seq)d was changed after it was written: its content no longer matches "
                          "its hash."),
    "content_rehashed": N_("Entry %(seq)d was changed after it was written and its hash recomputed: the next "
                           "entry no longer links to it."),
    "content_reencoded": N_("Entry %(seq)d was rewritten in another form than the one written (the same "
                            "values, encoded differently)."),
    "missing": N_("Entry %(seq)d is missing: the chain goes from %(before)d to %(after)d."),
    "missing_renumbered": N_("An entry is missing at %(seq)d: the entries after it were renumbered to close "
                             "the gap."),
    "missing_tail": N_("Entries from %(seq)d to %(last)d are missing: the chain ends at %(end)d, but the "
                       "recorded head is %(last)d."),
    "order_swapped": N_("Entries %(seq)d and %(next)d changed places."),
    "order_unlinked": N_("Entry %(seq)d does not link to the entry before it: the order of entries was "
                         "changed."),
    "order_backwards": N_("Entry %(seq)d comes after entry %(before)d: sequence numbers go backwards."),
    "inserted": N_("Entry %(seq)d was inserted: the entry after it links to entry %(before)d."),
    "inserted_duplicate": N_("A second entry with sequence number %(seq)d was inserted."),
    "inserted_past_head": N_("Entry %(seq)d was inserted after the recorded head (%(head)d)."),
    "head_mismatch": N_("Entry %(seq)d does not match the recorded head of the chain: it was changed or "
                        "replaced."),
    "shorter": N_("The chain ends at %(end)d, before the checkpoint at %(checkpoint)d taken %(at)s: entries "
                  "from %(seq)d on were removed, or an older backup was restored."),
    "rewritten": N_("History was rewritten: entry %(checkpoint)d no longer matches the checkpoint taken "
                    "%(at)s (the change lies between entries %(first)d and %(checkpoint)d)."),
    "checkpoint_conflict": N_("The checkpoint records for entry %(seq)d disagree (database and checkpoint "
                              "file): one of them was changed."),
    "bad_signature": N_("The checkpoint at entry %(seq)d carries a signature that does not verify: it was "
                        "forged or changed."),
    "unsigned_after_signed": N_("The checkpoint at entry %(seq)d is not signed with the configured key, "
                                "although earlier checkpoints are: it was forged or its signature removed."),
    "checkpoint_log_damaged": N_("The checkpoint file cannot be read (%(detail)s): it was damaged or "
                                 "changed."),
    "database_unreadable": N_("The audit tables cannot be read (%(detail)s): a table was removed or "
                              "damaged."),
}

KINDS = {"content_changed": "content_changed", "content_rehashed": "content_changed",
         "content_reencoded": "content_changed", "missing": "missing", "missing_renumbered": "missing",
         "missing_tail": "missing", "order_swapped": "order_changed", "order_unlinked": "order_changed",
         "order_backwards": "order_changed", "inserted": "inserted", "inserted_duplicate": "inserted",
         "inserted_past_head": "inserted", "head_mismatch": "content_changed", "shorter": "shorter",
         "rewritten": "rewritten", "checkpoint_conflict": "checkpoint_conflict",
         "bad_signature": "bad_signature",
         "unsigned_after_signed": "bad_signature", "checkpoint_log_damaged": "checkpoint_conflict",
         "database_unreadable": "missing"}


@dataclass(frozen=True)
class Checkpoint:
    """A recorded (sequence number, hash) of the head at some time, from the database or the file."""

    seq: int
    hash: str
    at: str
    signature: str = ""
    key_id: str = ""
    source: str = "database"


@dataclass(frozen=True)
class Problem:
    seq: int
    code: str
    params: dict[str, Any]

    @property
    def kind(self) -> str:
        return KINDS[self.code]

    @property
    def message(self) -> str:
        """The English text (the page translates MESSAGES[code] itself)."""
        return MESSAGES[self.code] % self.params


@dataclass
class Result:
    ok: bool
    count: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS_HASH
    problem: Problem | None = None
    checkpoints: int = 0  # how many checkpoints the chain was checked against
    warnings: list[str] = field(default_factory=list)


def _hash(row: Mapping[str, Any], seq: int | None = None) -> str:
    return hash_text(canonical_stored(row, seq))


def _rehash_matches(row: Mapping[str, Any]) -> bool:
    """The stored values hash right once re-encoded (decoded, NFC, canonical JSON): only the form changed."""
    try:
        return hash_text(canonical(row)) == row["hash"]
    except (TypeError, ValueError, KeyError):
        return False


@dataclass(frozen=True)
class Start:
    """Where a walk begins: after entry `seq`, whose stored hash is `hash` (and the one before it, `before`);
    `checkpoint` is the last checkpoint at or before `seq`. The default is the start of the chain."""

    seq: int = 0
    hash: str = GENESIS_HASH
    before: str | None = None
    checkpoint: int = 0


def check_records(checkpoints: Iterable[Checkpoint],
                  check_signature: Callable[[Checkpoint], bool | None] | None = None
                  ) -> tuple[Problem | None, list[str]]:
    """The checkpoint records themselves: the first that is wrong (by sequence number), and notes.

    Records of one sequence number (from the database and from the file) must agree. With a key, a bad
    signature is wrong; and once a checkpoint has verified with the configured key, every later one must
    too: a later one that is unsigned, or signed by another key, was forged or stripped of its signature.
    """
    by_seq: dict[int, list[Checkpoint]] = {}
    for cp in checkpoints:
        by_seq.setdefault(int(cp.seq), []).append(cp)
    warnings: list[str] = []
    signed_from = None
    for seq in sorted(by_seq):
        records = by_seq[seq]
        if len({cp.hash for cp in records}) > 1:
            return Problem(seq, "checkpoint_conflict", {"seq": seq}), warnings
        if check_signature is None:
            continue
        for cp in records:
            verdict = check_signature(cp) if cp.signature else None
            if verdict is False:
                return Problem(seq, "bad_signature", {"seq": seq}), warnings
            if verdict is True:
                signed_from = signed_from or seq
            elif signed_from is not None and signed_from < seq:
                return Problem(seq, "unsigned_after_signed", {"seq": seq}), warnings
            elif cp.signature:
                note = f"checkpoint {seq}: signed with key {cp.key_id or '?'}, which is not configured"
                if note not in warnings:
                    warnings.append(note)
    return None, warnings


def walk(entries: Iterable[Mapping[str, Any]], checkpoints: Iterable[Checkpoint] = (),
         head: tuple[int, str] | None = None,
         check_signature: Callable[[Checkpoint], bool | None] | None = None, *,
         start: Start = Start(), stop: int | None = None) -> Result:  # noqa: B008 (a frozen value)
    """Verify a chain read in sequence order; stop at the first problem (by sequence number).

    `entries` yield mappings with the hashed fields plus `hash`; `checkpoints` come from every source
    (a database table, an append-only file); `head` is the recorded (seq, hash) of the chain's end, read in
    the same snapshot; `check_signature(cp)` answers True/False, or None when it cannot tell.

    A walk may cover a part of the chain: from `start`, and up to `stop` (the entry after `stop` is read
    only as the last one's neighbour; the end of the chain is then not judged). Two parts cover the chain
    as one walk does when the second starts where the first stops.
    """
    records_problem, warnings = check_records(checkpoints, check_signature)
    at_checkpoint = {}
    for cp in checkpoints:
        at_checkpoint.setdefault(int(cp.seq), cp)
    result = Result(ok=True, warnings=warnings)
    last_seq, prev, before_prev = start.seq, start.hash, start.before
    last_good_checkpoint = start.checkpoint

    def fail(seq: int, code: str, **params: Any) -> Result:
        problem = Problem(seq, code, {"seq": seq, **params})
        if records_problem is not None and records_problem.seq < seq:
            problem = records_problem
        result.ok, result.problem = False, problem
        return result

    it = iter(entries)
    row = next(it, None)
    sha256, assemble = hashlib.sha256, canonical_stored  # the loop runs a million times: locals
    while row is not None:
        nxt = next(it, None)
        seq = row["seq"]
        if seq.__class__ is not int:
            seq = int(seq)
        if stop is not None and seq > stop:
            break
        if records_problem is not None and seq > records_problem.seq:
            break
        if seq <= last_seq:
            if seq == last_seq:
                return fail(seq, "inserted_duplicate")
            return fail(seq, "order_backwards", before=last_seq)
        if seq > last_seq + 1:
            return fail(last_seq + 1, "missing", before=last_seq, after=seq)
        stored = row["hash"]
        hash_ok = sha256(assemble(row).encode()).hexdigest() == stored
        link_ok = row["prev_hash"] == prev
        if not (hash_ok and link_ok):
            if hash_ok:
                # This entry is intact but does not link to the one before it.
                if nxt is not None and nxt["prev_hash"] == prev:
                    return fail(seq, "inserted", before=seq - 1)  # the next one links past it: a foreign body
                if last_seq == 0:
                    return fail(seq, "order_unlinked")
                if before_prev is not None and row["prev_hash"] == before_prev:
                    return fail(last_seq, "inserted", before=last_seq - 1)  # it links past the one before
                return fail(last_seq, "content_rehashed")  # the one before was changed and re-hashed
            if last_seq and before_prev is not None and row["prev_hash"] == before_prev:
                return fail(last_seq, "inserted", before=last_seq - 1)
            if nxt is not None and nxt["prev_hash"] == prev:
                if row["prev_hash"] == nxt["hash"]:
                    return fail(seq, "order_swapped", next=seq + 1)
                return fail(seq, "inserted", before=seq - 1)
            if not link_ok and _hash(row, seq + 1) == stored:
                return fail(seq, "missing_renumbered")
            if link_ok and _rehash_matches(row):
                return fail(seq, "content_reencoded")
            return fail(seq, "content_changed")
        cp = at_checkpoint.get(seq)
        if cp is not None:
            result.checkpoints += 1
            if cp.hash != stored:
                return fail(seq, "rewritten", checkpoint=seq, at=cp.at, first=last_good_checkpoint + 1)
            last_good_checkpoint = seq
        before_prev, prev, last_seq = prev, stored, seq
        result.count += 1
        row = nxt

    result.head_seq, result.head_hash = last_seq, prev
    if stop is None:
        beyond = [s for s in at_checkpoint if s > last_seq]
        if beyond:
            cp = at_checkpoint[max(beyond)]
            return fail(last_seq + 1, "shorter", end=last_seq, checkpoint=cp.seq, at=cp.at)
        if head is not None:
            head_seq, head_hash = int(head[0]), head[1]
            if head_seq > last_seq:
                return fail(last_seq + 1, "missing_tail", end=last_seq, last=head_seq)
            if head_seq < last_seq:
                return fail(head_seq + 1, "inserted_past_head", head=head_seq)
            if head_hash != prev and last_seq:
                return fail(last_seq, "head_mismatch")
    if records_problem is not None and (stop is None or records_problem.seq <= stop):
        result.ok, result.problem = False, records_problem
    return result


def quick_walk(quick: Iterable[tuple[Any, Any, Any, bytes | None]],
               rest: Callable[[int], Iterable[Mapping[str, Any]]],
               checkpoints: Iterable[Checkpoint] = (), head: tuple[int, str] | None = None,
               check_signature: Callable[[Checkpoint], bool | None] | None = None, *,
               start: Start = Start(), stop: int | None = None) -> Result:  # noqa: B008 (a frozen value)
    """`walk`'s answer, with the intact part of the chain checked by the quick pass (`audit.scan`).

    `quick` yields (seq, hash, prev_hash, text) in sequence order, where `text` is the entry's canonical
    text as UTF-8 bytes assembled by the database from the stored values (None when it cannot be). A text
    that hashes to the stored hash is the text the writer hashed. From the first entry that does not pass
    (or at once, when the checkpoint records themselves are wrong) the walk goes on with `walk` over
    `rest(seq)`, the full stored values after `seq`, which names the problem exactly as one walk from the
    start would; an intact chain never needs it.
    """
    checkpoints = list(checkpoints)
    if check_records(checkpoints, check_signature)[0] is not None:
        return resume(rest, checkpoints, head, check_signature, start, stop)
    at_checkpoint: dict[int, str] = {}
    for cp in checkpoints:
        at_checkpoint.setdefault(int(cp.seq), cp.hash)
    state = {"seq": start.seq, "hash": start.hash, "before": start.before, "checkpoint": start.checkpoint}
    answer = scan(quick, state, at_checkpoint, stop)
    if answer["passed"]:
        return resume(lambda _seq: (), checkpoints, head, check_signature, answer["state"], stop)
    return resume(rest, checkpoints, head, check_signature, answer["back"], stop)


def resume(rest: Callable[[int], Iterable[Mapping[str, Any]]], checkpoints: list[Checkpoint],
           head: tuple[int, str] | None, check_signature: Callable[[Checkpoint], bool | None] | None,
           state: Start | Mapping[str, Any], stop: int | None = None) -> Result:
    """The exact walk over `rest(seq)` from a state reached by the quick pass (a `scan` state, with the
    entries and checkpoints it counted), or from a `Start`; with no rows left it judges the chain's end."""
    if isinstance(state, Start):
        state = {"seq": state.seq, "hash": state.hash, "before": state.before, "checkpoint": state.checkpoint}
    rows = rest(state["seq"])
    try:
        result = walk(rows, checkpoints, head, check_signature,
                      start=Start(state["seq"], state["hash"], state["before"], state["checkpoint"]), stop=stop)
    finally:
        close = getattr(rows, "close", None)
        if close is not None:
            close()
    result.count += state.get("count", 0)
    result.checkpoints += state.get("hits", 0)
    return result


def _database_errors() -> tuple[type[BaseException], ...]:
    import sqlite3

    from sqlalchemy.exc import DBAPIError

    errors: list[type[BaseException]] = [DBAPIError, sqlite3.DatabaseError]
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency
        pass
    else:
        errors.append(psycopg.DatabaseError)
    return tuple(errors)


# What reading a missing or damaged audit table raises: SQLAlchemy's wrapper, or the driver's own error
# where the walk reads through a raw cursor.
DATABASE_ERRORS = _database_errors()


def database_unreadable(err: Exception) -> Result:
    """The answer when the audit tables cannot be read at all (a dropped table): a problem, not a crash."""
    orig = getattr(err, "orig", None) or err
    detail = (str(orig).strip().splitlines() or [type(orig).__name__])[0][:200]
    return Result(ok=False, problem=Problem(0, "database_unreadable", {"seq": 0, "detail": detail}))
