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

from sqlalchemy import and_, func, or_, select

from core.db import Session
from lending.groups.models import LendingGroup, LoanLine
from lending.loans import APPROVED, CHECKED_OUT, REQUESTED, Loan, LoanItem
from lending.models import AVAILABLE, ON_LOAN, Asset

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


def capacity(session: Session, group_ids: list[int]) -> dict[int, int]:
    """The usable assets of each group: lendable, and available or on loan (not in repair, lost or disposed)."""
    if not group_ids:
        return {}
    rows = session.execute(
        select(Asset.lending_group_id, func.count(Asset.id))
        .where(Asset.lending_group_id.in_(group_ids), Asset.lendable.is_(True), Asset.status.in_(USABLE))
        .group_by(Asset.lending_group_id)
    ).all()
    out = {g: 0 for g in group_ids}
    out.update({g: n for g, n in rows if g is not None})  # (never None: the query keeps these groups)
    return out


def reserved_per_day(
    session: Session,
    group_ids: list[int],
    start_on: date,
    end_on: date,
    today: date,
    exclude_loan_id: int | None = None,
) -> dict[int, dict[date, int]]:
    """How many of each group are held on each day of [start_on, end_on] (two queries, then a sweep)."""
    days = _days(start_on, end_on)
    out: dict[int, dict[date, int]] = {g: dict.fromkeys(days, 0) for g in group_ids}
    if not group_ids or not days:
        return out
    lines = (
        select(LoanLine.group_id, LoanLine.count, Loan.start_on, Loan.due_on)
        .select_from(Loan)
        .join(LoanLine, LoanLine.loan_id == Loan.id)
        .where(
            _unindexed(session, LoanLine.group_id).in_(group_ids),
            reserving_line_clause(),
            Loan.start_on <= end_on,
            Loan.due_on >= start_on,
        )
    )
    items = (
        select(Asset.lending_group_id, func.count(LoanItem.id), Loan.start_on, Loan.due_on, Loan.status)
        .select_from(Loan)
        .join(LoanItem, LoanItem.loan_id == Loan.id)
        .join(Asset, Asset.id == LoanItem.asset_id)
        .where(
            _unindexed(session, Asset.lending_group_id).in_(group_ids),
            holding_item_clause(),
            LoanItem.condition.is_(None),
            Loan.start_on <= end_on,
            or_(Loan.due_on >= start_on, and_(Loan.status == CHECKED_OUT, Loan.due_on < today)),
        )
        .group_by(Asset.lending_group_id, Loan.id, Loan.start_on, Loan.due_on, Loan.status)
    )
    if exclude_loan_id is not None:
        lines = lines.where(Loan.id != exclude_loan_id)
        items = items.where(Loan.id != exclude_loan_id)
    # a difference array per group: +n on the first day held, -n after the last
    delta: dict[int, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    for group_id, count, first, last in session.execute(lines):
        delta[group_id][max(first, start_on)] += count
        delta[group_id][min(last, end_on) + timedelta(days=1)] -= count
    for held_in, count, first, last, status in session.execute(items):
        if held_in is None:  # not reached: the query keeps only these groups
            continue
        if status == CHECKED_OUT and last < today:
            last = end_on  # out past its due date: held until it comes back
        delta[held_in][max(first, start_on)] += count
        delta[held_in][min(last, end_on) + timedelta(days=1)] -= count
    for group_id, changes in delta.items():
        running = 0
        for day in days:
            running += changes.get(day, 0)
            out[group_id][day] = running
    return out


def availability(
    session: Session,
    group_ids: list[int],
    start_on: date,
    end_on: date,
    today: date,
    exclude_loan_id: int | None = None,
) -> dict[int, dict[date, int]]:
    """Free assets of each group on each day of [start_on, end_on] (never below zero)."""
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
    """The lending groups (by name), with their size and, for a date range, how many are free each day."""
    stmt = select(LendingGroup).order_by(LendingGroup.category, LendingGroup.name)
    if public_only:
        stmt = stmt.where(LendingGroup.public.is_(True))
    if active_only:
        stmt = stmt.where(LendingGroup.active.is_(True))
    if categories:
        stmt = stmt.where(LendingGroup.category.in_(categories))
    found = list(session.execute(stmt).scalars())
    ids = [g.id for g in found]
    size = capacity(session, ids)
    members = (
        dict(
            session.execute(
                select(Asset.lending_group_id, func.count(Asset.id))
                .where(Asset.lending_group_id.in_(ids), Asset.status != "disposed")
                .group_by(Asset.lending_group_id)
            ).all()
        )
        if ids
        else {}
    )
    per_day: dict[int, dict[date, int]] = {g: {} for g in ids}
    if start_on is not None and end_on is not None and ids:
        per_day = availability(session, ids, start_on, end_on, today or start_on)
    return [
        GroupRow(
            id=g.id,
            name=g.name,
            category=g.category,
            model=g.model,
            description=g.description,
            public=g.public,
            active=g.active,
            photo_sha256=g.photo_sha256,
            total=size.get(g.id, 0),
            members=members.get(g.id, 0),
            per_day=per_day.get(g.id, {}),
        )
        for g in found
    ]


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
    from lending.models import normalise_asset_number, normalise_tag

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
