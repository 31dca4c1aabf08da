"""The lending workflow's requests, decisions, hand-over and return: one service per action. Each loads,
checks who may act (lending.loans.permissions), applies one transition of lending.loans.models, records its
audit entry and commits in one unit of work (core.db.write) — or raises and changes nothing. The shared
steps (load and lock a loan, notify, store photos) live here too; cases and demands are lending.loans.cases.

Segregation of duties: nobody decides, hands over or inspects their own loan. Availability: no asset is
in two approved or handed-over loans for overlapping dates; approval takes a lock on the assets (row
locks on PostgreSQL, the write lock on SQLite) before it checks, so two officers approving at the same
instant cannot both win.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import CursorResult, select
from sqlalchemy.orm.exc import StaleDataError

from audit import record
from audit.services import diff
from core.dates import bangkok_date, fiscal_year_of
from core.db import N_, Conflict, DomainError, Forbidden, NotFound, Session, known, utcnow, write
from core.files import PHOTO_TYPES, FileStore, store_upload
from core.models import User
from core.people.services import get_settings
from lending.groups.reservations import capacity_error
from lending.loans.bookings.availability import clash_error, clashes, lendable, lock_assets
from lending.loans.models import (
    APPROVED,
    CHECKED_OUT,
    DAMAGED,
    GOOD,
    LOST,
    MAX_ITEMS,
    MAX_LOAN_DAYS,
    REQUESTED,
    Incident,
    Loan,
    LoanDrop,
    LoanItem,
    LoanPhoto,
    Notification,
)
from lending.loans.permissions import can_decide, can_hand_over, can_receive, can_request
from lending.outside import events as outside_events
from lending.register.models import AVAILABLE, IN_REPAIR, ON_LOAN, Asset


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
            message = N_("Someone else changed this record after you opened it. Reload and try again.")
            raise Conflict(message) from None

    return wrapper


def _deny() -> None:
    raise Forbidden(N_("You may not do this."))


# --- helpers ---------------------------------------------------------------------------------------


def _load_loan(session: Session, loan_id: int, version: int | None = None) -> Loan:
    """The loan, locked for this transaction (FOR UPDATE on PostgreSQL; SQLite's write lock is already held).

    Called inside a unit of work (core.db.write), which rolls back when this raises.

    Two officers acting on one loan at once then queue here, and the second sees the first one's result:
    its status, version and items are read after the first commits, so it is refused with a clear message
    instead of a lost update or a StaleDataError.
    """
    loan = session.get(Loan, loan_id, with_for_update={"of": Loan}, populate_existing=True)
    if loan is None:
        raise NotFound(N_("No such loan."))
    if version is not None and loan.version != version:
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
    with write(session):
        assets = lock_assets(session, ids)
        if len(assets) != len(ids):
            raise NotFound(N_("One of the chosen items does not exist."))
        for a in assets:
            if not lendable(a):
                raise DomainError(N_("%(number)s cannot be lent (%(name)s)."), number=a.asset_number, name=a.name)
        found = clashes(session, ids, start_on, due_on, today=today)
        if found:
            raise clash_error(found)
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
    with write(session):
        loan = _load_loan(session, loan_id, version)
        if not can_decide(actor, loan):
            if loan.status != REQUESTED:
                raise Conflict(N_("This request has already been decided."))
            _deny()
        before = loan.state()
        stage = "head" if loan.waiting_for_head else "officer"
        reason = (drop_reason or "").strip()[:2000]
        dropping = loan.items_to_drop(drop_item_ids or [], reason)
        keep = [i.asset_id for i in loan.items if i not in dropping]
        lock_assets(session, keep)
        found = clashes(session, keep, loan.start_on, loan.due_on, loan.id, today)
        if found:
            raise clash_error(found)
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
    with write(session):
        loan = _load_loan(session, loan_id, version)
        if not can_decide(actor, loan):
            if loan.status != REQUESTED:
                raise Conflict(N_("This request has already been decided."))
            _deny()
        before = loan.state()
        loan.reject(actor, now, (reason or "")[:2000])
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
    with write(session):
        loan = _load_loan(session, loan_id, version)
        if loan.borrower_id != actor.id:
            _deny()
        before = loan.state()
        loan.cancel(now, (reason or "")[:2000])
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
    with write(session):
        loan = _load_loan(session, loan_id, version)
        if not can_hand_over(actor, loan):
            if loan.status != APPROVED:
                raise Conflict(N_("Only an approved loan can be handed over."))
            _deny()
        if loan.lines:  # a request by count names its assets as they leave: lending.groups.services.hand_over_lines
            raise DomainError(N_("Pick the items that leave on the hand-over page."))
        assets = lock_assets(session, [i.asset_id for i in loan.items])
        for asset in assets:
            if asset.status != AVAILABLE:
                raise Conflict(
                    N_("%(number)s is not available (status: %(status)s)."),
                    number=asset.asset_number,
                    status=asset.status,
                )
        before = loan.state()
        loan.hand_over(actor, now, (note or "")[:2000])
        for asset in assets:
            asset.status = ON_LOAN
        hashes = _store_photos(session, store, photos or [], actor, max_bytes, loan, "handover")
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
    with write(session):
        loan = _load_loan(session, loan_id, version)
        if loan.borrower_id != actor.id:
            _deny()
        loan.confirm_receipt(now)
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
    with write(session):
        loan = _load_loan(session, loan_id, version)
        if not can_receive(actor, loan):
            if loan.status != CHECKED_OUT:
                raise Conflict(N_("Only items that were handed over can be returned."))
            _deny()
        by_id = {i.id: i for i in loan.items}
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
        returned = loan.settle_if_complete(now)
        if returned:
            record(session, actor, "loan.returned", loan, {"status": "returned"})
        session.commit()
    if returned:
        outside_events.emit(session, loan, "returned")
    return loan


def mark_notifications_read(
    session: Session, actor: User, notification_ids: list[int] | None = None, now: datetime | None = None
) -> int:
    """Mark one's own notifications read (the given ones, or all); returns how many changed.

    Notifications are personal messages, not records of the office, so this writes no audit entry.
    """
    from sqlalchemy import update

    now = now or utcnow()
    with write(session):
        stmt = update(Notification).where(Notification.user_id == actor.id, Notification.read_at.is_(None))
        if notification_ids is not None:
            if not notification_ids:
                return 0
            stmt = stmt.where(Notification.id.in_(notification_ids))
        changed = cast(
            CursorResult, session.execute(stmt.values(read_at=now).execution_options(synchronize_session=False))
        ).rowcount
        session.commit()
    return changed
