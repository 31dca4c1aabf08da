"""The lending workflow: one service per action. Each loads, checks who may act, applies one transition
of lending/loans.py, records its audit entry and commits — or raises and changes nothing.

Segregation of duties: nobody decides, hands over or inspects their own loan. Availability: no asset is
in two approved or handed-over loans for overlapping dates; approval takes a lock on the assets (row
locks on PostgreSQL, the write lock on SQLite) before it checks, so two officers approving at the same
instant cannot both win.
"""

from __future__ import annotations

import functools
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import CursorResult, and_, or_, select, text
from sqlalchemy.orm.exc import StaleDataError

from audit import record
from audit.services import diff
from core.dates import bangkok_date, fiscal_year_of, format_date
from core.db import N_, Conflict, DomainError, Forbidden, NotFound, Session, begin_write, known, utcnow
from core.files import FileStore, store_upload
from core.models import User
from core.people.permissions import LOANS_HEAD, LOANS_MANAGE, LOANS_REQUEST
from core.people.services import get_settings
from lending.groups.reservations import capacity_error
from lending.loans import (
    APPROVED,
    CHECKED_OUT,
    DAMAGED,
    GOOD,
    LOST,
    MAX_ITEMS,
    MAX_LOAN_DAYS,
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
)
from lending.models import AVAILABLE, DISPOSED, IN_REPAIR, ON_LOAN, Asset
from lending.outside import events as outside_events

PHOTO_TYPES = {"image/jpeg", "image/png", "image/webp"}
DOCUMENT_TYPES = PHOTO_TYPES | {"application/pdf"}


# --- who may ---------------------------------------------------------------------------------------


def can_request(user: User | None) -> bool:
    return user is not None and user.can(LOANS_REQUEST)


def can_decide(user: User | None, loan: Loan) -> bool:
    """Approve or reject: the officer first, the head where the policy asks; never one's own loan."""
    if user is None or loan.status != REQUESTED or loan.borrower_id == user.id:
        return False
    if loan.waiting_for_head:
        # the second approval is a second person's: whoever gave the officer's approval does not give it
        return user.can(LOANS_HEAD) and loan.officer_id != user.id
    return user.can(LOANS_MANAGE)


def can_hand_over(user: User | None, loan: Loan) -> bool:
    return user is not None and loan.status == APPROVED and user.can(LOANS_MANAGE) and loan.borrower_id != user.id


def can_receive(user: User | None, loan: Loan) -> bool:
    return user is not None and loan.status == CHECKED_OUT and user.can(LOANS_MANAGE) and loan.borrower_id != user.id


def can_cancel(user: User | None, loan: Loan) -> bool:
    return user is not None and loan.borrower_id == user.id and loan.status in (REQUESTED, APPROVED)


def can_confirm_receipt(user: User | None, loan: Loan) -> bool:
    return (
        user is not None
        and loan.borrower_id == user.id
        and loan.status in (CHECKED_OUT, "returned")
        and loan.receipt_confirmed_at is None
    )


def can_demand(user: User | None, loan: Loan, today: date) -> bool:
    return user is not None and user.can(LOANS_MANAGE) and loan.is_overdue(today)


def can_settle(user: User | None, incident: Incident) -> bool:
    if user is None or incident.status != "open":
        return False
    borrower_id = incident.loan_item.loan.borrower_id if incident.loan_item else None
    return (user.can(LOANS_MANAGE) or user.can(LOANS_HEAD)) and borrower_id != user.id


def can_view_loan(user: User | None, loan: Loan) -> bool:
    from core.people.permissions import LOANS_VIEW_ALL

    return user is not None and (loan.borrower_id == user.id or user.can(LOANS_VIEW_ALL))


def _refuse_stale(service):
    """A concurrent update of the same row (version_id_col) is refused as a Conflict, never a 500.

    Row locks make this rare (an asset edited on its own page while an item of it is received back), but
    whatever was changed first is kept and the second person is told to reload.
    """

    @functools.wraps(service)
    def wrapper(session: Session, *args, **kwargs):
        try:
            return service(session, *args, **kwargs)
        except StaleDataError:
            session.rollback()
            message = N_("Someone else changed this record after you opened it. Reload and try again.")
            raise Conflict(message) from None

    return wrapper


def _deny() -> None:
    raise Forbidden(N_("You may not do this."))


# --- helpers ---------------------------------------------------------------------------------------


def _load_loan(session: Session, loan_id: int, version: int | None = None) -> Loan:
    """The loan, locked for this transaction (FOR UPDATE on PostgreSQL; SQLite's write lock is already held).

    Two officers acting on one loan at once then queue here, and the second sees the first one's result:
    its status, version and items are read after the first commits, so it is refused with a clear message
    instead of a lost update or a StaleDataError.
    """
    loan = session.get(Loan, loan_id, with_for_update={"of": Loan}, populate_existing=True)
    if loan is None:
        session.rollback()
        raise NotFound(N_("No such loan."))
    if version is not None and loan.version != version:
        session.rollback()
        raise Conflict(N_("Someone else changed this loan after you opened the page. Reload it and try again."))
    return loan


def _notify(session: Session, user_ids: Iterable[int | None], kind: str, loan_id: int | None, today: date) -> None:
    """One notification of a kind per person per loan per day; one query for all, not one per person."""
    ids = {u for u in user_ids if u is not None}  # an outside borrower has no account to notify
    if not ids:
        return
    already = set(
        session.execute(
            select(Notification.user_id).where(
                Notification.user_id.in_(sorted(ids)),
                Notification.kind == kind,
                Notification.loan_id == loan_id,
                Notification.day == today,
            )
        ).scalars()
    )
    session.add_all(
        [Notification(user_id=user_id, kind=kind, loan_id=loan_id, day=today) for user_id in sorted(ids - already)]
    )


def _users_with_role(session: Session, role: str) -> list[User]:
    from core.models import UserRole

    return list(
        session.execute(select(User).join(UserRole).where(UserRole.role == role, User.active.is_(True))).scalars()
    )


@dataclass(frozen=True)
class Clash:
    asset_id: int
    asset_number: str
    loan_ref: str
    start_on: date
    due_on: date
    reserved: bool = False  # held by a request the supply officer approved, waiting for the head
    loan_id: int | None = field(default=None, compare=False)  # the holding loan (its ref names it), for a link


def clashes(
    session: Session,
    asset_ids: list[int],
    start_on: date,
    due_on: date,
    exclude_loan_id: int | None = None,
    today: date | None = None,
) -> list[Clash]:
    """Loans that hold any of these assets on days that overlap [start_on, due_on].

    An approved or handed-over loan holds its assets from its start to its due date, and so does a request
    the supply officer approved while it waits for the head (loans.holds_assets); an item that is out past
    its due date holds its asset until it comes back, since nobody knows when that will be.
    """
    if not asset_ids:
        return []
    today = today or bangkok_date(utcnow())
    stmt = (
        select(LoanItem.asset_id, Asset.asset_number, Loan.ref, Loan.start_on, Loan.due_on, Loan.status, Loan.id)
        .join(Loan, Loan.id == LoanItem.loan_id)
        .join(Asset, Asset.id == LoanItem.asset_id)
        .where(
            LoanItem.asset_id.in_(asset_ids),
            holds_assets(),
            LoanItem.condition.is_(None),
            Loan.start_on <= due_on,
            or_(Loan.due_on >= start_on, and_(Loan.status == CHECKED_OUT, Loan.due_on < today)),
        )
    )
    if exclude_loan_id is not None:
        stmt = stmt.where(Loan.id != exclude_loan_id)
    return [
        Clash(asset_id, number, ref, start, due, reserved=status == REQUESTED, loan_id=holder)
        for asset_id, number, ref, start, due, status, holder in session.execute(stmt.order_by(Asset.asset_number))
    ]


def _lock_assets(session: Session, asset_ids: list[int]) -> list[Asset]:
    stmt = select(Asset).where(Asset.id.in_(sorted(asset_ids))).order_by(Asset.id)
    if session.get_bind().dialect.name != "sqlite":
        stmt = stmt.with_for_update()
    return list(session.execute(stmt.execution_options(populate_existing=True)).scalars())


def _clash_error(found: list[Clash]) -> DomainError:
    """The refusal names the asset and the request that holds it, with its days (dates: B.E. where shown)."""
    c = found[0]
    if c.reserved:
        return Conflict(
            N_(
                "%(number)s is reserved for those days by request %(ref)s (%(start)s – %(due)s), "
                "approved by the supply officer and waiting for the head of agency."
            ),
            number=c.asset_number,
            ref=c.loan_ref,
            start=c.start_on,
            due=c.due_on,
        )
    return Conflict(
        N_("%(number)s is already lent for those days (loan %(ref)s, %(start)s – %(due)s)."),
        number=c.asset_number,
        ref=c.loan_ref,
        start=c.start_on,
        due=c.due_on,
    )


def needs_head_approval(settings: dict[str, Any], assets: list[Asset], off_premises: bool) -> bool:
    threshold = Decimal(str(settings.get("head_approval_threshold") or "0"))
    if off_premises and settings.get("head_approval_off_premises", True):
        return True
    return threshold > 0 and any((a.price or Decimal(0)) >= threshold for a in assets)


def _store_photos(
    session: Session,
    store: FileStore | None,
    photos: list[tuple[bytes, str]],
    actor: User,
    max_bytes: int,
    loan: Loan,
    stage: str,
    item_id: int | None = None,
) -> list[str]:
    hashes = []
    for data, name in photos:
        stored = store_upload(
            session,
            known(store, "file store"),
            data,
            name,
            allowed=PHOTO_TYPES,
            max_bytes=max_bytes,
            uploaded_by_id=actor.id,
        )
        session.add(
            LoanPhoto(loan_id=loan.id, loan_item_id=item_id, stage=stage, sha256=stored.sha256, added_by_id=actor.id)
        )
        hashes.append(stored.sha256)
    return hashes


# --- the actions -----------------------------------------------------------------------------------


@_refuse_stale
def request_loan(
    session: Session,
    actor: User,
    asset_ids: list[int],
    *,
    purpose: str,
    place: str,
    off_premises: bool,
    start_on: date,
    due_on: date,
    now: datetime | None = None,
) -> Loan:
    """A written request for one or more lendable assets, for official use, with its dates."""
    if not can_request(actor):
        _deny()
    now = now or utcnow()
    today = bangkok_date(now)
    ids = sorted({int(i) for i in asset_ids})
    purpose, place = (purpose or "").strip(), (place or "").strip()
    if not ids:
        raise DomainError(N_("Choose at least one item."))
    if len(ids) > MAX_ITEMS:
        raise DomainError(N_("At most %(n)d items in one request."), n=MAX_ITEMS)
    if not purpose:
        raise DomainError(N_("State the official purpose of the loan."))
    if len(purpose) > 2000 or len(place) > 300:
        raise DomainError(N_("The purpose or the place is too long."))
    if not place:
        raise DomainError(N_("State where the items will be used."))
    if start_on < today:
        raise DomainError(N_("The loan cannot start in the past."))
    if due_on < start_on:
        raise DomainError(N_("The return date is before the start date."))
    if (due_on - start_on).days > MAX_LOAN_DAYS:
        raise DomainError(N_("A loan lasts at most %(days)d days."), days=MAX_LOAN_DAYS)
    begin_write(session)
    assets = _lock_assets(session, ids)
    if len(assets) != len(ids):
        session.rollback()
        raise NotFound(N_("One of the chosen items does not exist."))
    for a in assets:
        if not a.lendable or a.status in (DISPOSED, "lost", IN_REPAIR):
            session.rollback()
            raise DomainError(N_("%(number)s cannot be lent (%(name)s)."), number=a.asset_number, name=a.name)
    found = clashes(session, ids, start_on, due_on, today=today)
    if found:
        session.rollback()
        raise _clash_error(found)
    settings = get_settings(session)
    loan = Loan(
        ref=f"pending-{uuid.uuid4().hex}",
        borrower_id=actor.id,
        purpose=purpose,
        place=place,
        off_premises=bool(off_premises),
        start_on=start_on,
        due_on=due_on,
        status=REQUESTED,
        requested_at=now,
        needs_head=needs_head_approval(settings, assets, bool(off_premises)),
    )
    loan.items = [LoanItem(asset_id=a.id, value=a.price) for a in assets]
    session.add(loan)
    session.flush()
    loan.ref = f"{fiscal_year_of(today)}/{loan.id:05d}"
    record(session, actor, "loan.requested", loan, {"after": loan.state()})
    _notify(
        session,
        {u.id for u in _users_with_role(session, "supply_officer")} - {actor.id},
        "request_waiting",
        loan.id,
        today,
    )
    session.commit()
    return loan


@_refuse_stale
def approve_loan(
    session: Session,
    actor: User,
    loan_id: int,
    version: int | None = None,
    now: datetime | None = None,
    *,
    drop_item_ids: list[int] | None = None,
    drop_reason: str = "",
) -> Loan:
    """The officer's approval, or the head's second one; either may leave items out, with a reason.

    Every approval reserves: the officer's first one holds the assets until the head decides, so a later
    request for the same days is refused (naming this one) instead of failing at the head's approval. The
    assets are locked before they are checked, so of two approvers at the same instant one wins. Items in
    `drop_item_ids` are left out of the loan (a partial approval: the clashing items dropped, the rest
    approved); the borrower reads `drop_reason` on the loan page and in the notification.
    """
    now = now or utcnow()
    today = bangkok_date(now)
    begin_write(session)
    loan = _load_loan(session, loan_id, version)
    if not can_decide(actor, loan):
        session.rollback()
        if loan.status != REQUESTED:
            raise Conflict(N_("This request has already been decided."))
        _deny()
    before = loan.state()
    stage = "head" if loan.waiting_for_head else "officer"
    reason = (drop_reason or "").strip()[:2000]
    try:
        dropping = loan.items_to_drop(drop_item_ids or [], reason)
    except DomainError:
        session.rollback()
        raise
    keep = [i.asset_id for i in loan.items if i not in dropping]
    _lock_assets(session, keep)
    found = clashes(session, keep, loan.start_on, loan.due_on, loan.id, today)
    if found:
        session.rollback()
        raise _clash_error(found)
    dropped = [
        {"item": i.id, "asset": i.asset_id, "asset_number": i.asset.asset_number, "name": i.asset.name}
        for i in dropping
    ]
    for item in dropping:
        session.add(
            LoanDrop(
                loan_id=loan.id,
                asset_id=item.asset_id,
                value=item.value,
                stage=stage,
                reason=reason,
                dropped_at=now,
                dropped_by_id=actor.id,
            )
        )
        session.delete(item)
    if dropping:
        session.flush()
        session.expire(loan, ["items"])
    short = capacity_error(session, loan, bangkok_date(now))  # counts from lending groups, every step
    if short is not None:
        session.rollback()
        raise short
    if loan.waiting_for_head:
        loan.approve_as_head(actor, now)
        action = "loan.approved"
    elif loan.approve_as_officer(actor, now):
        action = "loan.approved"
    else:
        action = "loan.officer_approved"
        _notify(
            session,
            {u.id for u in _users_with_role(session, "head")} - {loan.borrower_id},
            "request_waiting",
            loan.id,
            today,
        )
    data = diff(before, loan.state())
    if dropped:
        data.update({"dropped": dropped, "drop_reason": reason})
    record(session, actor, action, loan, data)
    if action == "loan.approved":
        _notify(session, {loan.borrower_id}, "approved", loan.id, today)
    elif dropped:  # the head decides later; the borrower learns now what was left out and why
        _notify(session, {loan.borrower_id}, "items_dropped", loan.id, today)
    if action == "loan.approved" or stage == "officer":
        _clear_waiting(session, loan.id, now, keep_role="head" if action == "loan.officer_approved" else None)
    session.commit()
    if action == "loan.approved":
        outside_events.emit(session, loan, "approved")
    return loan


def _clear_waiting(session: Session, loan_id: int, now: datetime, keep_role: str | None = None) -> None:
    """Once a request is decided (or has passed the officer's stage), the "waiting for your approval"
    notifications others got for it are marked read: they no longer ask anything of anyone. Those of
    `keep_role` (the heads, while the request waits for them) stay."""
    from sqlalchemy import update

    stmt = update(Notification).where(
        Notification.loan_id == loan_id, Notification.kind == "request_waiting", Notification.read_at.is_(None)
    )
    if keep_role is not None:
        from core.models import UserRole

        stmt = stmt.where(Notification.user_id.not_in(select(UserRole.user_id).where(UserRole.role == keep_role)))
    session.execute(stmt.values(read_at=now).execution_options(synchronize_session=False))


@_refuse_stale
def reject_loan(
    session: Session, actor: User, loan_id: int, reason: str, version: int | None = None, now: datetime | None = None
) -> Loan:
    """Refuse a request, with the reason the borrower will read."""
    now = now or utcnow()
    begin_write(session)
    loan = _load_loan(session, loan_id, version)
    if not can_decide(actor, loan):
        session.rollback()
        if loan.status != REQUESTED:
            raise Conflict(N_("This request has already been decided."))
        _deny()
    before = loan.state()
    try:
        loan.reject(actor, now, (reason or "")[:2000])
    except DomainError:
        session.rollback()
        raise
    record(session, actor, "loan.rejected", loan, diff(before, loan.state()))
    _notify(session, {loan.borrower_id}, "rejected", loan.id, bangkok_date(now))
    _clear_waiting(session, loan.id, now)
    session.commit()
    outside_events.emit(session, loan, "rejected")
    return loan


@_refuse_stale
def cancel_loan(
    session: Session,
    actor: User,
    loan_id: int,
    reason: str = "",
    version: int | None = None,
    now: datetime | None = None,
) -> Loan:
    """The borrower withdraws the request, until hand-over."""
    now = now or utcnow()
    begin_write(session)
    loan = _load_loan(session, loan_id, version)
    if loan.borrower_id != actor.id:
        session.rollback()
        _deny()
    before = loan.state()
    try:
        loan.cancel(now, (reason or "")[:2000])
    except DomainError:
        session.rollback()
        raise
    record(session, actor, "loan.cancelled", loan, diff(before, loan.state()))
    _clear_waiting(session, loan.id, now)
    session.commit()
    outside_events.emit(session, loan, "cancelled")
    return loan


@_refuse_stale
def hand_over(
    session: Session,
    actor: User,
    loan_id: int,
    *,
    note: str = "",
    version: int | None = None,
    photos: list[tuple[bytes, str]] | None = None,
    store: FileStore | None = None,
    max_bytes: int = 25 * 1024 * 1024,
    now: datetime | None = None,
) -> Loan:
    """Give the items to the borrower: date and time, condition notes, optional photos."""
    now = now or utcnow()
    begin_write(session)
    loan = _load_loan(session, loan_id, version)
    if not can_hand_over(actor, loan):
        session.rollback()
        if loan.status != APPROVED:
            raise Conflict(N_("Only an approved loan can be handed over."))
        _deny()
    if loan.lines:  # a request by count names its assets as they leave: lending.groups.services.hand_over_lines
        session.rollback()
        raise DomainError(N_("Pick the items that leave on the hand-over page."))
    assets = _lock_assets(session, [i.asset_id for i in loan.items])
    for asset in assets:
        if asset.status != AVAILABLE:
            session.rollback()
            raise Conflict(
                N_("%(number)s is not available (status: %(status)s)."), number=asset.asset_number, status=asset.status
            )
    before = loan.state()
    loan.hand_over(actor, now, (note or "")[:2000])
    for asset in assets:
        asset.status = ON_LOAN
    try:
        hashes = _store_photos(session, store, photos or [], actor, max_bytes, loan, "handover")
    except DomainError:
        session.rollback()
        raise
    record(
        session,
        actor,
        "loan.checked_out",
        loan,
        {**diff(before, loan.state()), "note": loan.handover_note, "photos": hashes},
    )
    session.commit()
    return loan


@_refuse_stale
def confirm_receipt(
    session: Session, actor: User, loan_id: int, now: datetime | None = None, version: int | None = None
) -> Loan:
    """The borrower confirms in the app that they received the items."""
    now = now or utcnow()
    begin_write(session)
    loan = _load_loan(session, loan_id, version)
    if loan.borrower_id != actor.id:
        session.rollback()
        _deny()
    try:
        loan.confirm_receipt(now)
    except DomainError:
        session.rollback()
        raise
    record(session, actor, "loan.receipt_confirmed", loan, {})
    session.commit()
    return loan


@dataclass(frozen=True)
class ItemReturn:
    item_id: int
    condition: str
    note: str = ""
    photos: tuple[tuple[bytes, str], ...] = ()


@_refuse_stale
def receive_items(
    session: Session,
    actor: User,
    loan_id: int,
    returns: list[ItemReturn],
    *,
    version: int | None = None,
    store: FileStore | None = None,
    max_bytes: int = 25 * 1024 * 1024,
    now: datetime | None = None,
) -> Loan:
    """Receive items back one by one, each inspected as good, damaged or lost; the rest stay out.

    A damaged or lost item opens an incident case carrying its value at the time of borrowing.
    """
    now = now or utcnow()
    if not returns:
        raise DomainError(N_("Choose at least one item that came back."))
    begin_write(session)
    loan = _load_loan(session, loan_id, version)
    if not can_receive(actor, loan):
        session.rollback()
        if loan.status != CHECKED_OUT:
            raise Conflict(N_("Only items that were handed over can be returned."))
        _deny()
    by_id = {i.id: i for i in loan.items}
    try:
        for ret in returns:
            item = by_id.get(ret.item_id)
            if item is None:
                raise NotFound(N_("That item is not part of this loan."))
            if ret.condition in (DAMAGED, LOST) and not (ret.note or "").strip():
                raise DomainError(
                    N_("%(number)s is marked damaged or lost: describe the damage or the loss."),
                    number=item.asset.asset_number,
                )
            item.record_return(actor, now, ret.condition, (ret.note or "")[:2000])
            asset = item.asset
            asset.status = {GOOD: AVAILABLE, DAMAGED: IN_REPAIR, LOST: "lost"}[ret.condition]
            hashes = _store_photos(session, store, list(ret.photos), actor, max_bytes, loan, "return", item.id)
            record(
                session,
                actor,
                "loan.item_returned",
                item,
                {
                    "loan": loan.id,
                    "asset": asset.id,
                    "asset_number": asset.asset_number,
                    "condition": ret.condition,
                    "note": item.return_note,
                    "late": bangkok_date(now) > loan.due_on,
                    "photos": hashes,
                },
            )
            if ret.condition in (DAMAGED, LOST):
                incident = Incident(
                    loan_item_id=item.id,
                    asset_id=asset.id,
                    kind=ret.condition,
                    value=item.value,
                    description=item.return_note,
                    opened_at=now,
                    opened_by_id=actor.id,
                )
                session.add(incident)
                session.flush()
                record(
                    session,
                    actor,
                    "incident.opened",
                    incident,
                    {"kind": ret.condition, "value": item.value, "asset": asset.id, "loan": loan.id},
                )
    except DomainError:
        session.rollback()
        raise
    returned = loan.settle_if_complete(now)
    if returned:
        record(session, actor, "loan.returned", loan, {"status": "returned"})
    session.commit()
    if returned:
        outside_events.emit(session, loan, "returned")
    return loan


@_refuse_stale
def settle_incident(
    session: Session,
    actor: User,
    incident_id: int,
    resolution: str,
    *,
    amount: Decimal | None = None,
    note: str = "",
    version: int | None = None,
    now: datetime | None = None,
) -> Incident:
    """End a damage or loss case: repaired at the borrower's cost, replaced in kind, paid, or written off."""
    now = now or utcnow()
    begin_write(session)
    incident = session.get(Incident, incident_id, with_for_update={"of": Incident}, populate_existing=True)
    if incident is None:
        session.rollback()
        raise NotFound(N_("No such case."))
    if version is not None and incident.version != version:
        session.rollback()
        raise Conflict(N_("Someone else changed this case after you opened the page. Reload it and try again."))
    if not can_settle(actor, incident):
        session.rollback()
        if incident.status != "open":
            raise Conflict(N_("This case is already settled."))
        _deny()
    try:
        incident.settle(actor, now, resolution, amount, (note or "")[:2000], is_head=actor.can(LOANS_HEAD))
    except DomainError:
        session.rollback()
        raise
    if resolution == "repaired" and incident.asset.status == IN_REPAIR:
        incident.asset.status = AVAILABLE
    record(
        session,
        actor,
        "incident.settled",
        incident,
        {"resolution": resolution, "amount": amount, "note": incident.resolution_note},
    )
    session.commit()
    return incident


@_refuse_stale
def attach_incident_document(
    session: Session,
    actor: User,
    incident_id: int,
    data: bytes,
    filename: str,
    title: str,
    store: FileStore,
    max_bytes: int,
) -> IncidentDocument:
    """Attach a document (receipt of repair, payment slip, committee report) to a case.

    The same file attached to the same case again (a double submit, two officers at once) is the document
    already there: no second copy, no second entry. The case's row is locked while it is decided."""
    if not (actor.can(LOANS_MANAGE) or actor.can(LOANS_HEAD)):
        _deny()
    begin_write(session)
    session.execute(select(Incident.id).where(Incident.id == incident_id).with_for_update())  # see above
    incident = session.get(Incident, incident_id)
    if incident is None:
        session.rollback()
        raise NotFound(N_("No such case."))
    try:
        stored = store_upload(
            session, store, data, filename, allowed=DOCUMENT_TYPES, max_bytes=max_bytes, uploaded_by_id=actor.id
        )
    except DomainError:
        session.rollback()
        raise
    existing = (
        session.execute(
            select(IncidentDocument).where(
                IncidentDocument.incident_id == incident.id, IncidentDocument.sha256 == stored.sha256
            )
        )
        .scalars()
        .first()
    )
    if existing is not None:
        session.rollback()  # nothing new: the file and its row are already there
        return existing
    doc = IncidentDocument(
        incident_id=incident.id, sha256=stored.sha256, title=(title or stored.original_name)[:255], added_by_id=actor.id
    )
    session.add(doc)
    session.flush()
    record(
        session,
        actor,
        "incident.document_added",
        incident,
        {"sha256": stored.sha256, "title": doc.title, "name": stored.original_name},
    )
    session.commit()
    return doc


@_refuse_stale
def issue_demand_letter(
    session: Session, actor: User, loan_id: int, now: datetime | None = None, version: int | None = None
) -> Demand:
    """A printable written demand for the loan's overdue items, recorded as a demand."""
    now = now or utcnow()
    today = bangkok_date(now)
    begin_write(session)
    loan = _load_loan(session, loan_id, version)
    if not can_demand(actor, loan, today):
        session.rollback()
        if not loan.is_overdue(today):
            raise Conflict(N_("Nothing of this loan is overdue."))
        _deny()
    # Issuing adds a demand but does not change the loan, so its version cannot catch a second click.
    if session.execute(
        select(Demand.id).where(Demand.loan_id == loan.id, Demand.channel == "letter", Demand.demanded_on == today)
    ).first():
        session.rollback()
        raise Conflict(N_("A demand letter for this loan was already issued today; print that one."))
    demand = Demand(
        loan_id=loan.id,
        demanded_on=today,
        demanded_at=now,
        channel="letter",
        issued_by_id=actor.id,
        item_ids=[i.id for i in loan.open_items],
    )
    session.add(demand)
    session.flush()
    record(session, actor, "demand.issued", demand, {"loan": loan.id, "channel": "letter", "items": demand.item_ids})
    session.commit()
    return demand


def mark_notifications_read(
    session: Session, actor: User, notification_ids: list[int] | None = None, now: datetime | None = None
) -> int:
    """Mark one's own notifications read (the given ones, or all); returns how many changed.

    Notifications are personal messages, not records of the office, so this writes no audit entry.
    """
    from sqlalchemy import update

    now = now or utcnow()
    begin_write(session)
    stmt = update(Notification).where(Notification.user_id == actor.id, Notification.read_at.is_(None))
    if notification_ids is not None:
        if not notification_ids:
            session.rollback()
            return 0
        stmt = stmt.where(Notification.id.in_(notification_ids))
    changed = cast(
        CursorResult, session.execute(stmt.values(read_at=now).execution_options(synchronize_session=False))
    ).rowcount
    session.commit()
    return changed


# --- the daily run ---------------------------------------------------------------------------------


@dataclass
class RemindResult:
    demands: int = 0
    borrower_mails: int = 0
    officer_mails: int = 0
    due_tomorrow: int = 0
    overdue_loans: int = 0
    mails: list = None  # type: ignore[assignment]


DEMAND_INTERVAL_DAYS = 7
REMIND_LOCK_KEY = 0x6B70_0001  # the PostgreSQL advisory lock that keeps daily runs one at a time


@_refuse_stale
def remind(session: Session, now: datetime | None = None, link: Callable[[int], str] | None = None) -> RemindResult:
    """Find items past due, record a demand per loan (at most one a week), notify, and prepare digests.

    Safe to run more than once a day: a loan demanded today (or within the week) gets no new demand, and
    mails are prepared only for new demands. Returns the mails for the caller to send after commit;
    `link(loan_id)` gives the loan's page (from BASE_URL) for each line of a digest.
    """
    from core.mail import Mail

    now = now or utcnow()
    today = bangkok_date(now)
    begin_write(session)
    if session.get_bind().dialect.name == "postgresql":
        # Two runs at once (cron overlapping a manual run) queue here; the second then sees the first's
        # demands and notifications instead of recording a second demand for the same loans.
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": REMIND_LOCK_KEY})
    result = RemindResult(mails=[])
    overdue = list(
        session.execute(
            select(Loan).where(Loan.status == CHECKED_OUT, Loan.due_on < today).order_by(Loan.due_on, Loan.id)
        ).scalars()
    )
    overdue = [loan for loan in overdue if loan.open_items]
    result.overdue_loans = len(overdue)
    # An outside borrower has no account or mail box of the office: the officer sends a demand letter to
    # their address (issue_demand_letter); the officers' digest lists them.
    by_letter = [loan for loan in overdue if loan.borrower_id is None]
    overdue = [loan for loan in overdue if loan.borrower_id is not None]
    # A demand covers the items it names: a loan is demanded again unless every item still out was named by
    # a demand of the last week (after its due date) — so an item that a paper-ledger demand left out of
    # its loan's demand still gets its own.
    covered: dict[int, set[int]] = defaultdict(set)
    if overdue:
        due = {lo.id: lo.due_on for lo in overdue}
        for loan_id, on, item_ids in session.execute(
            select(Demand.loan_id, Demand.demanded_on, Demand.item_ids).where(
                Demand.loan_id.in_(list(due)), Demand.demanded_on > today - timedelta(days=DEMAND_INTERVAL_DAYS)
            )
        ):
            if on > due[loan_id]:
                covered[loan_id].update(item_ids or ())
    per_borrower: dict[int, list[Loan]] = defaultdict(list)
    for loan in overdue:
        if all(i.id in covered[loan.id] for i in loan.open_items):
            continue
        demand = Demand(
            loan_id=loan.id,
            demanded_on=today,
            demanded_at=now,
            channel="mail",
            item_ids=[i.id for i in loan.open_items],
        )
        session.add(demand)
        session.flush()
        record(session, None, "demand.issued", demand, {"loan": loan.id, "channel": "mail", "items": demand.item_ids})
        _notify(session, {loan.borrower_id}, "overdue", loan.id, today)
        per_borrower[known(loan.borrower_id, "borrower")].append(loan)  # outside loans were left out above
        result.demands += 1
    tomorrow = today + timedelta(days=1)
    due_soon = session.execute(
        select(Loan.id, Loan.borrower_id).where(Loan.status == CHECKED_OUT, Loan.due_on == tomorrow)
    ).all()
    for loan_id, borrower_id in due_soon:
        _notify(session, {borrower_id}, "due_tomorrow", loan_id, today)
    result.due_tomorrow = len(due_soon)
    settings = get_settings(session)
    agency = settings.get("agency_name", "")
    for borrower_id, loans in per_borrower.items():
        borrower = known(session.get(User, borrower_id), "borrower")
        lines = [_digest_line(loan, today, link) for loan in loans]
        result.mails.append(
            Mail(
                to=borrower.email,
                to_name=borrower.name,
                subject=f"[{agency}] แจ้งทวงถามการคืนพัสดุที่เกินกำหนด / Overdue items to return",
                body=_borrower_body(borrower, lines, agency),
            )
        )
    if by_letter:  # listed until a letter of the last week covers them
        lettered = set(
            session.execute(
                select(Demand.loan_id).where(
                    Demand.loan_id.in_([lo.id for lo in by_letter]),
                    Demand.channel == "letter",
                    Demand.demanded_on > today - timedelta(days=DEMAND_INTERVAL_DAYS),
                )
            ).scalars()
        )
        by_letter = [lo for lo in by_letter if lo.id not in lettered]
    if per_borrower or by_letter:
        all_lines = [
            f"{loan.borrower_name}: " + _digest_line(loan, today, link)
            for loans in per_borrower.values()
            for loan in loans
        ]
        count = len(all_lines)
        if by_letter:
            count = len(all_lines) + len(by_letter)
            all_lines += [
                "",
                "ผู้ยืมภายนอก: ออกหนังสือทวงถามส่งไปยังที่อยู่ (Outside borrowers: issue a demand letter to their address):",
                *[f"{loan.borrower_name}: " + _digest_line(loan, today, link) for loan in by_letter],
            ]
        for officer in _users_with_role(session, "supply_officer"):
            result.mails.append(
                Mail(
                    to=officer.email,
                    to_name=officer.name,
                    subject=f"[{agency}] สรุปพัสดุค้างคืน {count} รายการยืม / Overdue summary",
                    body="\n".join(
                        ["รายการยืมที่เกินกำหนดคืนและได้ทวงถามวันนี้ (Overdue loans demanded today):", "", *all_lines]
                    ),
                )
            )
    result.borrower_mails = len(per_borrower)
    result.officer_mails = len(result.mails) - result.borrower_mails
    session.commit()
    return result


def _digest_line(loan: Loan, today: date, link: Callable[[int], str] | None = None) -> str:
    """One loan in a digest: its items, the due date in B.E. (Thai, then English), the days overdue, and a
    link to the loan's page."""
    items = ", ".join(f"{i.asset.asset_number} {i.asset.name}" for i in loan.open_items)
    days = (today - loan.due_on).days
    line = (
        f"{loan.ref} — {items} — กำหนดคืน {format_date(loan.due_on, 'th')} / due "
        f"{format_date(loan.due_on, 'en')} (เกิน {days} วัน / {days} days overdue)"
    )
    return f"{line}\n    {link(loan.id)}" if link is not None else line


def _borrower_body(borrower: User, lines: list[str], agency: str) -> str:
    return "\n".join(
        [
            f"เรียน {borrower.name}",
            "",
            "พัสดุที่ท่านยืมต่อไปนี้เกินกำหนดส่งคืนแล้ว ขอให้นำส่งคืนเจ้าหน้าที่พัสดุโดยเร็ว "
            "ตามระเบียบกระทรวงการคลังว่าด้วยการจัดซื้อจัดจ้างและการบริหารพัสดุภาครัฐ พ.ศ. 2560",
            "",
            *lines,
            "",
            agency,
            "",
            "The items above are past their return date. Please return them to the supply officer.",
        ]
    )
