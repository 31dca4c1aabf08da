"""Read-only queries over the audit log: the filtered list (keyset pages), one entry, exports, the latest
checkpoint. Verifying the chain is audit/integrity/runner.py's.

The log is expected to reach millions of entries, so nothing here counts the whole table or uses OFFSET:
pages are keyset pages on the sequence number (`seq < last seen ORDER BY seq DESC LIMIT n`), every filter
but the free text rides an index that ends in `seq`, a date range is turned into a range of sequence
numbers once (an entry's time is taken under the chain's lock, so time order is sequence order), and the
free text (a substring of the entry's data, Thai included) is searched in a window of the most recent
SEARCH_WINDOW entries below the page's cursor, with a link that moves the window further back.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, func, select, text

from audit.integrity.runner import head_of
from audit.models import AuditCheckpoint, AuditEntry
from core.dates import bangkok_midnight_utc, format_numeric, parse_date
from core.db import Session, contains
from core.models import User

PAGE_SIZE = 50
SEARCH_WINDOW = 20_000
EXPORT_COLUMNS = (
    AuditEntry.seq,
    AuditEntry.at,
    AuditEntry.actor,
    AuditEntry.actor_id,
    AuditEntry.action,
    AuditEntry.subject_type,
    AuditEntry.subject_id,
    AuditEntry.data,
    AuditEntry.ip,
    AuditEntry.user_agent,
    AuditEntry.request_id,
    AuditEntry.prev_hash,
    AuditEntry.hash,
)
LIST_COLUMNS = (
    AuditEntry.seq,
    AuditEntry.at,
    AuditEntry.actor,
    AuditEntry.actor_id,
    AuditEntry.action,
    AuditEntry.subject_type,
    AuditEntry.subject_id,
    AuditEntry.data,
    AuditEntry.ip,
)


# --- the filter ----------------------------------------------------------------------------------


@dataclass
class LogFilter:
    """What the auditor narrowed the log to. Dates are Bangkok calendar days, both ends included."""

    actor: str = ""
    action: str = ""
    subject_type: str = ""
    subject_id: str = ""
    date_from: date | None = None
    date_to: date | None = None
    q: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> LogFilter:
        """From query arguments; a date that cannot be read is reported in `errors` and ignored."""

        def clean(name: str, limit: int = 100) -> str:
            return unicodedata.normalize("NFC", str(args.get(name) or "")).strip()[:limit]

        flt = cls(
            actor=clean("actor", 64).lower(),
            action=clean("action", 64),
            subject_type=clean("type", 64),
            subject_id=clean("id", 64),
            q=clean("q"),
        )
        for name in ("from", "to"):
            raw = clean(name, 20)
            try:
                value = parse_date(raw)
            except ValueError:
                flt.errors[name] = raw
                continue
            setattr(flt, "date_from" if name == "from" else "date_to", value)
        return flt

    def as_args(self) -> dict[str, str]:
        """The filter as query arguments (dates as Thai DD/MM/YYYY in B.E.), empty ones left out."""
        raw = {
            "actor": self.actor,
            "action": self.action,
            "type": self.subject_type,
            "id": self.subject_id,
            "from": format_numeric(self.date_from),
            "to": format_numeric(self.date_to),
            "q": self.q,
        }
        return {k: v for k, v in raw.items() if v}

    @property
    def active(self) -> bool:
        return bool(self.as_args())


def _actor_id(session: Session | Connection, username: str) -> int | None:
    return session.execute(select(User.id).where(User.username == username)).scalar_one_or_none()


def _seq_bounds(session: Session | Connection, flt: LogFilter) -> tuple[int, int] | None:
    """The range of sequence numbers the date range covers (via the index on `at`); None if empty."""
    lo: int = 1
    hi: int | None = None
    if flt.date_from:
        start = bangkok_midnight_utc(flt.date_from)
        first = session.execute(
            select(AuditEntry.seq).where(AuditEntry.at >= start).order_by(AuditEntry.at).limit(1)
        ).scalar_one_or_none()
        if first is None:
            return None
        lo = first
    if flt.date_to:
        end = bangkok_midnight_utc(flt.date_to + timedelta(days=1))
        hi = session.execute(
            select(AuditEntry.seq).where(AuditEntry.at < end).order_by(AuditEntry.at.desc()).limit(1)
        ).scalar_one_or_none()
        if hi is None:
            return None
    if hi is not None and hi < lo:
        return None
    return lo, hi if hi is not None else 2**62


def conditions(session: Session | Connection, flt: LogFilter) -> list[Any] | None:
    """SQL conditions for every filter but the free text; None when nothing can match."""
    conds: list[Any] = []
    if flt.actor:
        actor_id = _actor_id(session, flt.actor)
        if actor_id is None:
            return None
        conds.append(AuditEntry.actor_id == actor_id)
    if flt.action:
        conds.append(AuditEntry.action == flt.action)
    if flt.subject_type:
        conds.append(AuditEntry.subject_type == flt.subject_type)
    if flt.subject_id:
        conds.append(AuditEntry.subject_id == flt.subject_id)
    if flt.date_from or flt.date_to:
        bounds = _seq_bounds(session, flt)
        if bounds is None:
            return None
        # The range of numbers is the range of days: an entry's time is taken under the chain's lock.
        conds.append(AuditEntry.seq.between(*bounds))
    return conds


def _text_condition(session: Session | Connection, q: str) -> Any:
    """A substring of the data. SQLite's LIKE already ignores ASCII case (Thai has none), and lower() on
    every row would cost a copy of it; PostgreSQL's LIKE does not, so ILIKE there."""
    dialect = session.dialect if isinstance(session, Connection) else session.get_bind().dialect
    if dialect.name == "sqlite":
        return contains(AuditEntry.data, q)
    return contains(AuditEntry.data, q, ignore_case=True)


# --- the list ------------------------------------------------------------------------------------


@dataclass
class Page:
    rows: Sequence[Any]
    older: int | None = None  # `before` for the next (older) page
    newer: int | None = None  # `after` for the previous (newer) page
    window: tuple[int, int] | None = None  # with free text: the sequence numbers searched (low, high)
    head: int = 0


def _exists(session: Session, conds: list[Any]) -> bool:
    return session.execute(select(AuditEntry.seq).where(*conds).limit(1)).first() is not None


def list_entries(
    session: Session, flt: LogFilter, *, before: int | None = None, after: int | None = None, limit: int = PAGE_SIZE
) -> Page:
    """One keyset page of the filtered log, newest first: the entries below `before`, or just above `after`.

    With free text, the page searches the window of SEARCH_WINDOW sequence numbers below `before` (below
    the head at first); when the window holds fewer than a page of matches, `older` moves to the next
    window down, so each request reads a bounded number of entries however rare the text is.
    """
    head = head_of(session)[0]
    page = Page(rows=[], head=head)
    conds = conditions(session, flt)
    if conds is None:
        return page
    # Only the chain, 1..head: a row beside it (at 0 or below, or beyond the head) is no entry the writer
    # wrote; `verify` names it, the pages do not show it as history.
    conds = [*conds, AuditEntry.seq.between(1, head)]
    stmt = select(*LIST_COLUMNS)
    if flt.q:
        high = min(head, before - 1) if before else head
        low = max(1, high - SEARCH_WINDOW + 1)
        if high < low:
            return page
        page.window = (low, high)
        window = [AuditEntry.seq.between(low, high), _text_condition(session, flt.q)]
        rows = session.execute(stmt.where(*conds, *window).order_by(AuditEntry.seq.desc()).limit(limit + 1)).all()
        page.rows = rows[:limit]
        if len(rows) > limit:
            page.older = page.rows[-1].seq
        elif low > 1:
            page.older = low
        return page
    if after is not None:
        rows = session.execute(
            stmt.where(*conds, AuditEntry.seq > after).order_by(AuditEntry.seq.asc()).limit(limit + 1)
        ).all()
        page.rows = list(reversed(rows[:limit]))
        if page.rows:
            page.newer = page.rows[0].seq if len(rows) > limit else None
            bottom = page.rows[-1].seq
            page.older = bottom if _exists(session, [*conds, AuditEntry.seq < bottom]) else None
        return page
    if before is not None:
        conds_page = [*conds, AuditEntry.seq < before]
    else:
        conds_page = conds
    rows = session.execute(stmt.where(*conds_page).order_by(AuditEntry.seq.desc()).limit(limit + 1)).all()
    page.rows = rows[:limit]
    if len(rows) > limit:
        page.older = page.rows[-1].seq
    if before is not None and page.rows:
        top = page.rows[0].seq
        page.newer = top if _exists(session, [*conds, AuditEntry.seq > top]) else None
    return page


def entry(session: Session, seq: int) -> AuditEntry | None:
    """The entry at `seq` of the chain (1..head); a row beside the chain is none (verify names it)."""
    if not 1 <= seq <= head_of(session)[0]:
        return None
    return session.get(AuditEntry, seq)


def distinct_values(session: Session, column: str) -> list[str]:
    """The distinct actions or subject types, by skipping through their index (a few dozen seeks)."""
    if column not in ("action", "subject_type"):
        raise ValueError(column)
    sql = text(f"""
        WITH RECURSIVE v(x) AS (
            SELECT MIN({column}) FROM audit_entries
            UNION ALL
            SELECT (SELECT MIN({column}) FROM audit_entries WHERE {column} > v.x) FROM v WHERE v.x IS NOT NULL
        )
        SELECT x FROM v WHERE x IS NOT NULL AND x <> '' LIMIT 500""")
    return [row[0] for row in session.execute(sql)]


def actor_names(session: Session) -> list[str]:
    return list(session.execute(select(User.username).order_by(User.username).limit(1000)).scalars())


# --- export --------------------------------------------------------------------------------------


def count_for_export(session: Session, flt: LogFilter, upto: int) -> int:
    """How many entries up to `upto` the filter selects (the free text over the whole log, not a window)."""
    conds = conditions(session, flt)
    if conds is None:
        return 0
    if flt.q:
        conds = [*conds, _text_condition(session, flt.q)]
    return int(
        session.execute(
            select(func.count()).select_from(AuditEntry).where(*conds, AuditEntry.seq.between(1, upto))
        ).scalar_one()
    )


def iter_export(session: Session, flt: LogFilter, upto: int, batch: int = 2000) -> Iterator[Any]:
    """The filtered entries up to `upto`, oldest first, streamed in batches by keyset."""
    conds = conditions(session, flt)
    if conds is None:
        return
    if flt.q:
        conds = [*conds, _text_condition(session, flt.q)]
    last = 0
    while True:
        rows = session.execute(
            select(*EXPORT_COLUMNS)
            .where(*conds, AuditEntry.seq > last, AuditEntry.seq <= upto)
            .order_by(AuditEntry.seq)
            .limit(batch)
        ).all()
        yield from rows
        if len(rows) < batch:
            return
        last = rows[-1].seq


def latest_checkpoint(session: Session) -> AuditCheckpoint | None:
    return session.execute(
        select(AuditCheckpoint).order_by(AuditCheckpoint.seq.desc(), AuditCheckpoint.id.desc()).limit(1)
    ).scalar_one_or_none()
