"""What the public pages read: the catalogue for chosen dates and a month's calendar of one group, laid out
for the page. Counts come from lending.outside.queries (which computes availability); nothing here counts
bookings itself."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta

from core.db import Session
from lending.groups.models import LendingGroup
from lending.groups.queries import GroupRow
from lending.outside import queries as outside_queries

MONTHS_AHEAD = 12  # the calendar pages through a year ahead (requests are taken a year ahead at most)


def catalogue(session: Session, start_on: date | None, end_on: date | None, today: date) -> list[GroupRow]:
    """The groups offered to the public, with what is free on every day of the range (if any)."""
    return outside_queries.public_groups(session, start_on, end_on, today)


def public_group(session: Session, group_id: int) -> LendingGroup | None:
    """A group the public may see (active and offered), else None: others do not exist for the public."""
    group = session.get(LendingGroup, group_id)
    if group is None or not group.active or not group.public:
        return None
    return group


@dataclass(frozen=True)
class Day:
    day: date
    free: int
    state: str  # past, none, some, all


def month_grid(
    session: Session, group: LendingGroup, total: int, year: int, month: int, today: date
) -> list[list[Day | None]]:
    """Weeks (Sunday first, as Thai wall calendars and the office's calendar) of the month; each day with its
    free count and how full it is."""
    free = outside_queries.month_availability(session, group.id, year, month, today)
    weeks: list[list[Day | None]] = []
    for week in calendar.Calendar(firstweekday=6).monthdatescalendar(year, month):
        row: list[Day | None] = []
        for d in week:
            if d.month != month:
                row.append(None)
                continue
            n = free.get(d, 0)
            state = "past" if d < today else ("none" if n <= 0 else ("all" if n >= total else "some"))
            row.append(Day(d, n, state))
        weeks.append(row)
    return weeks


def month_bounds(today: date) -> tuple[tuple[int, int], tuple[int, int]]:
    """The first and last month the calendar shows: this month and a year ahead."""
    last = today + timedelta(days=365)
    return (today.year, today.month), (last.year, last.month)


def shift_month(year: int, month: int, by: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + by
    return index // 12, index % 12 + 1
