"""Read-only queries on lending groups: their size, and how many are free on each day.

Availability of a group on day D = its usable assets (lendable, available or on loan) minus what holds
them on D:
- a line of a request that reserves its count — the request approved, or approved by the officer and
  waiting for the head (the officer's approval already reserves) — and not yet handed over;
- a numbered asset of the group held by a loan item still out or reserved: its loan approved or handed over
  (or officer-approved and waiting for the head), for the loan's days; an item out past its due date holds
  its asset on every day until it comes back, since nobody knows when that will be.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import (
    BindParameter,
    Date,
    Integer,
    String,
    and_,
    bindparam,
    case,
    func,
    literal,
    or_,
    select,
    type_coerce,
    union_all,
)

from core.db import Session
from lending.groups.models import LendingGroup, LoanLine
from lending.loans.models import APPROVED, CHECKED_OUT, REQUESTED, Loan, LoanItem
from lending.register.models import AVAILABLE, DISPOSED, ON_LOAN, Asset

USABLE = (AVAILABLE, ON_LOAN)
MAX_RANGE_DAYS = 92  # a calendar of up to three months at once


def _days(start_on: date, end_on: date) -> list[date]:
    return [start_on + timedelta(days=i) for i in range((end_on - start_on).days + 1)]


def reserving_line_clause():
    """Loans whose lines reserve their count: approved, or officer-approved and waiting for the head.

    Written as a status list first, so that the status index finds the few open loans among the many
    returned ones."""
    return and_(Loan.status.in_((APPROVED, REQUESTED)), or_(Loan.status == APPROVED, Loan.officer_at.is_not(None)))


def holding_item_clause():
    """Loans whose numbered items hold their assets (the same, plus handed over)."""
    return and_(
        Loan.status.in_((APPROVED, CHECKED_OUT, REQUESTED)), or_(Loan.status != REQUESTED, Loan.officer_at.is_not(None))
    )


def _unindexed(session: Session, column):
    """SQLite: the column kept off its index (`+ 0`), so the plan starts from the few open loans (by the
    status index) instead of every line or item ever made of the group."""
    return column + 0 if session.get_bind().dialect.name == "sqlite" else column


# The statements are built once per dialect (building a select costs more than SQLite takes to run the
# capacity one); their values are bound parameters, group ids an expanding IN. They return plain rows, so
# they run on the session's connection, without the ORM's layers (same transaction).
_STATEMENTS: dict[tuple[str, str], Any] = {}


def _statement(session: Session, name: str, build):
    key = (session.get_bind().dialect.name, name)
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        stmt = _STATEMENTS[key] = build(session)
    return stmt


def _sizes_statement(_session: Session):
    """Per group: its usable assets (lendable, available or on loan) and its members (not disposed)."""
    usable = and_(Asset.lendable.is_(True), Asset.status.in_(USABLE))
    return (
        select(
            Asset.lending_group_id,
            func.sum(case((usable, 1), else_=0)),
            func.sum(case((Asset.status != DISPOSED, 1), else_=0)),
        )
        .where(Asset.lending_group_id.in_(bindparam("group_ids", expanding=True)))
        .group_by(Asset.lending_group_id)
    )


def _held_statement(session: Session):
    """What holds each group's assets, summed by (group, first day, last day) with the days clipped to the
    window: few rows whatever the number of bookings (at most one per pair of days of the window). Lines
    that reserve their count and numbered items that hold their asset, in one statement; an item out past
    its due date holds until the window's end."""
    start_on, end_on, today = (
        bindparam("start_on", type_=Date),
        bindparam("end_on", type_=Date),
        bindparam("today", type_=Date),
    )
    exclude = bindparam("exclude_loan_id", type_=Integer)
    group_ids: BindParameter[list[int]] = bindparam("group_ids", expanding=True)
    first = case((Loan.start_on < start_on, start_on), else_=Loan.start_on)
    lines = (
        select(
            LoanLine.group_id.label("group_id"),
            first.label("first"),
            case((Loan.due_on > end_on, end_on), else_=Loan.due_on).label("last"),
            LoanLine.count.label("n"),
        )
        .select_from(Loan)
        .join(LoanLine, LoanLine.loan_id == Loan.id)
        .where(
            _unindexed(session, LoanLine.group_id).in_(group_ids),
            reserving_line_clause(),
            Loan.start_on <= end_on,
            Loan.due_on >= start_on,
            Loan.id != exclude,
        )
    )
    overdue = and_(Loan.status == CHECKED_OUT, Loan.due_on < today)
    items = (
        select(
            Asset.lending_group_id,
            first,
            case((or_(overdue, Loan.due_on > end_on), end_on), else_=Loan.due_on),
            literal(1, Integer),
        )
        .select_from(Loan)
        .join(LoanItem, LoanItem.loan_id == Loan.id)
        .join(Asset, Asset.id == LoanItem.asset_id)
        .where(
            _unindexed(session, Asset.lending_group_id).in_(group_ids),
            holding_item_clause(),
            LoanItem.condition.is_(None),
            Loan.start_on <= end_on,
            or_(Loan.due_on >= start_on, overdue),
            Loan.id != exclude,
        )
    )
    both = union_all(lines, items).subquery()
    # the days come back as the driver gives them (SQLite: ISO text, parsed by _day; PostgreSQL: dates),
    # without SQLAlchemy's slower per-value date processing
    return select(
        both.c.group_id, type_coerce(both.c.first, String), type_coerce(both.c.last, String), func.sum(both.c.n)
    ).group_by(both.c.group_id, both.c.first, both.c.last)


def _day(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def sizes(session: Session, group_ids: list[int]) -> dict[int, tuple[int, int]]:
    """(usable, members) of each group, in one statement: usable = lendable and available or on loan (not in
    repair, lost or disposed); members = every asset of the group on the register (not disposed)."""
    out = {g: (0, 0) for g in group_ids}
    if group_ids:
        rows = session.connection().execute(
            _statement(session, "sizes", _sizes_statement), {"group_ids": list(group_ids)}
        )
        out.update({g: (int(usable or 0), int(members or 0)) for g, usable, members in rows})
    return out


def capacity(session: Session, group_ids: list[int]) -> dict[int, int]:
    """The usable assets of each group: lendable, and available or on loan (not in repair, lost or disposed)."""
    return {g: usable for g, (usable, _members) in sizes(session, group_ids).items()}


def reserved_per_day(
    session: Session,
    group_ids: list[int],
    start_on: date,
    end_on: date,
    today: date,
    exclude_loan_id: int | None = None,
) -> dict[int, dict[date, int]]:
    """How many of each group are held on each day of [start_on, end_on] (one statement, then a sweep)."""
    days = _days(start_on, end_on)
    out: dict[int, dict[date, int]] = {g: dict.fromkeys(days, 0) for g in group_ids}
    if not group_ids or not days:
        return out
    rows = session.connection().execute(
        _statement(session, "held", _held_statement),
        {
            "group_ids": list(group_ids),
            "start_on": start_on,
            "end_on": end_on,
            "today": today,
            "exclude_loan_id": -1 if exclude_loan_id is None else exclude_loan_id,
        },
    )
    # a difference array per group: +n on the first day held, -n after the last
    delta: dict[int, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    for group_id, first, last, n in rows:
        delta[group_id][max(_day(first), start_on)] += n
        delta[group_id][min(_day(last), end_on) + timedelta(days=1)] -= n
    for group_id, changes in delta.items():
        running = 0
        held = out[group_id]
        for day in days:
            running += changes.get(day, 0)
            held[day] = running
    return out


def availability(
    session: Session,
    group_ids: list[int],
    start_on: date,
    end_on: date,
    today: date,
    exclude_loan_id: int | None = None,
) -> dict[int, dict[date, int]]:
    """Free assets of each group on each day of [start_on, end_on] (never below zero): two statements."""
    size = capacity(session, group_ids)
    held = reserved_per_day(session, group_ids, start_on, end_on, today, exclude_loan_id)
    return {g: {d: max(0, size[g] - n) for d, n in held[g].items()} for g in group_ids}


@dataclass(frozen=True)
class GroupRow:
    id: int
    name: str
    category: str
    model: str
    description: str
    public: bool
    active: bool
    photo_sha256: str | None
    total: int  # usable assets now
    members: int  # every asset of the group on the register (not disposed)
    per_day: dict[date, int]  # free on each day of the asked range (empty when no range was asked)

    @property
    def available(self) -> int:
        """Free on every day of the range (the smallest day's count)."""
        return min(self.per_day.values()) if self.per_day else self.total


def groups(
    session: Session,
    *,
    public_only: bool = False,
    active_only: bool = True,
    start_on: date | None = None,
    end_on: date | None = None,
    today: date | None = None,
    categories: tuple[str, ...] = (),
) -> list[GroupRow]:
    """The lending groups (by name), with their size and, for a date range, how many are free each day.

    One statement for the groups and their sizes, one more for a date range."""
    key = f"groups:{public_only}:{active_only}:{bool(categories)}"
    stmt = _statement(session, key, lambda _s: _groups_statement(public_only, active_only, bool(categories)))
    found = session.connection().execute(stmt, {"categories": list(categories)} if categories else {}).all()
    ids = [row[0] for row in found]
    per_day: dict[int, dict[date, int]] = {g: {} for g in ids}
    if start_on is not None and end_on is not None and ids:
        usable = {row[0]: int(row[8] or 0) for row in found}
        held = reserved_per_day(session, ids, start_on, end_on, today or start_on)
        per_day = {g: {d: max(0, usable[g] - n) for d, n in held[g].items()} for g in ids}
    return [
        GroupRow(
            id=gid,
            name=name,
            category=category,
            model=model,
            description=description,
            public=public,
            active=active,
            photo_sha256=photo,
            total=int(usable or 0),
            members=int(members or 0),
            per_day=per_day[gid],
        )
        for gid, name, category, model, description, public, active, photo, usable, members in found
    ]


def _groups_statement(public_only: bool, active_only: bool, by_category: bool):
    """The groups' columns and, per group, its usable and member counts (subqueries on the group's index)."""

    def counted(*where):
        return (
            select(func.count(Asset.id))
            .where(Asset.lending_group_id == LendingGroup.id, *where)
            .correlate(LendingGroup)
            .scalar_subquery()
        )

    stmt = select(
        LendingGroup.id,
        LendingGroup.name,
        LendingGroup.category,
        LendingGroup.model,
        LendingGroup.description,
        LendingGroup.public,
        LendingGroup.active,
        LendingGroup.photo_sha256,
        counted(Asset.lendable.is_(True), Asset.status.in_(USABLE)),
        counted(Asset.status != DISPOSED),
    ).order_by(LendingGroup.category, LendingGroup.name)
    if public_only:
        stmt = stmt.where(LendingGroup.public.is_(True))
    if active_only:
        stmt = stmt.where(LendingGroup.active.is_(True))
    if by_category:
        stmt = stmt.where(LendingGroup.category.in_(bindparam("categories", expanding=True)))
    return stmt


def group_assets(session: Session, group_id: int) -> list[Asset]:
    """The numbered assets of a group, by number."""
    return list(
        session.execute(select(Asset).where(Asset.lending_group_id == group_id).order_by(Asset.asset_number)).scalars()
    )


def suggest_assets(
    session: Session,
    group_id: int,
    count: int,
    start_on: date,
    due_on: date,
    today: date,
    exclude_loan_id: int | None = None,
) -> list[Asset]:
    """`count` numbered assets of the group that can leave now: available on the register and not held by
    another loan's item on these days, in asset-number order (the order they are stacked and counted)."""
    held = (
        select(LoanItem.asset_id)
        .join(Loan, Loan.id == LoanItem.loan_id)
        .where(
            holding_item_clause(),
            LoanItem.condition.is_(None),
            Loan.start_on <= due_on,
            or_(Loan.due_on >= start_on, and_(Loan.status == CHECKED_OUT, Loan.due_on < today)),
        )
    )
    if exclude_loan_id is not None:
        held = held.where(Loan.id != exclude_loan_id)
    stmt = (
        select(Asset)
        .where(
            Asset.lending_group_id == group_id,
            Asset.lendable.is_(True),
            Asset.status == AVAILABLE,
            Asset.id.not_in(held),
        )
        .order_by(Asset.asset_number)
        .limit(max(0, count))
    )
    return list(session.execute(stmt).scalars())


def resolve_codes(session: Session, codes: list[str]) -> tuple[list[Asset], list[str]]:
    """The assets that scanned or typed codes name (asset number in any spelling, or QR tag), in the order
    given and once each; and the codes that name none."""
    from lending.register.models import normalise_asset_number, normalise_tag

    if not codes:
        return [], []
    numbers = {normalise_asset_number(c): c for c in codes}
    tags = {normalise_tag(c): c for c in codes}
    found = list(
        session.execute(
            select(Asset).where(or_(Asset.asset_number.in_(list(numbers)), Asset.tag.in_(list(tags))))
        ).scalars()
    )
    by_code: dict[str, Asset] = {}
    for asset in found:
        if asset.asset_number in numbers:
            by_code[numbers[asset.asset_number]] = asset
        if asset.tag in tags:
            by_code[tags[asset.tag]] = asset
    out: list[Asset] = []
    seen: set[int] = set()
    unknown: list[str] = []
    for code in codes:
        match = by_code.get(code)
        if match is None:
            unknown.append(code)
        elif match.id not in seen:
            seen.add(match.id)
            out.append(match)
    return out, unknown
