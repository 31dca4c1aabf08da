"""Read-only queries for the lending pages: queues, lists, overdue items, incidents, history, notifications.

Nothing here writes. Lists read plain columns where a page shows many rows; a page that acts on a loan
(queue, overdue) loads the Loan objects so that templates can ask the `can_*` predicates about them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, overload

from sqlalchemy import ColumnElement, and_, case, exists, func, or_, select
from sqlalchemy.orm import aliased

from core.dates import bangkok_today, parse_date
from core.db import Session, contains
from core.models import StoredFile, User
from core.people.permissions import LOANS_VIEW_ALL
from lending import workflow
from lending.groups.models import LendingGroup, LoanLine
from lending.loans import (
    APPROVED,
    CHECKED_OUT,
    LOAN_STATUSES,
    REQUESTED,
    Demand,
    Incident,
    IncidentDocument,
    Loan,
    LoanDrop,
    LoanItem,
    LoanPhoto,
    Notification,
    holds_assets,
    without_borrower_roles,
)
from lending.models import DISPOSED, IN_REPAIR, LOST, Asset
from lending.outside.models import OutsideParty
from lending.queries import Page

# Assets in these statuses are refused by workflow.request_loan; the catalogue leaves them out.
UNLENDABLE_STATUSES = (DISPOSED, LOST, IN_REPAIR)
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
    ids = sorted({int(i) for i in ids})[: workflow.MAX_ITEMS]
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
    from lending.bookings import free_between
    from lending.queries import search_condition, search_support
    from lending.synonyms import search_keys

    conditions: list[ColumnElement[bool]] = [Asset.lendable.is_(True), Asset.status.not_in(UNLENDABLE_STATUSES)]
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


def lendable(asset: Asset) -> bool:
    """Whether the asset may be asked for at all (workflow.request_loan refuses the others)."""
    return asset.lendable and asset.status not in UNLENDABLE_STATUSES


@dataclass(frozen=True)
class Availability:
    asset: Asset
    free: bool
    lendable: bool
    clashes: tuple[workflow.Clash, ...] = ()


def availability(session: Session, assets: list[Asset], start_on: date, due_on: date) -> list[Availability]:
    """Whether each chosen asset is free for these dates (workflow.clashes), without reserving anything."""
    found = workflow.clashes(session, [a.id for a in assets], start_on, due_on)
    by_asset: dict[int, list[workflow.Clash]] = defaultdict(list)
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


# --- overdue ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OverdueRow:
    loan: Loan
    item: LoanItem
    days_overdue: int
    last_demand_on: date | None
    timely_demand: bool  # a demand dated 1–7 days after the due date exists
    demand_deadline: date  # the due date + 7 days
    first_of_loan: bool = True  # the loan's first row carries its actions

    @property
    def no_timely_demand(self) -> bool:
        """No written demand within 7 days of the due date (made later, or not at all)."""
        return not self.timely_demand

    def demand_missed(self, today: date) -> bool:
        """The 7-day window has closed without a demand in it."""
        return not self.timely_demand and today > self.demand_deadline


def overdue_items(session: Session, today: date) -> list[OverdueRow]:
    """Items still out after their due date, most days overdue first, with their demand record."""
    loans = list(session.execute(select(Loan).where(_overdue_clause(today)).order_by(Loan.due_on, Loan.id)).scalars())
    if not loans:
        return []
    # A demand covers the items it names (Demand.item_ids), not every item of its loan.
    demands: dict[int, list[date]] = defaultdict(list)  # loan item → the days of the demands naming it
    for on, item_ids in session.execute(
        select(Demand.demanded_on, Demand.item_ids).where(Demand.loan_id.in_([lo.id for lo in loans]))
    ):
        for item_id in item_ids or ():
            demands[item_id].append(on)
    rows = []
    for loan in loans:
        deadline = loan.due_on + timedelta(days=DEMAND_WINDOW_DAYS)
        for n, item in enumerate(loan.open_items):
            days = demands[item.id]
            timely = any(loan.due_on < d <= deadline for d in days)
            rows.append(
                OverdueRow(
                    loan=loan,
                    item=item,
                    days_overdue=(today - loan.due_on).days,
                    last_demand_on=max(days) if days else None,
                    timely_demand=timely,
                    demand_deadline=deadline,
                    first_of_loan=n == 0,
                )
            )
    return rows


# --- incidents -------------------------------------------------------------------------------------


def incidents(session: Session, status: str, page: int = 1, page_size: int = 50) -> Page:
    """Damage and loss cases: open ones first, newest first; `status` "open", "settled" or "" for all."""
    borrower = aliased(User)
    cols = (
        Incident.id,
        Incident.kind,
        Incident.status,
        Incident.resolution,
        Incident.value,
        Incident.amount,
        Incident.opened_at,
        Asset.asset_number,
        Asset.name.label("asset_name"),
        Loan.id.label("loan_id"),
        Loan.ref,
        func.coalesce(borrower.name, OutsideParty.name).label("borrower_name"),
    )
    stmt = (
        select(*cols)
        .join(Asset, Asset.id == Incident.asset_id)
        .outerjoin(LoanItem, LoanItem.id == Incident.loan_item_id)
        .outerjoin(Loan, Loan.id == LoanItem.loan_id)
        .outerjoin(borrower, borrower.id == Loan.borrower_id)
        .outerjoin(OutsideParty, OutsideParty.id == Loan.party_id)
    )
    count = select(func.count()).select_from(Incident)
    if status in ("open", "settled"):
        stmt, count = stmt.where(Incident.status == status), count.where(Incident.status == status)
    total = session.execute(count).scalar_one()
    page = min(max(1, page), max(1, -(-total // page_size)))
    stmt = stmt.order_by((Incident.status == "open").desc(), Incident.opened_at.desc(), Incident.id.desc())
    rows = session.execute(stmt.limit(page_size).offset((page - 1) * page_size)).all()
    return Page(rows=rows, total=total, page=page, page_size=page_size)


def incident_documents(session: Session, incident_id: int) -> Sequence[Any]:
    return session.execute(
        select(
            IncidentDocument.id,
            IncidentDocument.title,
            IncidentDocument.added_at,
            StoredFile.mime,
            StoredFile.original_name,
            StoredFile.size,
            User.name.label("added_by"),
        )
        .join(StoredFile, StoredFile.sha256 == IncidentDocument.sha256)
        .outerjoin(User, User.id == IncidentDocument.added_by_id)
        .where(IncidentDocument.incident_id == incident_id)
        .order_by(IncidentDocument.id)
    ).all()


# --- one loan --------------------------------------------------------------------------------------


@dataclass
class Event:
    at: datetime
    kind: str
    who: str = ""
    note: str = ""
    data: dict[str, Any] = field(default_factory=dict)


def loan_photos(session: Session, loan_id: int) -> list[LoanPhoto]:
    return list(session.execute(select(LoanPhoto).where(LoanPhoto.loan_id == loan_id).order_by(LoanPhoto.id)).scalars())


def loan_demands(session: Session, loan_id: int) -> list[Demand]:
    return list(
        session.execute(
            select(Demand).where(Demand.loan_id == loan_id).order_by(Demand.demanded_at, Demand.id)
        ).scalars()
    )


def loan_incidents(session: Session, loan_id: int) -> list[Incident]:
    return list(
        session.execute(
            select(Incident)
            .join(LoanItem, LoanItem.id == Incident.loan_item_id)
            .where(LoanItem.loan_id == loan_id)
            .order_by(Incident.id)
        ).scalars()
    )


def loan_timeline(
    session: Session, loan: Loan, demands: list[Demand], cases: list[Incident], photos: list[LoanPhoto]
) -> list[Event]:
    """What happened to a loan, in order: request, approvals, hand-over, returns, demands, incidents."""
    names = _names(
        session,
        {
            loan.officer_id,
            loan.head_id,
            loan.decided_by_id,
            loan.checked_out_by_id,
            loan.cancelled_by_id,
            *(i.received_by_id for i in loan.items),
            *(d.issued_by_id for d in demands),
        },
    )
    by_stage: dict[tuple[str, int | None], list[int]] = defaultdict(list)
    for p in photos:
        by_stage[(p.stage, p.loan_item_id)].append(p.id)
    ev = [Event(_aware(loan.requested_at), "requested", loan.borrower_name, loan.purpose)]
    if loan.officer_at:
        kind = "officer_approved" if loan.needs_head else "approved"
        ev.append(Event(_aware(loan.officer_at), kind, names.get(loan.officer_id, "")))
    if loan.head_at:
        ev.append(Event(_aware(loan.head_at), "head_approved", names.get(loan.head_id, "")))
    if loan.decided_at and loan.status == "rejected":
        ev.append(Event(_aware(loan.decided_at), "rejected", names.get(loan.decided_by_id, ""), loan.decision_note))
    elif loan.decided_at and not loan.officer_at and not loan.head_at:  # e.g. imported from the paper ledger
        ev.append(Event(_aware(loan.decided_at), "approved", names.get(loan.decided_by_id, "")))
    if loan.cancelled_at and loan.cancelled_by_id is not None:  # the office cancelled an outside request
        ev.append(
            Event(
                _aware(loan.cancelled_at),
                "cancelled_by_office",
                names.get(loan.cancelled_by_id, ""),
                loan.decision_note,
            )
        )
    elif loan.cancelled_at:
        ev.append(Event(_aware(loan.cancelled_at), "cancelled", loan.borrower_name, loan.decision_note))
    if loan.checked_out_at:
        ev.append(
            Event(
                _aware(loan.checked_out_at),
                "handed_over",
                names.get(loan.checked_out_by_id, ""),
                loan.handover_note,
                {"photos": by_stage[("handover", None)]},
            )
        )
    if loan.receipt_confirmed_at:
        ev.append(Event(_aware(loan.receipt_confirmed_at), "receipt_confirmed", loan.borrower_name))
    # items of a request by count that came back good together are one event: "78 × plastic chairs"
    together: dict[tuple[Any, ...], list[LoanItem]] = defaultdict(list)
    for item in loan.items:
        if (
            item.returned_at
            and item.line_id is not None
            and item.condition == "good"
            and not by_stage[("return", item.id)]
        ):
            together[(item.line_id, item.returned_at, item.received_by_id)].append(item)
    groups_of = {ln.id: ln.group.name for ln in loan.lines}
    for (line_id, at, by), items in together.items():
        ev.append(
            Event(
                _aware(at),
                "items_returned",
                names.get(by, ""),
                "",
                {
                    "count": len(items),
                    "group": groups_of.get(line_id, ""),
                    "condition": "good",
                    "late": _bkk(at) > loan.due_on,
                },
            )
        )
    grouped = {i.id for items in together.values() for i in items}
    for item in loan.items:
        if item.returned_at and item.id not in grouped:
            ev.append(
                Event(
                    _aware(item.returned_at),
                    "item_returned",
                    names.get(item.received_by_id, ""),
                    item.return_note,
                    {
                        "item": item,
                        "condition": item.condition,
                        "photos": by_stage[("return", item.id)],
                        "late": item.returned_at is not None and _bkk(item.returned_at) > loan.due_on,
                    },
                )
            )
    for d in demands:
        ev.append(Event(_aware(d.demanded_at), "demand", names.get(d.issued_by_id, ""), "", {"demand": d}))
    for c in cases:
        ev.append(Event(_aware(c.opened_at), "incident", "", c.description, {"incident": c}))
    if loan.returned_at:
        ev.append(Event(_aware(loan.returned_at), "returned"))
    order = {
        "requested": 0,
        "officer_approved": 1,
        "approved": 2,
        "head_approved": 2,
        "rejected": 2,
        "cancelled": 3,
        "cancelled_by_office": 3,
        "handed_over": 4,
        "receipt_confirmed": 5,
        "item_returned": 6,
        "items_returned": 6,
        "incident": 7,
        "demand": 6,
        "returned": 8,
    }
    ev.sort(key=lambda e: (e.at, order.get(e.kind, 9)))
    return ev


def _bkk(at: datetime) -> date:
    from core.dates import bangkok_date

    return bangkok_date(at)


def _names(session: Session, ids: set[int | None]) -> dict[int | None, str]:  # a None id has no name
    ids = {i for i in ids if i}
    if not ids:
        return {}
    return dict(session.execute(select(User.id, User.name).where(User.id.in_(ids))).all())


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


def asset_loan_history(session: Session, asset_id: int, viewer: User | None, limit: int = 20) -> dict[str, Any]:
    """The loans of one asset, newest first, with the item's condition on return.

    People who may see every loan see them all; others see their own loans of it and the days on which
    it is already held (dates only, no names), which is what they need to plan a request.
    """
    see_all = viewer is not None and viewer.can(LOANS_VIEW_ALL)
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
    ).where(LoanItem.asset_id == asset_id)
    if not see_all:
        stmt = stmt.where(Loan.borrower_id == (viewer.id if viewer is not None else -1))
    rows = session.execute(stmt.order_by(Loan.start_on.desc(), Loan.id.desc()).limit(limit)).all()
    total = rows[0].total if rows else 0
    held: Sequence[Any] = []
    if not see_all:
        held = session.execute(
            select(Loan.start_on, Loan.due_on, Loan.status)
            .join(LoanItem, LoanItem.loan_id == Loan.id)
            .where(LoanItem.asset_id == asset_id, holds_assets(), LoanItem.condition.is_(None))
            .order_by(Loan.start_on)
            .limit(limit)
        ).all()
    return {"rows": rows, "total": total, "see_all": see_all, "held": held}


# --- notifications ---------------------------------------------------------------------------------


def unread_count(session: Session, user_id: int) -> int:
    """Unread notifications of one person: a COUNT on the (user_id, read_at) index.

    A "waiting for your approval" about a request that is no longer waiting does not count: deciding marks
    them read (workflow._clear_waiting), and this keeps older ones from counting too."""
    decided = exists().where(Loan.id == Notification.loan_id, Loan.status != REQUESTED)
    return session.execute(
        select(func.count(Notification.id)).where(
            Notification.user_id == user_id,
            Notification.read_at.is_(None),
            or_(Notification.kind != "request_waiting", ~decided),
        )
    ).scalar_one()


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
