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

`judge_table(result, facts, head, checkpoints)` then judges the table as a whole from a few cheap queries
(`TableFacts`): nothing at 0 or below or beyond the head (``inserted``), each `audit.checkpoint` entry's
checkpoint present in the database and the file (``checkpoint_missing``) and unchanged (``rewritten``),
each checkpoint's own entry at C+1 present (``shorter``), the latest checkpoint signed with the configured
key and no signature removed (``bad_signature``), the entries' MACs (``bad_mac``). The first problem by
sequence number is the answer, whichever found it.

Messages are English msgids with %(name)s placeholders, translated where they are shown.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from audit.integrity.chain import GENESIS_HASH, canonical, canonical_stored, hash_text
from audit.integrity.scan import scan
from core.db import N_

MESSAGES = {
    "content_changed": N_("Entry %(seq)d was changed after it was written: its content no longer matches its hash."),
    "content_rehashed": N_(
        "Entry %(seq)d was changed after it was written and its hash recomputed: the next entry no longer links to it."
    ),
    "content_reencoded": N_(
        "Entry %(seq)d was rewritten in another form than the one written (the same values, encoded differently)."
    ),
    "missing": N_("Entry %(seq)d is missing: the chain goes from %(before)d to %(after)d."),
    "missing_renumbered": N_("An entry is missing at %(seq)d: the entries after it were renumbered to close the gap."),
    "missing_tail": N_(
        "Entries from %(seq)d to %(last)d are missing: the chain ends at %(end)d, but the recorded head is %(last)d."
    ),
    "order_swapped": N_("Entries %(seq)d and %(next)d changed places."),
    "order_unlinked": N_("Entry %(seq)d does not link to the entry before it: the order of entries was changed."),
    "order_backwards": N_("Entry %(seq)d comes after entry %(before)d: sequence numbers go backwards."),
    "inserted": N_("Entry %(seq)d was inserted: the entry after it links to entry %(before)d."),
    "inserted_duplicate": N_("A second entry with sequence number %(seq)d was inserted."),
    "inserted_past_head": N_("Entry %(seq)d was inserted after the recorded head (%(head)d)."),
    "head_mismatch": N_("Entry %(seq)d does not match the recorded head of the chain: it was changed or replaced."),
    "shorter": N_(
        "The chain ends at %(end)d, before the checkpoint at %(checkpoint)d taken %(at)s: entries "
        "from %(seq)d on were removed, or an older backup was restored."
    ),
    "rewritten": N_(
        "History was rewritten: entry %(checkpoint)d no longer matches the checkpoint taken "
        "%(at)s (the change lies between entries %(first)d and %(checkpoint)d)."
    ),
    "checkpoint_conflict": N_(
        "The checkpoint records for entry %(seq)d disagree (database and checkpoint file): one of them was changed."
    ),
    "bad_signature": N_(
        "The checkpoint at entry %(seq)d carries a signature that does not verify: it was forged or changed."
    ),
    "unsigned_after_signed": N_(
        "The checkpoint at entry %(seq)d is not signed with the configured key, "
        "although earlier checkpoints are: it was forged or its signature removed."
    ),
    "checkpoint_log_damaged": N_("The checkpoint file cannot be read (%(detail)s): it was damaged or changed."),
    "outside_chain": N_("Entry %(seq)d lies outside the chain, whose sequence numbers start at 1: it was inserted."),
    "table_count": N_(
        "The log holds %(count)d entries, but the chain from 1 to its head %(head)d has "
        "%(head)d: entries were added or removed beside the chain."
    ),
    "checkpoint_missing_db": N_(
        "Entry %(seq)d records the checkpoint at entry %(checkpoint)d, which is "
        "missing from the database (or has another hash there): it was removed."
    ),
    "checkpoint_missing_file": N_(
        "Entry %(seq)d records the checkpoint at entry %(checkpoint)d, which is "
        "missing from the checkpoint file (or has another hash there): it was "
        "removed."
    ),
    "checkpoint_entry_missing": N_(
        "Entry %(seq)d, which records the checkpoint at entry %(checkpoint)d, is "
        "missing or is another entry: history after that checkpoint was cut off "
        "or replaced."
    ),
    "checkpoint_entry_changed": N_(
        "Entry %(seq)d no longer matches the checkpoint at entry %(checkpoint)d "
        "that it records: it was changed, and history rewritten from there on."
    ),
    "signature_removed": N_(
        "The checkpoint at entry %(seq)d was signed when it was taken, but carries no "
        "signature now: its signature was removed."
    ),
    "latest_unsigned": N_(
        "The latest checkpoint (at entry %(seq)d) carries no valid signature of the "
        "configured key: its signature was removed, or it was forged."
    ),
    "key_unusable": N_("A configured key cannot be used (%(detail)s): the chain was not verified."),
    "bad_mac": N_(
        "Entry %(seq)d has no valid MAC under the configured key (AUDIT_MAC_KEY), although "
        "entries carry MACs from entry %(first)d on: it was forged or changed."
    ),
    "mac_stripped": N_(
        "Entry %(seq)d records a checkpoint taken with the MAC key, but has no valid MAC: "
        "the MACs were removed or the entry was forged."
    ),
    "database_unreadable": N_("The audit tables cannot be read (%(detail)s): a table was removed or damaged."),
}

KINDS = {
    "content_changed": "content_changed",
    "content_rehashed": "content_changed",
    "content_reencoded": "content_changed",
    "missing": "missing",
    "missing_renumbered": "missing",
    "missing_tail": "missing",
    "order_swapped": "order_changed",
    "order_unlinked": "order_changed",
    "order_backwards": "order_changed",
    "inserted": "inserted",
    "inserted_duplicate": "inserted",
    "inserted_past_head": "inserted",
    "head_mismatch": "content_changed",
    "shorter": "shorter",
    "rewritten": "rewritten",
    "checkpoint_conflict": "checkpoint_conflict",
    "bad_signature": "bad_signature",
    "unsigned_after_signed": "bad_signature",
    "checkpoint_log_damaged": "checkpoint_conflict",
    "outside_chain": "inserted",
    "table_count": "inserted",
    "checkpoint_missing_db": "checkpoint_missing",
    "checkpoint_missing_file": "checkpoint_missing",
    "checkpoint_entry_missing": "shorter",
    "checkpoint_entry_changed": "rewritten",
    "signature_removed": "bad_signature",
    "latest_unsigned": "bad_signature",
    "bad_mac": "bad_mac",
    "mac_stripped": "bad_mac",
    "key_unusable": "key_unusable",
    "database_unreadable": "missing",
}


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


def check_records(
    checkpoints: Iterable[Checkpoint], check_signature: Callable[[Checkpoint], bool | None] | None = None
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


def walk(
    entries: Iterable[Mapping[str, Any]],
    checkpoints: Iterable[Checkpoint] = (),
    head: tuple[int, str] | None = None,
    check_signature: Callable[[Checkpoint], bool | None] | None = None,
    *,
    start: Start = Start(),
    stop: int | None = None,
) -> Result:  # noqa: B008 (a frozen value)
    """Verify a chain read in sequence order; stop at the first problem (by sequence number).

    `entries` yield mappings with the hashed fields plus `hash`; `checkpoints` come from every source
    (a database table, an append-only file); `head` is the recorded (seq, hash) of the chain's end, read in
    the same snapshot; `check_signature(cp)` answers True/False, or None when it cannot tell.

    A walk may cover a part of the chain: from `start`, and up to `stop` (the entry after `stop` is read
    only as the last one's neighbour; the end of the chain is then not judged). Two parts cover the chain
    as one walk does when the second starts where the first stops.
    """
    records_problem, warnings = check_records(checkpoints, check_signature)
    at_checkpoint: dict[int, Checkpoint] = {}
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

    head_seq = int(head[0]) if head is not None and stop is None else None
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
        if head_seq is not None and seq > head_seq:
            if last_seq and before_prev is not None and row["prev_hash"] == before_prev:
                return fail(last_seq, "inserted", before=last_seq - 1)  # it links past the one before
            return fail(seq, "inserted_past_head", head=head_seq)  # whatever else it links to: beyond the head
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
        met = at_checkpoint.get(seq)
        if met is not None:
            result.checkpoints += 1
            if met.hash != stored:
                return fail(seq, "rewritten", checkpoint=seq, at=met.at, first=last_good_checkpoint + 1)
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


def quick_walk(
    quick: Iterable[tuple[Any, Any, Any, bytes | None]],
    rest: Callable[[int], Iterable[Mapping[str, Any]]],
    checkpoints: Iterable[Checkpoint] = (),
    head: tuple[int, str] | None = None,
    check_signature: Callable[[Checkpoint], bool | None] | None = None,
    *,
    start: Start = Start(),
    stop: int | None = None,
) -> Result:  # noqa: B008 (a frozen value)
    """`walk`'s answer, with the intact part of the chain checked by the quick pass (`audit.integrity.scan`).

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


def resume(
    rest: Callable[[int], Iterable[Mapping[str, Any]]],
    checkpoints: list[Checkpoint],
    head: tuple[int, str] | None,
    check_signature: Callable[[Checkpoint], bool | None] | None,
    state: Start | Mapping[str, Any],
    stop: int | None = None,
) -> Result:
    """The exact walk over `rest(seq)` from a state reached by the quick pass (a `scan` state, with the
    entries and checkpoints it counted), or from a `Start`; with no rows left it judges the chain's end."""
    if isinstance(state, Start):
        state = {"seq": state.seq, "hash": state.hash, "before": state.before, "checkpoint": state.checkpoint}
    rows = rest(state["seq"])
    try:
        result = walk(
            rows,
            checkpoints,
            head,
            check_signature,
            start=Start(state["seq"], state["hash"], state["before"], state["checkpoint"]),
            stop=stop,
        )
    finally:
        close = getattr(rows, "close", None)
        if close is not None:
            close()
    result.count += state.get("count", 0)
    result.checkpoints += state.get("hits", 0)
    return result


# --- the table as a whole ------------------------------------------------------------------------


@dataclass(frozen=True)
class TableFacts:
    """What a few cheap queries over the whole table say, read in the walk's snapshot.

    `low`, `high`, `count`: min(seq), max(seq) and count(*) of the entries; `beyond`: the first entry
    beyond the recorded head; `checkpoint_entries`: (seq, data) of every `audit.checkpoint` entry;
    `file_read`: a checkpoint file was consulted. With a MAC key (`mac_checked`): `mac_first` is the first
    entry with a MAC, `mac_bad` the first entry after it without a valid one, `mac_valid` the entries of
    `checkpoint_entries` whose MAC is valid.
    """

    low: int | None = None
    high: int | None = None
    count: int = 0
    beyond: int | None = None
    checkpoint_entries: tuple[tuple[int, str], ...] = ()
    file_read: bool = False
    mac_checked: bool = False
    mac_first: int | None = None
    mac_bad: int | None = None
    mac_valid: frozenset[int] = frozenset()
    macs_present: bool = False


def judge_table(
    result: Result,
    facts: TableFacts,
    head: tuple[int, str],
    checkpoints: Iterable[Checkpoint],
    check_signature: Callable[[Checkpoint], bool | None] | None = None,
) -> Result:
    """The walk's result, judged with the table as a whole: the first problem by sequence number wins.

    Every entry must lie in 1..head; each `audit.checkpoint` entry names a checkpoint that must exist, with
    its hash, in the database and (when one was read) the file, signed if it was signed when taken; each
    checkpoint at C needs its `audit.checkpoint` entry at C+1; with a signing key the latest checkpoint
    must carry a valid signature of it; with a MAC key every entry from the first one with a MAC on must
    carry a valid one, and so must each `audit.checkpoint` entry that says it was written with the key.
    On the same number the walk's own problem is named.
    """
    head_seq = int(head[0])
    checkpoints = list(checkpoints)
    found: list[Problem] = []
    if facts.low is not None and facts.low < 1:
        found.append(Problem(facts.low, "outside_chain", {"seq": facts.low}))
    if facts.beyond is not None:
        found.append(Problem(facts.beyond, "inserted_past_head", {"seq": facts.beyond, "head": head_seq}))
    in_db = {(int(cp.seq), cp.hash) for cp in checkpoints if cp.source == "database"}
    in_file = {(int(cp.seq), cp.hash) for cp in checkpoints if cp.source == "file"}
    by_seq: dict[int, list[Checkpoint]] = {}
    for cp in checkpoints:
        by_seq.setdefault(int(cp.seq), []).append(cp)
    recorded: dict[int, int] = {}
    for seq, data in facts.checkpoint_entries:
        try:
            value = json.loads(data)
            named = (int(value["seq"]), str(value["hash"]))
        except (ValueError, KeyError, TypeError):
            continue  # not what the writer wrote: the walk names it
        recorded[int(seq)] = named[0]
        db_hashes = {h for (c, h) in in_db if c == named[0]}
        if named[0] != int(seq) - 1 or (db_hashes and named[1] not in db_hashes):
            found.append(Problem(seq, "checkpoint_entry_changed", {"seq": seq, "checkpoint": int(seq) - 1}))
        elif named not in in_db:
            found.append(Problem(seq, "checkpoint_missing_db", {"seq": seq, "checkpoint": named[0]}))
        elif facts.file_read and named not in in_file:
            found.append(Problem(seq, "checkpoint_missing_file", {"seq": seq, "checkpoint": named[0]}))
        if value.get("signed") and any(not cp.signature for cp in by_seq.get(named[0], [])):
            found.append(Problem(named[0], "signature_removed", {"seq": named[0]}))
        if facts.mac_checked and value.get("mac") and int(seq) not in facts.mac_valid:
            found.append(Problem(seq, "mac_stripped", {"seq": seq}))
    for cseq in by_seq:
        if recorded.get(cseq + 1) != cseq:
            found.append(Problem(cseq + 1, "checkpoint_entry_missing", {"seq": cseq + 1, "checkpoint": cseq}))
    if check_signature is not None and by_seq:
        latest = max(by_seq)
        if any(not cp.signature or check_signature(cp) is not True for cp in by_seq[latest]):
            found.append(Problem(latest, "latest_unsigned", {"seq": latest}))
    if facts.mac_checked and facts.mac_bad is not None:
        found.append(Problem(facts.mac_bad, "bad_mac", {"seq": facts.mac_bad, "first": facts.mac_first}))
    walk_problem = result.problem
    if walk_problem is not None and facts.beyond is not None and walk_problem.seq > head_seq:
        walk_problem = None  # what lies beyond the head is named by its first entry, not by a gap before it
    if walk_problem is None and not found and facts.count != head_seq:
        found.append(Problem(head_seq, "table_count", {"seq": head_seq, "count": facts.count, "head": head_seq}))
    candidates = ([walk_problem] if walk_problem is not None else []) + found
    if candidates:
        result.ok = False
        result.problem = min(candidates, key=lambda p: (p.seq, p is not walk_problem))
    if facts.mac_checked:
        if facts.mac_first is None:
            result.warnings.append(
                "no entry carries a MAC: none is protected against forged appends "
                "(entries are MAC'd from when AUDIT_MAC_KEY is configured)"
            )
        elif facts.mac_first > 1:
            result.warnings.append(
                f"entries 1 to {facts.mac_first - 1} are not MAC-protected (written "
                "before AUDIT_MAC_KEY was configured)"
            )
    elif facts.macs_present:
        result.warnings.append("entry MACs were not checked: no AUDIT_MAC_KEY is configured")
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


def database_unreadable(err: BaseException) -> Result:
    """The answer when the audit tables cannot be read at all (a dropped table): a problem, not a crash."""
    orig = getattr(err, "orig", None) or err
    detail = (str(orig).strip().splitlines() or [type(orig).__name__])[0][:200]
    return Result(ok=False, problem=Problem(0, "database_unreadable", {"seq": 0, "detail": detail}))
