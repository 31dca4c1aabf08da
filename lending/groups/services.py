"""The services of lending by count: set up a group and its members, hand over a request's lines by
naming the numbered assets that leave, and receive them back by count with the named exceptions.

The approval of a request with lines is the ordinary lending.loans.services.approve_loan (which checks the
groups' counts through lending.groups.reservations); the return by count hands its per-item results to
lending.loans.services.receive_items, so damage and loss open the same incident cases as any other item.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select

from audit import record
from audit.services import diff
from core.dates import bangkok_date, fiscal_year_of
from core.db import N_, Conflict, DomainError, Forbidden, NotFound, Session, utcnow, write
from core.files import PHOTO_TYPES, FileStore, store_upload
from core.models import User
from core.people.services import get_settings
from lending.groups import queries as group_queries
from lending.groups.models import LendingGroup, LoanLine
from lending.groups.reservations import lock_groups
from lending.loans import services as workflow
from lending.loans.bookings import availability
from lending.loans.models import APPROVED, CHECKED_OUT, DAMAGED, GOOD, LOST, MAX_LOAN_DAYS, REQUESTED, Loan, LoanItem
from lending.loans.permissions import can_hand_over, can_request
from lending.outside import deposits
from lending.outside import events as outside_events
from lending.outside.models import clean_text
from lending.outside.permissions import can_manage_groups
from lending.register.models import AVAILABLE, ON_LOAN, Asset

MAX_MEMBERS = 2000


def _deny() -> None:
    raise Forbidden(N_("You may not do this."))


# --- setting groups up ---------------------------------------------------------------------------


def save_group(
    session: Session,
    actor: User,
    *,
    name: str,
    category: str,
    model: str = "",
    description: str = "",
    public: bool = False,
    active: bool = True,
    group_id: int | None = None,
    version: int | None = None,
) -> LendingGroup:
    """Create a lending group, or change one (`group_id` with the version the form was opened at)."""
    if not can_manage_groups(actor):
        _deny()
    values = {
        "name": clean_text(name, 200),
        "category": clean_text(category, 100),
        "model": clean_text(model, 100),
        "description": clean_text(description, 2000),
        "public": bool(public),
        "active": bool(active),
    }
    if not values["name"] or not values["category"]:
        raise DomainError(N_("Give the group's name and category."))
    with write(session):
        same = session.execute(select(LendingGroup.id).where(LendingGroup.name == values["name"])).scalar()
        if same is not None and same != group_id:
            raise Conflict(N_("A group of that name exists already."))
        group: LendingGroup | None  # found below, or None
        if group_id is None:
            group = LendingGroup(**values)
            session.add(group)
            session.flush()
            record(session, actor, "lending_group.created", group, {"after": group.state()})
        else:
            group = session.get(LendingGroup, group_id, with_for_update={"of": LendingGroup}, populate_existing=True)
            if group is None:
                raise NotFound(N_("No such group."))
            if version is not None and group.version != version:
                raise Conflict(N_("Someone else changed this group after you opened it. Reload and try again."))
            before = group.state()
            for key, value in values.items():
                setattr(group, key, value)
            changes = diff(before, group.state())
            if not changes.get("after"):
                return group
            record(session, actor, "lending_group.changed", group, changes)
        session.commit()
    return group


def set_group_photo(
    session: Session,
    actor: User,
    group_id: int,
    data: bytes,
    filename: str,
    store: FileStore,
    max_bytes: int,
    *,
    version: int | None = None,
) -> LendingGroup:
    """Put up (or replace) the group's photo, shown on the e-service: checked by content, through the file store."""
    if not can_manage_groups(actor):
        _deny()
    with write(session):
        group = _group_for_change(session, group_id, version)
        stored = store_upload(
            session, store, data, filename, allowed=PHOTO_TYPES, max_bytes=max_bytes, uploaded_by_id=actor.id
        )
        before = group.state()
        group.photo_sha256 = stored.sha256
        changes = diff(before, group.state())
        if not changes.get("after"):
            return group
        record(
            session,
            actor,
            "lending_group.photo_set",
            group,
            {**changes, "file": {"sha256": stored.sha256, "name": stored.original_name, "size": stored.size}},
        )
        session.commit()
    return group


def remove_group_photo(session: Session, actor: User, group_id: int, *, version: int | None = None) -> LendingGroup:
    """Take the group's photo down (the stored file stays: the audit log and other records may name it)."""
    if not can_manage_groups(actor):
        _deny()
    with write(session):
        group = _group_for_change(session, group_id, version)
        if group.photo_sha256 is None:
            raise DomainError(N_("The group has no photo."))
        before = group.state()
        group.photo_sha256 = None
        record(session, actor, "lending_group.photo_removed", group, diff(before, group.state()))
        session.commit()
    return group


def _group_for_change(session: Session, group_id: int, version: int | None) -> LendingGroup:
    group = session.get(LendingGroup, group_id, with_for_update={"of": LendingGroup}, populate_existing=True)
    if group is None:
        raise NotFound(N_("No such group."))
    if version is not None and group.version != version:
        raise Conflict(N_("Someone else changed this group after you opened it. Reload and try again."))
    return group


def set_members(session: Session, actor: User, group_id: int, asset_ids: list[int], *, add: bool = True) -> int:
    """Put assets into the group (`add`) or take them out; returns how many changed.

    An asset belongs to at most one group; one that is in another group is refused, not moved."""
    if not can_manage_groups(actor):
        _deny()
    ids = sorted({int(i) for i in asset_ids})
    if not ids:
        raise DomainError(N_("Choose at least one asset."))
    if len(ids) > MAX_MEMBERS:
        raise DomainError(N_("At most %(n)d assets at once."), n=MAX_MEMBERS)
    with write(session):
        groups = lock_groups(session, [group_id])
        if not groups:
            raise NotFound(N_("No such group."))
        assets = list(session.execute(select(Asset).where(Asset.id.in_(ids)).order_by(Asset.id)).scalars())
        if len(assets) != len(ids):
            raise NotFound(N_("One of the chosen items does not exist."))
        changed = []
        for asset in assets:
            if add:
                if asset.lending_group_id not in (None, group_id):
                    raise Conflict(N_("%(number)s belongs to another group already."), number=asset.asset_number)
                if asset.lending_group_id is None:
                    asset.lending_group_id = group_id
                    changed.append(asset)
            elif asset.lending_group_id == group_id:
                asset.lending_group_id = None
                changed.append(asset)
        if not changed:
            return 0
        record(
            session,
            actor,
            "lending_group.members_added" if add else "lending_group.members_removed",
            groups[0],
            {"assets": [a.id for a in changed], "asset_numbers": [a.asset_number for a in changed]},
        )
        session.commit()
    return len(changed)


# --- a staff request by count ------------------------------------------------------------------------


@workflow._refuse_stale
def request_by_count(
    session: Session,
    actor: User,
    lines: list[tuple[int, int]],
    *,
    purpose: str,
    place: str,
    off_premises: bool,
    start_on: date,
    due_on: date,
    now: datetime | None = None,
) -> Loan:
    """A staff member's request for counts from lending groups, for official use (channel `staff`).

    The head's approval is asked as for numbered items: use outside the office, or a group whose dearest
    member is at or above the threshold. More than is free on any day is refused now; the approval checks
    again under lock."""
    if not can_request(actor):
        _deny()
    now = now or utcnow()
    today = bangkok_date(now)
    merged: dict[int, int] = {}
    for group_id, count in lines:
        if int(count):
            merged[int(group_id)] = merged.get(int(group_id), 0) + LoanLine.check_count(int(count))
    purpose, place = clean_text(purpose, 2000), clean_text(place, 300)
    if not merged:
        raise DomainError(N_("Choose at least one item."))
    if not purpose:
        raise DomainError(N_("State the official purpose of the loan."))
    if not place:
        raise DomainError(N_("State where the items will be used."))
    if start_on < today:
        raise DomainError(N_("The loan cannot start in the past."))
    if due_on < start_on:
        raise DomainError(N_("The return date is before the start date."))
    if (due_on - start_on).days > MAX_LOAN_DAYS:
        raise DomainError(N_("A loan lasts at most %(days)d days."), days=MAX_LOAN_DAYS)
    with write(session):
        found = {
            g.id: g
            for g in session.execute(
                select(LendingGroup).where(LendingGroup.id.in_(sorted(merged)), LendingGroup.active.is_(True))
            ).scalars()
        }
        if len(found) != len(merged):
            raise NotFound(N_("One of the chosen items does not exist."))
        free = group_queries.availability(session, sorted(merged), start_on, due_on, today)
        for group_id, n in merged.items():
            least = min(free[group_id].values())
            if least < n:
                raise Conflict(
                    N_("Only %(free)d of %(group)s are free on those days; ask for fewer or other days."),
                    free=least,
                    group=found[group_id].name,
                )
        dearest = list(
            session.execute(
                select(Asset).where(Asset.lending_group_id.in_(sorted(merged))).order_by(Asset.price.desc()).limit(1)
            ).scalars()
        )
        settings = get_settings(session)
        loan = Loan(
            ref=f"pending-{uuid.uuid4().hex}",
            borrower_id=actor.id,
            channel="staff",
            purpose=purpose,
            place=place,
            off_premises=bool(off_premises),
            start_on=start_on,
            due_on=due_on,
            status=REQUESTED,
            requested_at=now,
            needs_head=workflow.needs_head_approval(settings, dearest, bool(off_premises)),
        )
        loan.lines = [LoanLine(group_id=g, count=n) for g, n in sorted(merged.items())]
        session.add(loan)
        session.flush()
        loan.ref = f"{fiscal_year_of(today)}/{loan.id:05d}"
        record(session, actor, "loan.requested", loan, {"after": loan.state()})
        workflow._notify(
            session,
            {u.id for u in workflow._users_with_role(session, "supply_officer")} - {actor.id},
            "request_waiting",
            loan.id,
            today,
        )
        session.commit()
    return loan


# --- hand-over: name the numbered assets that leave -------------------------------------------------


@workflow._refuse_stale
def hand_over_lines(
    session: Session,
    actor: User,
    loan_id: int,
    picks: dict[int, list[int]],
    *,
    note: str = "",
    version: int | None = None,
    photos: list[tuple[bytes, str]] | None = None,
    store: FileStore | None = None,
    max_bytes: int = 25 * 1024 * 1024,
    deposit: deposits.DepositIn | None = None,
    now: datetime | None = None,
) -> Loan:
    """Hand over a loan with lines: `picks` maps each line's id to the asset ids that leave for it.

    When the rules of an outside borrower's kind ask for a deposit, `deposit` (amount, receipt number) is
    required and recorded with the hand-over (lending.outside.deposits).

    Each line gets at most its count (fewer when the borrower takes fewer); every picked asset must belong to
    the line's group, be available on the register, and not be held by another loan on these days. The
    numbered items of the loan (if any) leave with it, as in an ordinary hand-over.
    """
    now = now or utcnow()
    today = bangkok_date(now)
    with write(session):
        loan = workflow._load_loan(session, loan_id, version)
        if not can_hand_over(actor, loan):
            if loan.status != APPROVED:
                raise Conflict(N_("Only an approved loan can be handed over."))
            _deny()
        lines = {ln.id: ln for ln in loan.lines}
        if not lines:
            raise DomainError(N_("This loan names its items one by one; use the ordinary hand-over."))
        chosen: dict[int, list[int]] = {}
        seen: set[int] = set()
        for line_id, ids in picks.items():
            line = lines.get(int(line_id))
            if line is None:
                raise NotFound(N_("That line is not part of this loan."))
            unique = [int(i) for i in dict.fromkeys(ids)]
            if len(unique) > line.count:
                raise DomainError(
                    N_("%(group)s: %(picked)d picked, but the loan is for %(count)d."),
                    group=line.group.name,
                    picked=len(unique),
                    count=line.count,
                )
            if seen & set(unique):
                raise DomainError(N_("An asset was picked twice."))
            seen |= set(unique)
            chosen[line.id] = unique
        if not seen:
            raise DomainError(N_("Pick the items that leave."))
        lock_groups(session, sorted({ln.group_id for ln in lines.values()}))
        all_ids = sorted(seen | {i.asset_id for i in loan.items})
        assets = {a.id: a for a in availability.lock_assets(session, all_ids)}
        for line_id, ids in chosen.items():
            group = lines[line_id].group
            for asset_id in ids:
                asset = assets.get(asset_id)
                if asset is None or asset.lending_group_id != group.id:
                    raise DomainError(
                        N_("%(number)s is not one of %(group)s."),
                        number=asset.asset_number if asset else str(asset_id),
                        group=group.name,
                    )
        for asset in assets.values():
            if asset.status != AVAILABLE or not asset.lendable:
                raise Conflict(
                    N_("%(number)s is not available (status: %(status)s)."),
                    number=asset.asset_number,
                    status=asset.status,
                )
        found = availability.clashes(session, sorted(seen), loan.start_on, loan.due_on, loan.id, today)
        if found:
            raise availability.clash_error(found)
        before = loan.state()
        loan.hand_over(actor, now, (note or "")[:2000])
        for line_id, ids in chosen.items():
            for asset_id in ids:
                loan.items.append(LoanItem(asset_id=asset_id, line_id=line_id, value=assets[asset_id].price))
        for line in lines.values():
            line.handed_count = len(chosen.get(line.id, ()))
        for asset in assets.values():
            asset.status = ON_LOAN
        session.flush()
        hashes = workflow._store_photos(session, store, photos or [], actor, max_bytes, loan, "handover")
        record(
            session,
            actor,
            "loan.checked_out",
            loan,
            {
                **diff(before, loan.state()),
                "note": loan.handover_note,
                "photos": hashes,
                "lines": {str(ln.group_id): ln.handed_count for ln in lines.values()},
            },
        )
        deposits.take_deposit(session, actor, loan, deposit, now)
        session.commit()
    outside_events.emit(session, loan, "checked_out")
    return loan


# --- return by count ---------------------------------------------------------------------------------

STILL_OUT = "out"


@dataclass(frozen=True)
class Exception_:
    """A named item of a return by count: damaged, lost, or still out (not brought back)."""

    item_id: int
    condition: str  # damaged | lost | out
    note: str = ""


def receive_by_count(
    session: Session,
    actor: User,
    loan_id: int,
    line_id: int,
    counted_good: int,
    exceptions: list[Exception_],
    *,
    version: int | None = None,
    store: FileStore | None = None,
    max_bytes: int = 25 * 1024 * 1024,
    now: datetime | None = None,
) -> Loan:
    """Receive a line back: the officer counts what came back in good condition and names the exceptions.

    Every item of the line still out is either named (damaged, lost, or still out) or returned good; the count
    typed must equal what is left after the exceptions, so a miscount is caught and the missing ones are
    named rather than guessed. Damaged and lost items open incident cases (lending.loans.services.receive_items).
    """
    loan = session.get(Loan, loan_id)
    if loan is None:
        raise NotFound(N_("No such loan."))
    if loan.status != CHECKED_OUT:
        raise Conflict(N_("Only items that were handed over can be returned."))
    line = next((ln for ln in loan.lines if ln.id == int(line_id)), None)
    if line is None:
        raise NotFound(N_("That line is not part of this loan."))
    open_items = {i.id: i for i in loan.items if i.line_id == line.id and i.condition is None}
    named: dict[int, Exception_] = {}
    for ex in exceptions:
        if ex.item_id not in open_items:
            raise DomainError(N_("That item is not out on this line."))
        if ex.condition not in (DAMAGED, LOST, STILL_OUT):
            raise DomainError(N_("Choose the condition: good, damaged or lost."))
        if ex.item_id in named:
            raise DomainError(N_("An asset was named twice."))
        named[ex.item_id] = ex
    if not isinstance(counted_good, int) or counted_good < 0:
        raise DomainError(N_("Type how many came back in good condition."))
    expected = len(open_items) - len(named)
    if counted_good != expected:
        raise DomainError(
            N_(
                "%(out)d are out and %(named)d are named, so %(expected)d should be back in good "
                "condition, but %(counted)d were counted: name the missing ones as still out."
            ),
            out=len(open_items),
            named=len(named),
            expected=expected,
            counted=counted_good,
        )
    returns = [
        workflow.ItemReturn(item_id=ex.item_id, condition=ex.condition, note=ex.note)
        for ex in named.values()
        if ex.condition != STILL_OUT
    ]
    returns += [
        workflow.ItemReturn(item_id=item_id, condition=GOOD) for item_id in sorted(open_items) if item_id not in named
    ]
    if not returns:
        raise DomainError(N_("Choose at least one item that came back."))
    session.rollback()  # the read above ends; receive_items opens its own write transaction
    return workflow.receive_items(
        session, actor, loan_id, returns, version=version, store=store, max_bytes=max_bytes, now=now
    )
