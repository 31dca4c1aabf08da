"""Read-only queries for the lending pages: the request form, the approval queue, the lists of loans, a
person's tasks, an asset's loans, dropped items and notifications (the overdue list, cases and one loan's
page: lending.loans.records).

Nothing here writes. Lists read plain columns where a page shows many rows; a page that acts on a loan
(queue, overdue) loads the Loan objects so that templates can ask the `can_*` predicates about them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Any, overload

from sqlalchemy import ColumnElement, and_, bindparam, case, exists, func, or_, select
from sqlalchemy.orm import aliased

from core.dates import bangkok_today, parse_date
from core.db import Session, contains
from core.models import User
from core.people.permissions import LOANS_VIEW_ALL
from lending.groups.models import LendingGroup, LoanLine
from lending.loans.bookings.availability import Clash, clashes, lendable, lendable_condition
from lending.loans.models import (
    APPROVED,
    CHECKED_OUT,
    LOAN_STATUSES,
    MAX_ITEMS,
    REQUESTED,
    Incident,
    Loan,
    LoanDrop,
    LoanItem,
    Notification,
    holds_assets,
    without_borrower_roles,
)
from lending.outside.models import OutsideParty
from lending.register.models import Asset
from lending.register.queries import Page

DEMAND_WINDOW_DAYS = 7  # regulation: demand the return within 7 days of the due date
QUEUE_LIMIT = 500
CATALOGUE_LIMIT = 30


@overload
def _aware(at: datetime) -> datetime: ...
@overload
def _aware(at: None) -> None: ...
def _aware(at: datetime | None) -> datetime | None:
    """SQLite gives naive datetimes back; they are UTC."""
    if at is not None and at.tzinfo is None:
        from datetime import UTC

        return at.replace(tzinfo=UTC)
    return at


# --- the request form ------------------------------------------------------------------------------


def assets_by_ids(session: Session, ids: list[int]) -> list[Asset]:
    """The chosen assets, in asset-number order (unknown ids are dropped)."""
    ids = sorted({int(i) for i in ids})[:MAX_ITEMS]
    if not ids:
        return []
    stmt = select(Asset).where(Asset.id.in_(ids)).order_by(Asset.asset_number)
    return list(session.execute(stmt).scalars())


def lendable_catalogue(
    session: Session,
    q: str,
    exclude: list[int],
    limit: int = CATALOGUE_LIMIT,
    free_from: date | None = None,
    free_to: date | None = None,
    today: date | None = None,
) -> tuple[Sequence[Any], int]:
    """Lendable assets matching a search (number, name, serial, location, and the search's synonyms), and
    how many match in all; with `free_from`/`free_to`, only those nobody holds on any of those days."""
    from lending.loans.bookings.queries import free_between
    from lending.register.queries import search_condition, search_support
    from lending.register.synonyms import search_keys

    conditions: list[ColumnElement[bool]] = [lendable_condition()]
    if q.strip():
        # The register's search: the same matches, through its trigram index where there is one.
        conditions.append(search_condition(search_keys(session, q), *search_support(session)))
    if exclude:
        conditions.append(Asset.id.not_in(exclude))
    if free_from is not None and free_to is not None:
        conditions.append(free_between(free_from, free_to, today or bangkok_today()))
    stmt = select(
        Asset.id, Asset.asset_number, Asset.name, Asset.category, Asset.location, Asset.status, Asset.price
    ).where(*conditions)
    count = select(func.count()).select_from(Asset).where(*conditions)
    rows = session.execute(stmt.order_by(Asset.asset_number).limit(limit)).all()
    return rows, session.execute(count).scalar_one()


@dataclass(frozen=True)
class Availability:
    asset: Asset
    free: bool
    lendable: bool
    clashes: tuple[Clash, ...] = ()


def availability(session: Session, assets: list[Asset], start_on: date, due_on: date) -> list[Availability]:
    """Whether each chosen asset is free for these dates (availability.clashes), without reserving anything."""
    found = clashes(session, [a.id for a in assets], start_on, due_on)
    by_asset: dict[int, list[Clash]] = defaultdict(list)
    for c in found:
        by_asset[c.asset_id].append(c)
    out = []
    for a in assets:
        ok = lendable(a)
        out.append(Availability(asset=a, free=ok and not by_asset[a.id], lendable=ok, clashes=tuple(by_asset[a.id])))
    return out


# --- the approval queue ----------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueRow:
    loan: Loan
    waiting_since: datetime
    waited: timedelta


QUEUE_PAGE = 20  # a queue is worked from the top: the oldest twenty of each stage, and how many wait


def approval_queue(session: Session, now: datetime) -> dict[str, list[QueueRow]]:
    """Requests waiting for the supply officer, and those waiting for the head; oldest first.

    Each stage lists its oldest QUEUE_PAGE requests; `approval_counts` tells how many wait in all.
    """
    return approval_queue_and_counts(session, now)[0]


def approval_counts(session: Session) -> dict[str, int]:
    """How many requests wait at each stage."""
    at_head = and_(Loan.needs_head.is_(True), Loan.officer_at.is_not(None))
    head, total = session.execute(
        select(func.coalesce(func.sum(case((at_head, 1), else_=0)), 0), func.count()).where(Loan.status == REQUESTED)
    ).one()
    return {"officer": total - head, "head": head}


def approval_queue_and_counts(session: Session, now: datetime) -> tuple[dict[str, list[QueueRow]], dict[str, int]]:
    """The approval queue and how many wait at each stage, in one statement: each waiting request is
    numbered within its stage (oldest first) and counted with it, and the first QUEUE_PAGE of each are
    loaded."""
    at_head = and_(Loan.needs_head.is_(True), Loan.officer_at.is_not(None))
    stage = case((at_head, "head"), else_="officer")
    numbered = (
        select(
            Loan.id.label("id"),
            stage.label("stage"),
            func.row_number().over(partition_by=stage, order_by=(Loan.requested_at, Loan.id)).label("n"),
            func.count().over(partition_by=stage).label("waiting"),
        )
        .where(Loan.status == REQUESTED)
        .subquery()
    )
    rows = session.execute(
        select(Loan, numbered.c.stage, numbered.c.waiting)
        .join(numbered, numbered.c.id == Loan.id)
        .where(numbered.c.n <= QUEUE_PAGE)
        .order_by(Loan.requested_at, Loan.id)
        .options(without_borrower_roles())
    ).all()
    out: dict[str, list[QueueRow]] = {"officer": [], "head": []}
    counts = {"officer": 0, "head": 0}
    for loan, at, waiting in rows:
        out[at].append(
            QueueRow(loan=loan, waiting_since=_aware(loan.requested_at), waited=now - _aware(loan.requested_at))
        )
        counts[at] = waiting
    return out, counts


# --- lists of loans --------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoanRow:
    id: int
    ref: str
    status: str
    borrower_name: str
    start_on: date
    due_on: date
    requested_at: datetime
    overdue: bool
    items: tuple[Any, ...] = ()
    channel: str = "staff"
    lines: tuple[Any, ...] = ()  # (group name, count) of a request by count


# The borrower's name: the user's, or the outside party's (a loan has one or the other).
_BORROWER_NAME = func.coalesce(User.name, OutsideParty.name).label("name")
_LIST_COLUMNS = (
    Loan.id,
    Loan.ref,
    Loan.status,
    _BORROWER_NAME,
    Loan.start_on,
    Loan.due_on,
    Loan.requested_at,
    Loan.channel,
)


def _with_borrower(stmt):
    return stmt.outerjoin(User, User.id == Loan.borrower_id).outerjoin(OutsideParty, OutsideParty.id == Loan.party_id)


def _open_items_exist():
    return exists().where(LoanItem.loan_id == Loan.id, LoanItem.condition.is_(None))


def _overdue_clause(today: date):
    return and_(Loan.status == CHECKED_OUT, Loan.due_on < today, _open_items_exist())


def _rows(session: Session, stmt, today: date) -> list[LoanRow]:
    rows = session.execute(stmt).all()
    if not rows:
        return []
    ids = [r.id for r in rows]
    items: dict[int, list[Any]] = defaultdict(list)
    for it in session.execute(
        select(LoanItem.loan_id, Asset.id.label("asset_id"), Asset.asset_number, Asset.name, LoanItem.condition)
        .join(Asset, Asset.id == LoanItem.asset_id)
        .where(LoanItem.loan_id.in_(ids))
        .order_by(LoanItem.loan_id, Asset.asset_number)
    ):
        items[it.loan_id].append(it)
    lines: dict[int, list[Any]] = defaultdict(list)
    for ln in session.execute(
        select(LoanLine.loan_id, LendingGroup.name, LoanLine.count)
        .join(LendingGroup, LendingGroup.id == LoanLine.group_id)
        .where(LoanLine.loan_id.in_(ids))
        .order_by(LoanLine.loan_id, LoanLine.id)
    ):
        lines[ln.loan_id].append((ln.name, ln.count))
    out = []
    for r in rows:
        its = items[r.id]
        overdue = r.status == CHECKED_OUT and r.due_on < today and any(i.condition is None for i in its)
        out.append(
            LoanRow(
                id=r.id,
                ref=r.ref,
                status=r.status,
                borrower_name=r.name,
                start_on=r.start_on,
                due_on=r.due_on,
                requested_at=_aware(r.requested_at),
                overdue=overdue,
                items=tuple(its),
                channel=r.channel,
                lines=tuple(lines[r.id]),
            )
        )
    return out


def my_loans(
    session: Session, user_id: int, today: date, page: int = 1, page_size: int = 50
) -> tuple[list[LoanRow], Page]:
    """A borrower's current loans (requested, approved, out) and a page of the past ones, newest first."""
    base = _with_borrower(select(*_LIST_COLUMNS)).where(Loan.borrower_id == user_id)
    current = _rows(
        session,
        base.where(Loan.status.in_((REQUESTED, APPROVED, CHECKED_OUT)))
        .order_by(Loan.requested_at.desc(), Loan.id.desc())
        .limit(QUEUE_LIMIT),
        today,
    )
    past_filter = and_(Loan.borrower_id == user_id, Loan.status.not_in((REQUESTED, APPROVED, CHECKED_OUT)))
    total = session.execute(select(func.count()).select_from(Loan).where(past_filter)).scalar_one()
    page = min(max(1, page), max(1, -(-total // page_size)))
    past = _rows(
        session,
        base.where(past_filter)
        .order_by(Loan.requested_at.desc(), Loan.id.desc())
        .limit(page_size)
        .offset((page - 1) * page_size),
        today,
    )
    return current, Page(rows=past, total=total, page=page, page_size=page_size)


@dataclass(frozen=True)
class LoanFilter:
    status: str = ""
    borrower: str = ""
    overdue: bool = False
    date_from: date | None = None
    date_to: date | None = None

    @classmethod
    def from_args(cls, args: Any) -> LoanFilter:
        def get(name: str) -> str:
            return (args.get(name) or "").strip()[:100]

        def day(name: str) -> date | None:
            try:
                return parse_date(get(name))
            except ValueError:
                return None

        status = get("status")
        return cls(
            status=status if status in LOAN_STATUSES else "",
            borrower=get("borrower"),
            overdue=get("overdue") in ("1", "y", "on", "yes"),
            date_from=day("from"),
            date_to=day("to"),
        )

    def as_args(self) -> dict[str, str]:
        from core.dates import format_numeric

        out = {
            "status": self.status,
            "borrower": self.borrower,
            "overdue": "1" if self.overdue else "",
            "from": format_numeric(self.date_from),
            "to": format_numeric(self.date_to),
        }
        return {k: v for k, v in out.items() if v}

    def apply(self, stmt, today: date):
        if self.status:
            stmt = stmt.where(Loan.status == self.status)
        if self.borrower:
            stmt = stmt.where(
                or_(
                    contains(User.name, self.borrower, ignore_case=True),
                    contains(User.username, self.borrower, ignore_case=True),
                    contains(OutsideParty.name, self.borrower, ignore_case=True),
                )
            )
        if self.overdue:
            stmt = stmt.where(_overdue_clause(today))
        # A loan is in the range when its days [start, due] overlap it.
        if self.date_from:
            stmt = stmt.where(Loan.due_on >= self.date_from)
        if self.date_to:
            stmt = stmt.where(Loan.start_on <= self.date_to)
        return stmt


def all_loans(session: Session, flt: LoanFilter, today: date, page: int = 1, page_size: int = 50) -> Page:
    """Every loan matching the filters, newest request first, a page at a time."""
    count = flt.apply(_with_borrower(select(func.count()).select_from(Loan)), today)
    total = session.execute(count).scalar_one()
    page = min(max(1, page), max(1, -(-total // page_size)))
    stmt = (
        flt.apply(_with_borrower(select(*_LIST_COLUMNS)), today)
        .order_by(Loan.requested_at.desc(), Loan.id.desc())
        .limit(page_size)
        .offset((page - 1) * page_size)
    )
    return Page(rows=_rows(session, stmt, today), total=total, page=page, page_size=page_size)


# --- a person's tasks (the home page) ----------------------------------------------------------------

HOME_ROWS = 5  # each list on the home page shows this many, with a link to the whole list


@dataclass(frozen=True)
class TaskList:
    count: int
    rows: list[LoanRow]


def _task_list(session: Session, where: Any, order_by: tuple, today: date, limit: int = HOME_ROWS) -> TaskList:
    count = session.execute(select(func.count()).select_from(Loan).where(where)).scalar_one()
    rows = (
        _rows(session, _with_borrower(select(*_LIST_COLUMNS)).where(where).order_by(*order_by).limit(limit), today)
        if count
        else []
    )
    return TaskList(count=count, rows=rows)


def _at_head():
    return and_(Loan.needs_head.is_(True), Loan.officer_at.is_not(None))


def waiting_for_officer(session: Session, user_id: int, today: date) -> TaskList:
    """Requests waiting for a supply officer's decision that this officer may decide (not their own)."""
    return _task_list(
        session,
        and_(Loan.status == REQUESTED, ~_at_head(), Loan.borrower_id != user_id),
        (Loan.requested_at, Loan.id),
        today,
    )


def waiting_for_head(session: Session, user_id: int, today: date) -> TaskList:
    """Requests waiting for the head's approval that this head may give (not their own, nor their own first
    approval)."""
    mine = or_(Loan.borrower_id == user_id, Loan.officer_id == user_id)
    return _task_list(session, and_(Loan.status == REQUESTED, _at_head(), ~mine), (Loan.requested_at, Loan.id), today)


def to_hand_over(session: Session, user_id: int, today: date) -> TaskList:
    """Approved loans whose first day has come (or passed) and that this officer may hand over."""
    return _task_list(
        session,
        and_(Loan.status == APPROVED, Loan.start_on <= today, Loan.borrower_id != user_id),
        (Loan.start_on, Loan.id),
        today,
    )


def returns_due(session: Session, today: date) -> TaskList:
    """Loans out with items due back today."""
    return _task_list(
        session, and_(Loan.status == CHECKED_OUT, Loan.due_on == today, _open_items_exist()), (Loan.id,), today
    )


def overdue_loans(session: Session, today: date) -> TaskList:
    """Loans with items still out after their due date, longest overdue first."""
    return _task_list(session, _overdue_clause(today), (Loan.due_on, Loan.id), today)


def open_incident_count(session: Session) -> int:
    return session.execute(select(func.count()).select_from(Incident).where(Incident.status == "open")).scalar_one()


def my_current_loans(session: Session, user_id: int, today: date) -> dict[str, TaskList]:
    """A borrower's own loans in progress, by what happens next: waiting, to collect, out, overdue."""
    mine = Loan.borrower_id == user_id
    return {
        "waiting": _task_list(session, and_(mine, Loan.status == REQUESTED), (Loan.requested_at, Loan.id), today),
        "to_collect": _task_list(session, and_(mine, Loan.status == APPROVED), (Loan.start_on, Loan.id), today),
        "out": _task_list(
            session,
            and_(mine, Loan.status == CHECKED_OUT, _open_items_exist(), Loan.due_on >= today),
            (Loan.due_on, Loan.id),
            today,
        ),
        "overdue": _task_list(session, and_(mine, _overdue_clause(today)), (Loan.due_on, Loan.id), today),
    }


def loan_drops(session: Session, loan_id: int) -> list[LoanDrop]:
    """The items approvers left out of this loan (partial approvals), with their reasons, in order."""
    return list(
        session.execute(
            select(LoanDrop).where(LoanDrop.loan_id == loan_id).order_by(LoanDrop.dropped_at, LoanDrop.id)
        ).scalars()
    )


def drops_by_loan(session: Session, loan_ids: set[int | None]) -> dict[int, dict[str, str]]:
    """For notifications: per loan, the asset numbers left out and the reasons given, as two lines of text."""
    ids = sorted(i for i in loan_ids if i)
    if not ids:
        return {}
    found: dict[int, tuple[list[str], list[str]]] = defaultdict(lambda: ([], []))
    for loan_id, number, reason in session.execute(
        select(LoanDrop.loan_id, Asset.asset_number, LoanDrop.reason)
        .join(Asset, Asset.id == LoanDrop.asset_id)
        .where(LoanDrop.loan_id.in_(ids))
        .order_by(LoanDrop.loan_id, LoanDrop.id)
    ):
        numbers, reasons = found[loan_id]
        numbers.append(number)
        if reason and reason not in reasons:
            reasons.append(reason)
    return {k: {"items": ", ".join(n), "reason": "; ".join(r)} for k, (n, r) in found.items()}


# --- an asset's loans ------------------------------------------------------------------------------


@cache
def _history_statement(see_all: bool, limit: int):
    """asset_loan_history's statement for those who see every loan or only their own, built once (every
    asset page asks): the asset and the borrower are bound parameters."""
    stmt = _with_borrower(
        select(
            Loan.id,
            Loan.ref,
            Loan.status,
            Loan.start_on,
            Loan.due_on,
            Loan.imported,
            _BORROWER_NAME,
            LoanItem.condition,
            LoanItem.returned_at,
            func.count().over().label("total"),  # how many in all, counted before the limit: one statement
        ).join(LoanItem, LoanItem.loan_id == Loan.id)
    ).where(LoanItem.asset_id == bindparam("asset_id"))
    if not see_all:
        stmt = stmt.where(Loan.borrower_id == bindparam("borrower_id"))
    return stmt.order_by(Loan.start_on.desc(), Loan.id.desc()).limit(limit)


@cache
def _held_statement(limit: int):
    """The days on which an asset is held (for those who do not see every loan), built once."""
    return (
        select(Loan.start_on, Loan.due_on, Loan.status)
        .join(LoanItem, LoanItem.loan_id == Loan.id)
        .where(LoanItem.asset_id == bindparam("asset_id"), holds_assets(), LoanItem.condition.is_(None))
        .order_by(Loan.start_on)
        .limit(limit)
    )


def asset_loan_history(session: Session, asset_id: int, viewer: User | None, limit: int = 20) -> dict[str, Any]:
    """The loans of one asset, newest first, with the item's condition on return.

    People who may see every loan see them all; others see their own loans of it and the days on which
    it is already held (dates only, no names), which is what they need to plan a request.
    """
    see_all = viewer is not None and viewer.can(LOANS_VIEW_ALL)
    params = {"asset_id": asset_id, "borrower_id": viewer.id if viewer is not None else -1}
    rows = session.execute(_history_statement(see_all, limit), params).all()
    total = rows[0].total if rows else 0
    held: Sequence[Any] = []
    if not see_all:
        held = session.execute(_held_statement(limit), {"asset_id": asset_id}).all()
    return {"rows": rows, "total": total, "see_all": see_all, "held": held}


# --- notifications ---------------------------------------------------------------------------------


def unread_count(session: Session, user_id: int) -> int:
    """Unread notifications of one person: a COUNT on the (user_id, read_at) index.

    A "waiting for your approval" about a request that is no longer waiting does not count: deciding marks
    them read (services._clear_waiting), and this keeps older ones from counting too."""
    return session.execute(_unread_statement(), {"user_id": user_id}).scalar_one()


@cache
def _unread_statement():
    """unread_count's statement, built once (every signed-in page counts): the user is a bound parameter."""
    decided = exists().where(Loan.id == Notification.loan_id, Loan.status != REQUESTED)
    return select(func.count(Notification.id)).where(
        Notification.user_id == bindparam("user_id"),
        Notification.read_at.is_(None),
        or_(Notification.kind != "request_waiting", ~decided),
    )


def notifications(session: Session, user_id: int, limit: int = 100) -> Sequence[Any]:
    """A person's latest notifications with the loan they are about."""
    borrower = aliased(User)
    return session.execute(
        select(
            Notification.id,
            Notification.kind,
            Notification.loan_id,
            Notification.created_at,
            Notification.read_at,
            Loan.ref,
            Loan.due_on,
            Loan.status.label("loan_status"),
            func.coalesce(borrower.name, OutsideParty.name).label("borrower_name"),
        )
        .outerjoin(Loan, Loan.id == Notification.loan_id)
        .outerjoin(borrower, borrower.id == Loan.borrower_id)
        .outerjoin(OutsideParty, OutsideParty.id == Loan.party_id)
        .where(Notification.user_id == user_id)
        .order_by(Notification.created_at.desc(), Notification.id.desc())
        .limit(limit)
    ).all()


def money_total(values: list[Decimal | None]) -> Decimal:
    return sum((v or Decimal(0) for v in values), Decimal(0))
