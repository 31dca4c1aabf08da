"""Bookings: which loans hold which assets on which days, for the calendar, the register's "reserved from …"
and the available-by-date filters. Read-only.

A loan *holds* its assets (nobody else may have them on those days) once it is approved, while it is out,
and already after the supply officer's approval when it waits for the head's (the officer's approval
reserves the items until the head decides). A plain request waiting for the officer holds nothing: it
shows on the calendar as requested, to those who may see it.

Who sees what: a person who may see every loan (`LOANS_VIEW_ALL`) sees every booking with its reference,
borrower and a link; everyone else sees their own loans in full and, of other people's loans, only the
days on which the assets are held (no reference, no borrower, no link) — what they need to plan a request,
and what the asset page already shows them. Other people's plain requests are not shown to them at all.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from typing import Any

from sqlalchemy import and_, bindparam, exists, or_, select
from sqlalchemy.sql.elements import ColumnElement

from core.db import Session
from core.models import User
from core.people.permissions import LOANS_VIEW_ALL
from lending.loans.bookings.availability import lendable_condition
from lending.loans.models import APPROVED, CHECKED_OUT, REQUESTED, Loan, LoanItem, holds_assets, without_borrower_roles
from lending.loans.permissions import can_view_loan
from lending.register.models import Asset

# How a booking is shown: its stage on the way from request to return.
REQUESTED_STAGE, AWAITING_HEAD, APPROVED_STAGE, OUT, OVERDUE = (
    "requested",
    "awaiting_head",
    "approved",
    "out",
    "overdue",
)
STAGES = (REQUESTED_STAGE, AWAITING_HEAD, APPROVED_STAGE, OUT, OVERDUE)
CALENDAR_LIMIT = 500  # loans in one month of one office: far fewer; a bound, not a page


def _overlaps(start_on: date, end_on: date, today: date) -> ColumnElement[bool]:
    """The loan's days meet [start_on, end_on]; an item out past its due date is held until it is back."""
    return and_(
        Loan.start_on <= end_on, or_(Loan.due_on >= start_on, and_(Loan.status == CHECKED_OUT, Loan.due_on < today))
    )


def held_between(start_on: date, end_on: date, today: date) -> ColumnElement[bool]:
    """For a statement over assets: the asset is held by some loan on a day in [start_on, end_on]."""
    return exists().where(
        LoanItem.asset_id == Asset.id,
        LoanItem.condition.is_(None),
        Loan.id == LoanItem.loan_id,
        holds_assets(),
        _overlaps(start_on, end_on, today),
    )


def free_between(start_on: date, end_on: date, today: date) -> ColumnElement[bool]:
    """For a statement over assets: the asset may be lent and nobody holds it on any day of the range."""
    return and_(lendable_condition(), ~held_between(start_on, end_on, today))


# --- "reserved from … to …" ------------------------------------------------------------------------


@dataclass(frozen=True)
class Reservation:
    """The next booking that holds an asset and has not been handed over yet (dates only: no names)."""

    start_on: date
    due_on: date
    awaiting_head: bool
    more: int = 0  # further bookings after this one


@cache
def _next_reservations_statement():
    """next_reservations' statement, built once (the register and every asset page ask): the assets and
    the day are bound parameters."""
    return (
        select(LoanItem.asset_id, Loan.start_on, Loan.due_on, Loan.status)
        .join(Loan, Loan.id == LoanItem.loan_id)
        .where(
            LoanItem.asset_id.in_(bindparam("asset_ids", expanding=True)),
            LoanItem.condition.is_(None),
            holds_assets(),
            Loan.status != CHECKED_OUT,
            Loan.due_on >= bindparam("today"),
        )
        .order_by(LoanItem.asset_id, Loan.start_on, Loan.id)
    )


def next_reservations(session: Session, asset_ids: list[int], today: date) -> dict[int, Reservation]:
    """For each asset of a page, its next booking not yet handed over (today's included), if any."""
    if not asset_ids:
        return {}
    rows = session.execute(_next_reservations_statement(), {"asset_ids": list(asset_ids), "today": today}).all()
    grouped: dict[int, list[Any]] = defaultdict(list)
    for r in rows:
        grouped[r.asset_id].append(r)
    return {
        asset_id: Reservation(
            start_on=rs[0].start_on, due_on=rs[0].due_on, awaiting_head=rs[0].status == REQUESTED, more=len(rs) - 1
        )
        for asset_id, rs in grouped.items()
    }


# --- the calendar ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BookedItem:
    asset_id: int
    asset_number: str
    name: str


@dataclass(frozen=True)
class Booking:
    """One loan on the calendar. `shown` False: someone else's, seen by a person who may not see it — no
    reference, borrower or link, only the days and the items held."""

    loan_id: int
    stage: str
    start_on: date
    due_on: date
    shown: bool
    ref: str = ""
    borrower: str = ""
    purpose: str = ""
    items: tuple[BookedItem, ...] = ()
    own: bool = False
    lines: tuple[tuple[str, int], ...] = ()  # a request by count: (group name, count held), e.g. chairs × 150
    outside: bool = False  # the borrower is outside the office (named, as they have no account)

    @property
    def last_day(self) -> date:
        return self.due_on

    def covers(self, day: date) -> bool:
        return self.start_on <= day <= self.due_on

    def item_groups(self) -> list[tuple[str, int]]:
        """What the loan holds with how many of each ("plastic chair" × 20): its lines by count first, then
        its numbered items by name, in the order first met."""
        counts: dict[str, int] = {}
        for name, n in self.lines:
            counts[name] = counts.get(name, 0) + n
        for it in self.items:
            counts[it.name] = counts.get(it.name, 0) + 1
        return list(counts.items())


def stage_of(loan: Loan, today: date) -> str:
    if loan.status == CHECKED_OUT:
        return OVERDUE if loan.is_overdue(today) else OUT
    if loan.status == APPROVED:
        return APPROVED_STAGE
    return AWAITING_HEAD if loan.waiting_for_head else REQUESTED_STAGE


def bookings_between(
    session: Session, viewer: User, start_on: date, end_on: date, today: date, asset_id: int | None = None
) -> list[Booking]:
    """The loans (requested, approved, out) on days in [start_on, end_on], as `viewer` may see them; with
    `asset_id`, only the loans of that asset. Ordered by start date."""
    see_all = viewer.can(LOANS_VIEW_ALL)
    visible: ColumnElement[bool] = Loan.status.in_((REQUESTED, APPROVED, CHECKED_OUT))
    if not see_all:
        # Someone else's plain request is not theirs to see; what holds an asset they see as dates only.
        visible = and_(visible, or_(Loan.borrower_id == viewer.id, holds_assets()))
    stmt = select(Loan).where(visible, _overlaps(start_on, end_on, today))
    if asset_id is not None:
        stmt = stmt.where(exists().where(LoanItem.loan_id == Loan.id, LoanItem.asset_id == asset_id))
    loans = (
        session.execute(stmt.order_by(Loan.start_on, Loan.id).limit(CALENDAR_LIMIT).options(without_borrower_roles()))
        .scalars()
        .all()
    )
    out = []
    for loan in loans:
        shown = can_view_loan(viewer, loan)
        # Items that came back early hold nothing; the loan's items otherwise, or this asset's alone.
        items = [i for i in loan.items if asset_id is None or i.asset_id == asset_id]
        if loan.status == CHECKED_OUT:
            items = [i for i in items if i.condition is None] or items
        lines: tuple[tuple[str, int], ...] = ()
        if loan.lines and asset_id is None:
            # a line counts what it holds: its count until the hand-over, then those of its items still out
            lines = tuple((ln.group.name, _line_held(loan, ln)) for ln in loan.lines if _line_held(loan, ln) > 0)
            items = [i for i in items if i.line_id is None]
        booked = tuple(
            sorted(
                (BookedItem(i.asset_id, i.asset.asset_number, i.asset.name) for i in items),
                key=lambda b: b.asset_number,
            )
        )
        stage = stage_of(loan, today)
        # An item out past its due date stays on the calendar until today, the last day it is known held.
        due_on = max(loan.due_on, today) if stage == OVERDUE else loan.due_on
        if shown:
            out.append(
                Booking(
                    loan_id=loan.id,
                    stage=stage,
                    start_on=loan.start_on,
                    due_on=due_on,
                    shown=True,
                    ref=loan.ref,
                    borrower=loan.borrower_name,
                    purpose=loan.purpose,
                    items=booked,
                    own=loan.borrower_id == viewer.id,
                    lines=lines,
                    outside=loan.party_id is not None,
                )
            )
        else:
            out.append(
                Booking(
                    loan_id=loan.id,
                    stage=stage,
                    start_on=loan.start_on,
                    due_on=due_on,
                    shown=False,
                    items=booked,
                    lines=lines,
                )
            )
    return out


def _line_held(loan: Loan, line) -> int:
    if line.handed_count is None:
        return line.count
    out = [i for i in loan.items if i.line_id == line.id and i.condition is None]
    return len(out) if loan.status == CHECKED_OUT else line.handed_count


def upcoming_for_asset(
    session: Session, viewer: User, asset_id: int, today: date, horizon_days: int = 730
) -> list[Booking]:
    """An asset's bookings from today on (and what is out now), as `viewer` may see them."""
    return bookings_between(session, viewer, today, today + timedelta(days=horizon_days), today, asset_id)
