"""Read-only queries for outside lending: what the public may borrow and when, the office's lists."""

from __future__ import annotations

import calendar
from datetime import date

from core.db import N_, DomainError, Session
from core.people.services import get_settings
from lending.groups import queries as group_queries
from lending.groups.models import LendingGroup
from lending.groups.queries import MAX_RANGE_DAYS, GroupRow
from lending.outside.models import KINDS
from lending.outside.rules import rules_for


def public_groups(
    session: Session, start_on: date | None, end_on: date | None, today: date, kind: str | None = None
) -> list[GroupRow]:
    """The lending groups offered to the public, each with how many are free on each day of the range.

    Only what a visitor may see: name, category, description, photo, counts. `kind` (person, group,
    agency) leaves out the categories its rules do not lend. Without a range, per_day is empty and
    `available` is the usable total. A range longer than MAX_RANGE_DAYS, or reversed, is refused."""
    if (start_on is None) != (end_on is None):
        raise DomainError(N_("Give both dates."))
    if start_on is not None and end_on is not None:
        if end_on < start_on:
            raise DomainError(N_("The return date is before the start date."))
        if (end_on - start_on).days + 1 > MAX_RANGE_DAYS:
            raise DomainError(N_("Ask about at most %(n)d days at once."), n=MAX_RANGE_DAYS)
    categories: tuple[str, ...] = ()
    if kind in KINDS:
        categories = rules_for(get_settings(session), kind).categories
    return group_queries.groups(
        session, public_only=True, start_on=start_on, end_on=end_on, today=today, categories=categories
    )


def month_availability(session: Session, group_id: int, year: int, month: int, today: date) -> dict[date, int]:
    """Free assets of one public group on each day of a month (C.E. year and month): the calendar."""
    group = session.get(LendingGroup, group_id)
    if group is None or not group.public or not group.active:
        raise DomainError(N_("One of the chosen items is not offered."))
    if not (1 <= month <= 12 and 2000 <= year <= 2200):
        raise DomainError(N_("No such month."))
    first = date(year, month, 1)
    last = date(year, month, calendar.monthrange(year, month)[1])
    return group_queries.availability(session, [group_id], first, last, today)[group_id]
