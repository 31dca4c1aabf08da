"""Rate limits of the public pages, counted in the database so that every worker sees the same counts.

A rule allows `limit` attempts per `window` for one subject of a scope: requests sent per address and per
phone number, failed tracking look-ups per address, per phone number and per reference. Subjects are
stored as a keyed hash (HMAC with the app's secret), never as the address or number itself. Counting
runs in a short transaction of its own, so a refused or failed attempt is still counted when the action
it guarded is rolled back.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

from sqlalchemy import CursorResult, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from core.db import N_, DomainError, Session, utcnow, write
from lending.eservice.models import RateLimit

# scopes
REQUEST_IP, REQUEST_PHONE = "request_ip", "request_phone"
TRACK_IP, TRACK_PHONE, TRACK_REF = "track_ip", "track_phone", "track_ref"

# (config key, default limit, window in minutes) per scope; the app config may change each limit.
DEFAULTS: dict[str, tuple[str, int, int]] = {
    REQUEST_IP: ("ESERVICE_REQUESTS_PER_IP", 5, 60),
    REQUEST_PHONE: ("ESERVICE_REQUESTS_PER_PHONE", 3, 24 * 60),
    TRACK_IP: ("ESERVICE_TRACK_FAILURES_PER_IP", 10, 15),
    TRACK_PHONE: ("ESERVICE_TRACK_FAILURES_PER_PHONE", 10, 60),
    TRACK_REF: ("ESERVICE_TRACK_FAILURES_PER_REF", 5, 60),
}


class RateLimited(DomainError):
    """Too many attempts; the same answer whatever the subject (nothing is told about any request)."""

    status = 429

    def __init__(self, minutes: int):
        super().__init__(
            N_("Too many attempts from here. Try again in %(minutes)d minutes, or call the office."), minutes=minutes
        )


@dataclass(frozen=True)
class Rule:
    scope: str
    limit: int
    window: timedelta


def rule(scope: str, config: dict | None = None) -> Rule:
    key, limit, minutes = DEFAULTS[scope]
    value = (config or {}).get(key)
    return Rule(scope, int(value) if value not in (None, "") else limit, timedelta(minutes=minutes))


def subject_key(scope: str, subject: str, secret: str) -> str:
    digest = hmac.new(secret.encode(), f"{scope}\x00{subject}".encode(), hashlib.sha256).hexdigest()[:40]
    return f"{scope}:{digest}"


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _rows(session: Session, pairs: list[tuple[Rule, str]], secret: str, now: datetime) -> list[tuple[Rule, RateLimit]]:
    """The counters of `pairs` (created when missing), locked in one order; a passed window starts anew."""
    keyed = {subject_key(r.scope, s, secret): r for r, s in pairs if s}
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    for key in sorted(keyed):
        session.execute(
            insert(RateLimit)
            .values(key=key, scope=keyed[key].scope, hits=0, window_start=now)
            .on_conflict_do_nothing(index_elements=["key"])
        )
    found = (
        session.execute(
            select(RateLimit).where(RateLimit.key.in_(sorted(keyed))).order_by(RateLimit.key).with_for_update()
        )
        .scalars()
        .all()
    )
    out = []
    for row in found:
        r = keyed[row.key]
        if now >= _aware(row.window_start) + r.window:
            row.hits, row.window_start = 0, now
        out.append((r, row))
    return out


def _wait(spent: list[tuple[Rule, RateLimit]], now: datetime) -> int:
    end = max(_aware(row.window_start) + r.window for r, row in spent)
    return max(1, math.ceil((end - now).total_seconds() / 60))


def check(session: Session, pairs: list[tuple[Rule, str]], secret: str, now: datetime | None = None) -> None:
    """Raise RateLimited when any counter of `pairs` is spent; counts nothing (its own transaction)."""
    now = now or utcnow()
    with write(session):
        rows = _rows(session, pairs, secret, now)
        spent = [(r, row) for r, row in rows if row.hits >= r.limit]
        session.commit()
    if spent:
        raise RateLimited(_wait(spent, now))


def take(session: Session, pairs: list[tuple[Rule, str]], secret: str, now: datetime | None = None) -> None:
    """Count one attempt against every counter of `pairs`, or raise RateLimited (counting nothing) when
    any is spent. Its own transaction, committed before the action it guards begins."""
    now = now or utcnow()
    with write(session):
        rows = _rows(session, pairs, secret, now)
        spent = [(r, row) for r, row in rows if row.hits >= r.limit]
        if not spent:
            for _r, row in rows:
                row.hits += 1
        session.commit()
    if spent:
        raise RateLimited(_wait(spent, now))


def count(session: Session, pairs: list[tuple[Rule, str]], secret: str, now: datetime | None = None) -> None:
    """Count one (failed) attempt against every counter of `pairs`, spent or not."""
    now = now or utcnow()
    with write(session):
        for _r, row in _rows(session, pairs, secret, now):
            row.hits += 1
        session.commit()


def purge(session: Session, now: datetime | None = None, older_than: timedelta = timedelta(days=2)) -> int:
    """Forget counters whose window ended long ago (the daily run may call it)."""
    from sqlalchemy import delete

    now = now or utcnow()
    with write(session):
        n = cast(
            CursorResult, session.execute(delete(RateLimit).where(RateLimit.window_start < now - older_than))
        ).rowcount
        session.commit()
    return n or 0
