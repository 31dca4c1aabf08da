"""Read-only queries for the pages of lending's records: the overdue list, the damage and loss cases, and
one loan's page (its photos, demands, cases and timeline). Nothing here writes; lending.loans.queries has
the request form, the queue, the lists, the home page's tasks and the notifications."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from core.db import Session
from core.models import StoredFile, User
from lending.loans.models import (
    Demand,
    Incident,
    IncidentDocument,
    Loan,
    LoanItem,
    LoanPhoto,
)
from lending.loans.queries import DEMAND_WINDOW_DAYS, _aware, _overdue_clause
from lending.outside.models import OutsideParty
from lending.register.models import Asset
from lending.register.queries import Page

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
