"""The lending workflow's services (lending/loans/services.py, cases.py) against the real database.

The database is shared by the whole test session and never emptied, so every test makes its own people
and assets, and asserts on its own records: the loan's state, the assets' status, and the audit entries
the service left. Time is explicit (`now=`) and lies in 2031, after anything the clock of a real run
would call overdue.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from audit.models import AuditEntry
from core.dates import BANGKOK
from core.db import Conflict, DomainError, Forbidden, NotFound
from core.people.services import get_settings
from lending.loans import cases
from lending.loans import services as workflow
from lending.loans.bookings import availability
from lending.loans.models import (
    APPROVED,
    CANCELLED,
    CHECKED_OUT,
    DAMAGED,
    GOOD,
    LOST,
    MAX_LOAN_DAYS,
    REJECTED,
    REQUESTED,
    RETURNED,
    Demand,
    Incident,
    Loan,
    Notification,
)
from lending.loans.services import ItemReturn
from lending.register import services as asset_services
from lending.register.models import Asset
from tests.conftest import unique

NOW = datetime(2031, 3, 2, 3, 0, tzinfo=UTC)  # 10:00 on 2 March 2031 in Bangkok
START, DUE = date(2031, 3, 5), date(2031, 3, 8)


def at(day: date, hour: int = 10) -> datetime:
    """A UTC instant at `hour` o'clock Bangkok time on `day`."""
    return datetime(day.year, day.month, day.day, hour, 0, tzinfo=BANGKOK).astimezone(UTC)


def utc(value: datetime | None) -> datetime | None:
    """A stored timestamp as aware UTC (SQLite hands back naive UTC, PostgreSQL aware)."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


# --- helpers ---------------------------------------------------------------------------------------


class People:
    """Fresh people for one test, each made when first named (a password hash costs real time)."""

    ROLES = {
        "borrower": ["staff"],
        "officer": ["supply_officer"],
        "officer2": ["supply_officer"],
        "head": ["head"],
        "head2": ["head"],
    }

    def __init__(self, make_user):
        self._make, self._made = make_user, {}

    def make(self, *names: str) -> None:
        """Make these people now (before counting audit entries or notifications)."""
        for name in names:
            getattr(self, name)

    def __getattr__(self, name: str):
        if name not in self.ROLES:
            raise AttributeError(name)
        if name not in self._made:
            email = f"{unique('b')}@kp.test" if name == "borrower" else ""
            self._made[name] = self._make(roles=self.ROLES[name], email=email)
        return self._made[name]


@pytest.fixture
def people(make_user):
    """A borrower, two supply officers and two heads, fresh for the test (made on first use)."""
    return People(make_user)


def ask(
    session,
    borrower,
    assets,
    *,
    start=START,
    due=DUE,
    off_premises=False,
    now=NOW,
    purpose="ใช้จัดประชุมประชาคมหมู่บ้าน",
    place="ศาลาประชาคม หมู่ 3",
) -> int:
    """A request for these assets; returns the loan id."""
    loan = workflow.request_loan(
        session,
        borrower,
        [a.id for a in assets],
        purpose=purpose,
        place=place,
        off_premises=off_premises,
        start_on=start,
        due_on=due,
        now=now,
    )
    return loan.id


def approved(session, people, assets, **kw) -> int:
    loan_id = ask(session, people.borrower, assets, **kw)
    workflow.approve_loan(session, people.officer, loan_id, now=NOW)
    if fresh_loan(session, loan_id).status != APPROVED:
        workflow.approve_loan(session, people.head, loan_id, now=NOW)
    return loan_id


def handed_over(session, people, assets, **kw) -> int:
    loan_id = approved(session, people, assets, **kw)
    workflow.hand_over(session, people.officer, loan_id, note="ครบ สภาพดี", now=at(kw.get("start", START), 9))
    return loan_id


def fresh_loan(session, loan_id: int) -> Loan:
    session.rollback()
    return session.get(Loan, loan_id)


def fresh_asset(session, asset_id: int) -> Asset:
    session.rollback()
    return session.get(Asset, asset_id)


def entries(session, subject_type: str, subject_id: int, action: str | None = None) -> list[AuditEntry]:
    session.rollback()
    stmt = select(AuditEntry).where(AuditEntry.subject_type == subject_type, AuditEntry.subject_id == str(subject_id))
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    return list(session.scalars(stmt.order_by(AuditEntry.seq)))


def actions(session, loan_id: int) -> list[str]:
    return [e.action for e in entries(session, "loan", loan_id)]


def audit_count(session) -> int:
    session.rollback()
    return session.scalar(select(func.count()).select_from(AuditEntry))


def loans_of(session, user) -> list[Loan]:
    session.rollback()
    return list(session.scalars(select(Loan).where(Loan.borrower_id == user.id)))


def notes(session, user, kind: str | None = None, loan_id: int | None = None) -> list[Notification]:
    session.rollback()
    stmt = select(Notification).where(Notification.user_id == user.id)
    if kind:
        stmt = stmt.where(Notification.kind == kind)
    if loan_id:
        stmt = stmt.where(Notification.loan_id == loan_id)
    return list(session.scalars(stmt))


def demands_for(session, loan_id: int) -> list[Demand]:
    session.rollback()
    return list(session.scalars(select(Demand).where(Demand.loan_id == loan_id).order_by(Demand.id)))


def threshold(session) -> Decimal:
    session.rollback()
    return Decimal(str(get_settings(session)["head_approval_threshold"]))


# --- the request -----------------------------------------------------------------------------------


def test_a_request_is_recorded_with_its_items_their_value_and_an_audit_entry(session, people, make_asset):
    chair, tent = make_asset(price=Decimal("350.00")), make_asset(name="เต็นท์", price=Decimal("4500.00"))
    officer = people.officer  # on the staff before the request comes in

    loan_id = ask(session, people.borrower, [tent, chair])

    loan = fresh_loan(session, loan_id)
    assert (loan.status, loan.borrower_id) == (REQUESTED, people.borrower.id)
    assert (loan.start_on, loan.due_on) == (START, DUE)
    assert loan.ref == f"2574/{loan.id:05d}"  # 2 March 2031 falls in FY2574
    assert loan.needs_head is False
    assert sorted((i.asset_id, i.value, i.condition) for i in loan.items) == sorted(
        [(chair.id, Decimal("350.00"), None), (tent.id, Decimal("4500.00"), None)]
    )
    (requested,) = entries(session, "loan", loan_id, "loan.requested")
    assert requested.actor == people.borrower.username
    assert sorted(json.loads(requested.data)["after"]["assets"]) == sorted([chair.id, tent.id])
    assert len(notes(session, officer, "request_waiting", loan_id)) == 1
    assert notes(session, people.borrower, loan_id=loan_id) == []
    assert fresh_asset(session, chair.id).status == "available"  # a request holds nothing yet


@pytest.mark.parametrize(
    "change, message",
    [
        ({"assets": []}, "Choose at least one item"),
        ({"purpose": "   "}, "official purpose"),
        ({"place": ""}, "where the items will be used"),
        ({"start": date(2031, 3, 1)}, "cannot start in the past"),
        ({"start": date(2031, 3, 10), "due": date(2031, 3, 9)}, "return date is before the start date"),
        ({"due": START + timedelta(days=MAX_LOAN_DAYS + 1)}, f"at most {MAX_LOAN_DAYS} days"),
    ],
)
def test_an_incomplete_or_impossible_request_is_refused_and_nothing_is_recorded(
    session, people, make_asset, change, message
):
    asset = make_asset()
    people.make("borrower")  # before counting the audit entries
    before = audit_count(session)
    kw = {"start": START, "due": DUE, "purpose": "ประชุม", "place": "ศาลา", **change}
    assets = kw.pop("assets", [asset])

    with pytest.raises(DomainError, match=message):
        ask(session, people.borrower, assets, **kw)

    assert loans_of(session, people.borrower) == []
    assert audit_count(session) == before


def test_a_loan_of_exactly_the_longest_allowed_length_is_accepted(session, people, make_asset):
    loan_id = ask(session, people.borrower, [make_asset()], due=START + timedelta(days=MAX_LOAN_DAYS))
    assert fresh_loan(session, loan_id).status == REQUESTED


def test_a_loan_may_start_today_in_bangkok_although_it_is_still_yesterday_in_utc(session, people, make_asset):
    late_evening_utc = datetime(2031, 3, 4, 18, 0, tzinfo=UTC)  # 01:00 on 5 March in Bangkok
    loan_id = ask(session, people.borrower, [make_asset()], start=date(2031, 3, 5), now=late_evening_utc)
    assert fresh_loan(session, loan_id).start_on == date(2031, 3, 5)


@pytest.mark.parametrize(
    "fields, status",
    [
        ({"lendable": False}, "available"),
        ({}, "in_repair"),
        ({}, "lost"),
        ({}, "disposed"),
    ],
)
def test_an_asset_that_cannot_be_lent_is_refused_by_number(session, people, make_asset, fields, status):
    good, bad = make_asset(), make_asset(status=status, **fields)
    people.make("borrower")  # before counting the audit entries
    before = audit_count(session)

    with pytest.raises(DomainError) as caught:
        ask(session, people.borrower, [good, bad])

    assert bad.asset_number in str(caught.value) and "cannot be lent" in str(caught.value)
    assert loans_of(session, people.borrower) == []
    assert audit_count(session) == before


def test_a_request_naming_an_asset_that_does_not_exist_is_not_found(session, people, make_asset):
    asset = make_asset()
    with pytest.raises(NotFound, match="does not exist"):
        workflow.request_loan(
            session,
            people.borrower,
            [asset.id, 987_654_321],
            purpose="ประชุม",
            place="ศาลา",
            off_premises=False,
            start_on=START,
            due_on=DUE,
            now=NOW,
        )
    assert loans_of(session, people.borrower) == []


def test_someone_without_the_right_to_borrow_cannot_request(session, make_user, make_asset):
    auditor = make_user(roles=["auditor"])
    with pytest.raises(Forbidden):
        ask(session, auditor, [make_asset()])
    assert loans_of(session, auditor) == []


# --- the head's second approval --------------------------------------------------------------------


def test_an_item_priced_at_the_threshold_needs_the_head_and_one_just_below_does_not(session, people, make_asset):
    limit = threshold(session)
    assert limit == Decimal("10000.00")  # the default policy
    at_limit = ask(session, people.borrower, [make_asset(price=limit)])
    below = ask(session, people.borrower, [make_asset(price=limit - Decimal("0.01"))])
    mixed = ask(session, people.borrower, [make_asset(price=Decimal("1.00")), make_asset(price=limit * 2)])
    unpriced = ask(session, people.borrower, [make_asset(price=None)])

    assert fresh_loan(session, at_limit).needs_head is True
    assert fresh_loan(session, below).needs_head is False
    assert fresh_loan(session, mixed).needs_head is True
    assert fresh_loan(session, unpriced).needs_head is False


def test_use_outside_the_office_needs_the_head_whatever_the_price(session, people, make_asset):
    loan_id = ask(session, people.borrower, [make_asset(price=Decimal("100.00"))], off_premises=True)
    assert fresh_loan(session, loan_id).needs_head is True


def test_the_officer_approves_first_then_the_head_and_each_step_is_audited(session, people, make_asset):
    projector = make_asset(name="เครื่องฉายภาพ", price=Decimal("25900.00"))
    head = people.head  # in office before the request waits for them
    loan_id = ask(session, people.borrower, [projector])

    workflow.approve_loan(session, people.officer, loan_id, now=NOW + timedelta(hours=1))

    loan = fresh_loan(session, loan_id)
    assert (loan.status, loan.officer_id, loan.head_id) == (REQUESTED, people.officer.id, None)
    assert loan.waiting_for_head
    (first,) = entries(session, "loan", loan_id, "loan.officer_approved")
    assert first.actor == people.officer.username
    assert json.loads(first.data)["after"] == {"officer_id": people.officer.id}
    assert len(notes(session, head, "request_waiting", loan_id)) == 1
    assert notes(session, people.borrower, "approved", loan_id) == []

    with pytest.raises(Forbidden):  # an officer cannot give the head's approval
        workflow.approve_loan(session, people.officer2, loan_id, now=NOW)

    workflow.approve_loan(session, people.head, loan_id, now=NOW + timedelta(hours=2))

    loan = fresh_loan(session, loan_id)
    assert (loan.status, loan.head_id, loan.decided_by_id) == (APPROVED, people.head.id, people.head.id)
    (final,) = entries(session, "loan", loan_id, "loan.approved")
    assert final.actor == people.head.username
    assert json.loads(final.data)["after"] == {"status": APPROVED, "head_id": people.head.id}
    assert len(notes(session, people.borrower, "approved", loan_id)) == 1


def test_the_head_cannot_give_the_first_approval(session, people, make_asset):
    loan_id = ask(session, people.borrower, [make_asset(price=Decimal("50000.00"))])
    with pytest.raises(Forbidden):
        workflow.approve_loan(session, people.head, loan_id, now=NOW)
    assert fresh_loan(session, loan_id).officer_id is None
    assert actions(session, loan_id) == ["loan.requested"]


def test_one_person_who_is_officer_and_head_cannot_give_both_approvals(session, people, make_user, make_asset):
    both = make_user(roles=["supply_officer", "head"])
    loan_id = ask(session, people.borrower, [make_asset()], off_premises=True)
    workflow.approve_loan(session, both, loan_id, now=NOW)

    with pytest.raises(Forbidden):
        workflow.approve_loan(session, both, loan_id, now=NOW)

    assert fresh_loan(session, loan_id).status == REQUESTED
    workflow.approve_loan(session, people.head, loan_id, now=NOW)
    assert fresh_loan(session, loan_id).status == APPROVED


# --- who may decide, hand over and receive ---------------------------------------------------------


def test_an_ordinary_request_is_approved_by_one_officer(session, people, make_asset):
    loan_id = ask(session, people.borrower, [make_asset()])

    workflow.approve_loan(session, people.officer, loan_id, now=NOW)

    loan = fresh_loan(session, loan_id)
    assert (loan.status, loan.officer_id, loan.decided_by_id, utc(loan.decided_at)) == (
        APPROVED,
        people.officer.id,
        people.officer.id,
        NOW,
    )
    (entry,) = entries(session, "loan", loan_id, "loan.approved")
    assert json.loads(entry.data) == {
        "before": {"status": REQUESTED, "officer_id": None},
        "after": {"status": APPROVED, "officer_id": people.officer.id},
    }
    assert len(notes(session, people.borrower, "approved", loan_id)) == 1


@pytest.mark.parametrize("roles", [["staff"], ["auditor"], ["admin"], ["head"]])
def test_only_a_supply_officer_may_approve_or_reject_a_request(session, people, make_user, make_asset, roles):
    someone = make_user(roles=roles)
    loan_id = ask(session, people.borrower, [make_asset()])
    before = audit_count(session)

    with pytest.raises(Forbidden):
        workflow.approve_loan(session, someone, loan_id, now=NOW)
    with pytest.raises(Forbidden):
        workflow.reject_loan(session, someone, loan_id, "ไม่อนุมัติ", now=NOW)

    assert fresh_loan(session, loan_id).status == REQUESTED
    assert audit_count(session) == before


def test_an_officer_who_borrows_is_approved_handed_over_and_received_by_another_officer(session, people, make_asset):
    me, colleague = people.officer, people.officer2
    asset = make_asset()
    loan_id = ask(session, me, [asset])

    with pytest.raises(Forbidden):
        workflow.approve_loan(session, me, loan_id, now=NOW)
    with pytest.raises(Forbidden):
        workflow.reject_loan(session, me, loan_id, "ขอยกเลิก", now=NOW)
    assert fresh_loan(session, loan_id).status == REQUESTED
    workflow.approve_loan(session, colleague, loan_id, now=NOW)

    with pytest.raises(Forbidden):
        workflow.hand_over(session, me, loan_id, now=at(START))
    assert fresh_loan(session, loan_id).status == APPROVED
    workflow.hand_over(session, colleague, loan_id, now=at(START))

    item_id = fresh_loan(session, loan_id).items[0].id
    with pytest.raises(Forbidden):
        workflow.receive_items(session, me, loan_id, [ItemReturn(item_id, GOOD)], now=at(DUE))
    assert fresh_loan(session, loan_id).status == CHECKED_OUT
    workflow.receive_items(session, colleague, loan_id, [ItemReturn(item_id, GOOD)], now=at(DUE))

    loan = fresh_loan(session, loan_id)
    assert (loan.status, loan.officer_id, loan.checked_out_by_id) == (RETURNED, colleague.id, colleague.id)
    assert loan.items[0].received_by_id == colleague.id
    assert [e.actor for e in entries(session, "loan", loan_id)] == [me.username] + [colleague.username] * 3
    assert actions(session, loan_id) == ["loan.requested", "loan.approved", "loan.checked_out", "loan.returned"]


def test_a_head_who_borrows_off_premises_needs_another_head(session, people, make_asset):
    loan_id = ask(session, people.head, [make_asset()], off_premises=True)
    workflow.approve_loan(session, people.officer, loan_id, now=NOW)

    with pytest.raises(Forbidden):
        workflow.approve_loan(session, people.head, loan_id, now=NOW)
    assert fresh_loan(session, loan_id).status == REQUESTED

    workflow.approve_loan(session, people.head2, loan_id, now=NOW)
    assert fresh_loan(session, loan_id).head_id == people.head2.id


def test_a_rejection_keeps_its_reason_tells_the_borrower_and_is_audited(session, people, make_asset):
    loan_id = ask(session, people.borrower, [make_asset()])

    workflow.reject_loan(session, people.officer, loan_id, "  ไม่ใช่การใช้ในราชการ ", now=NOW)

    loan = fresh_loan(session, loan_id)
    assert (loan.status, loan.decided_by_id) == (REJECTED, people.officer.id)
    assert loan.decision_note == "ไม่ใช่การใช้ในราชการ"
    (entry,) = entries(session, "loan", loan_id, "loan.rejected")
    assert json.loads(entry.data)["after"] == {"status": REJECTED, "decision_note": "ไม่ใช่การใช้ในราชการ"}
    assert len(notes(session, people.borrower, "rejected", loan_id)) == 1


def test_a_rejection_without_a_reason_is_refused_and_changes_nothing(session, people, make_asset):
    loan_id = ask(session, people.borrower, [make_asset()])
    with pytest.raises(DomainError, match="reason"):
        workflow.reject_loan(session, people.officer, loan_id, "   ", now=NOW)
    assert fresh_loan(session, loan_id).status == REQUESTED
    assert actions(session, loan_id) == ["loan.requested"]


def test_a_decided_request_cannot_be_decided_again(session, people, make_asset):
    loan_id = ask(session, people.borrower, [make_asset()])
    workflow.approve_loan(session, people.officer, loan_id, now=NOW)

    with pytest.raises(Conflict, match="already been decided"):
        workflow.approve_loan(session, people.officer2, loan_id, now=NOW)  # a double-submitted form
    with pytest.raises(Conflict, match="already been decided"):
        workflow.reject_loan(session, people.officer2, loan_id, "ช้าไป", now=NOW)

    loan = fresh_loan(session, loan_id)
    assert (loan.status, loan.decided_by_id) == (APPROVED, people.officer.id)
    assert actions(session, loan_id) == ["loan.requested", "loan.approved"]


def test_approving_a_cancelled_request_is_refused(session, people, make_asset):
    loan_id = ask(session, people.borrower, [make_asset()])
    workflow.cancel_loan(session, people.borrower, loan_id, "งานเลื่อน", now=NOW)

    with pytest.raises(Conflict, match="already been decided"):
        workflow.approve_loan(session, people.officer, loan_id, now=NOW)

    loan = fresh_loan(session, loan_id)
    assert (loan.status, loan.officer_id, loan.decision_note) == (CANCELLED, None, "งานเลื่อน")
    assert actions(session, loan_id) == ["loan.requested", "loan.cancelled"]


def test_an_unknown_loan_is_not_found(session, people):
    with pytest.raises(NotFound):
        workflow.approve_loan(session, people.officer, 987_654_321, now=NOW)
    with pytest.raises(NotFound):
        workflow.hand_over(session, people.officer, 987_654_321, now=NOW)


# --- cancel ----------------------------------------------------------------------------------------


def test_the_borrower_cancels_an_approved_loan_and_its_asset_is_free_again(session, people, make_asset):
    asset = make_asset()
    loan_id = approved(session, people, [asset])

    workflow.cancel_loan(session, people.borrower, loan_id, now=NOW)

    assert fresh_loan(session, loan_id).status == CANCELLED
    (entry,) = entries(session, "loan", loan_id, "loan.cancelled")
    assert json.loads(entry.data)["after"] == {"status": CANCELLED}
    other = ask(session, people.borrower, [asset])
    workflow.approve_loan(session, people.officer, other, now=NOW)
    assert fresh_loan(session, other).status == APPROVED


def test_nobody_but_the_borrower_cancels_and_nobody_cancels_after_hand_over(session, people, make_asset):
    loan_id = approved(session, people, [make_asset()])
    with pytest.raises(Forbidden):
        workflow.cancel_loan(session, people.officer, loan_id, now=NOW)
    workflow.hand_over(session, people.officer, loan_id, now=at(START))

    with pytest.raises(Conflict, match="Handed over"):
        workflow.cancel_loan(session, people.borrower, loan_id, now=at(START))

    assert fresh_loan(session, loan_id).status == CHECKED_OUT
    assert "loan.cancelled" not in actions(session, loan_id)


# --- availability ----------------------------------------------------------------------------------


def test_overlapping_requests_are_both_accepted_and_the_first_approval_wins(session, people, make_asset):
    asset = make_asset()
    first = ask(session, people.borrower, [asset], start=date(2031, 3, 5), due=date(2031, 3, 8))
    second = ask(session, people.borrower, [asset], start=date(2031, 3, 7), due=date(2031, 3, 12))
    workflow.approve_loan(session, people.officer, first, now=NOW)
    first_ref = fresh_loan(session, first).ref

    with pytest.raises(Conflict) as caught:
        workflow.approve_loan(session, people.officer2, second, now=NOW)

    message = str(caught.value)
    assert asset.asset_number in message and first_ref in message and "already lent" in message
    assert caught.value.params["number"] == asset.asset_number and caught.value.params["ref"] == first_ref
    assert fresh_loan(session, second).status == REQUESTED
    assert actions(session, second) == ["loan.requested"]
    assert notes(session, people.borrower, "approved", second) == []


def test_a_request_for_days_already_approved_to_someone_else_is_refused_at_once(session, people, make_asset):
    asset = make_asset()
    first = approved(session, people, [asset])

    with pytest.raises(Conflict, match=fresh_loan(session, first).ref):
        ask(session, people.officer2, [asset], start=DUE, due=DUE + timedelta(days=2))


def test_loans_on_days_that_do_not_overlap_are_both_approved(session, people, make_asset):
    asset = make_asset()
    first = ask(session, people.borrower, [asset], start=date(2031, 3, 5), due=date(2031, 3, 8))
    second = ask(session, people.borrower, [asset], start=date(2031, 3, 9), due=date(2031, 3, 12))
    earlier = ask(session, people.borrower, [asset], start=date(2031, 3, 2), due=date(2031, 3, 4))

    for loan_id in (first, second, earlier):
        workflow.approve_loan(session, people.officer, loan_id, now=NOW)

    assert [fresh_loan(session, i).status for i in (first, second, earlier)] == [APPROVED] * 3


def test_an_overdue_item_still_out_blocks_the_next_loan_until_it_comes_back(session, people, make_asset):
    asset = make_asset()
    first = handed_over(session, people, [asset], start=date(2031, 3, 5), due=date(2031, 3, 8))
    late = at(date(2031, 3, 12))

    with pytest.raises(Conflict, match=fresh_loan(session, first).ref):
        ask(session, people.borrower, [asset], start=date(2031, 3, 12), due=date(2031, 3, 14), now=late)

    item_id = fresh_loan(session, first).items[0].id
    workflow.receive_items(session, people.officer, first, [ItemReturn(item_id, GOOD)], now=late)
    second = ask(session, people.borrower, [asset], start=date(2031, 3, 12), due=date(2031, 3, 14), now=late)
    workflow.approve_loan(session, people.officer, second, now=late)
    assert fresh_loan(session, second).status == APPROVED


def test_an_item_out_but_not_yet_due_leaves_later_days_free(session, people, make_asset):
    asset = make_asset()
    handed_over(session, people, [asset], start=date(2031, 3, 5), due=date(2031, 3, 8))
    during = at(date(2031, 3, 6))
    later = ask(session, people.borrower, [asset], start=date(2031, 3, 10), due=date(2031, 3, 12), now=during)
    workflow.approve_loan(session, people.officer, later, now=during)
    assert fresh_loan(session, later).status == APPROVED
    with pytest.raises(Conflict):
        ask(session, people.borrower, [asset], start=date(2031, 3, 7), due=date(2031, 3, 9), now=during)


def test_an_approved_later_loan_waits_while_the_earlier_item_is_overdue(session, people, make_asset):
    asset = make_asset()
    first = approved(session, people, [asset], start=date(2031, 3, 5), due=date(2031, 3, 8))
    later = ask(session, people.borrower, [asset], start=date(2031, 3, 10), due=date(2031, 3, 12))
    workflow.hand_over(session, people.officer, first, now=at(date(2031, 3, 5)))
    overdue_day = at(date(2031, 3, 10))

    with pytest.raises(Conflict, match=fresh_loan(session, first).ref):
        workflow.approve_loan(session, people.officer, later, now=overdue_day)
    assert fresh_loan(session, later).status == REQUESTED

    item_id = fresh_loan(session, first).items[0].id
    workflow.receive_items(session, people.officer2, first, [ItemReturn(item_id, GOOD)], now=overdue_day)
    workflow.approve_loan(session, people.officer, later, now=overdue_day)
    workflow.hand_over(session, people.officer, later, now=overdue_day)
    assert fresh_loan(session, later).status == CHECKED_OUT
    assert fresh_asset(session, asset.id).status == "on_loan"


def test_clashes_lists_the_loans_holding_an_asset(session, people, make_asset):
    asset, free = make_asset(), make_asset()
    loan_id = approved(session, people, [asset])
    ref = fresh_loan(session, loan_id).ref

    found = workflow.clashes(session, [asset.id, free.id], DUE, DUE + timedelta(days=3))

    assert found == [availability.Clash(asset.id, asset.asset_number, ref, START, DUE)]
    assert workflow.clashes(session, [asset.id], DUE + timedelta(days=1), DUE + timedelta(days=3)) == []
    assert workflow.clashes(session, [asset.id], START, DUE, exclude_loan_id=loan_id) == []


# --- hand-over -------------------------------------------------------------------------------------


def test_a_hand_over_puts_the_assets_on_loan_and_records_who_when_and_the_note(session, people, make_asset):
    tent, chair = make_asset(), make_asset()
    loan_id = approved(session, people, [tent, chair])
    when = at(START, 8)

    workflow.hand_over(session, people.officer2, loan_id, note=" ผ้าใบมีรอยเปื้อนเดิม ", now=when)

    loan = fresh_loan(session, loan_id)
    assert (loan.status, utc(loan.checked_out_at)) == (CHECKED_OUT, when)
    assert loan.checked_out_by_id == people.officer2.id
    assert loan.handover_note == "ผ้าใบมีรอยเปื้อนเดิม"
    assert {fresh_asset(session, a.id).status for a in (tent, chair)} == {"on_loan"}
    (entry,) = entries(session, "loan", loan_id, "loan.checked_out")
    data = json.loads(entry.data)
    assert data["after"] == {"status": CHECKED_OUT} and data["note"] == "ผ้าใบมีรอยเปื้อนเดิม"

    workflow.confirm_receipt(session, people.borrower, loan_id, now=when)
    assert utc(fresh_loan(session, loan_id).receipt_confirmed_at) == when
    assert len(entries(session, "loan", loan_id, "loan.receipt_confirmed")) == 1


def test_handing_over_twice_or_before_approval_is_refused(session, people, make_asset):
    loan_id = approved(session, people, [make_asset()])
    workflow.hand_over(session, people.officer, loan_id, now=at(START))
    waiting = ask(session, people.borrower, [make_asset()])

    with pytest.raises(Conflict, match="Only an approved loan"):
        workflow.hand_over(session, people.officer2, loan_id, now=at(START))
    with pytest.raises(Conflict, match="Only an approved loan"):
        workflow.hand_over(session, people.officer, waiting, now=at(START))

    assert fresh_loan(session, loan_id).checked_out_by_id == people.officer.id
    assert len(entries(session, "loan", loan_id, "loan.checked_out")) == 1
    assert fresh_loan(session, waiting).status == REQUESTED


def test_an_asset_that_went_to_repair_after_approval_is_not_handed_over(session, people, make_asset):
    asset = make_asset()
    loan_id = approved(session, people, [asset])
    asset_services.change_status(
        session, people.officer, asset.id, fresh_asset(session, asset.id).version, "in_repair", "จอแตก"
    )

    with pytest.raises(Conflict, match=asset.asset_number):
        workflow.hand_over(session, people.officer, loan_id, now=at(START))
    assert fresh_loan(session, loan_id).status == APPROVED


# --- returns ---------------------------------------------------------------------------------------


def test_a_partial_return_leaves_the_loan_checked_out_and_the_rest_out(session, people, make_asset):
    tent, chair = make_asset(), make_asset()
    loan_id = handed_over(session, people, [tent, chair])
    items = {i.asset_id: i.id for i in fresh_loan(session, loan_id).items}

    workflow.receive_items(session, people.officer, loan_id, [ItemReturn(items[chair.id], GOOD)], now=at(DUE))

    loan = fresh_loan(session, loan_id)
    assert loan.status == CHECKED_OUT and loan.returned_at is None
    assert [i.asset_id for i in loan.open_items] == [tent.id]
    assert fresh_asset(session, chair.id).status == "available"
    assert fresh_asset(session, tent.id).status == "on_loan"
    (returned,) = entries(session, "loan_item", items[chair.id], "loan.item_returned")
    assert json.loads(returned.data)["condition"] == GOOD and json.loads(returned.data)["late"] is False
    assert "loan.returned" not in actions(session, loan_id)

    late = at(DUE + timedelta(days=2))
    workflow.receive_items(session, people.officer2, loan_id, [ItemReturn(items[tent.id], GOOD)], now=late)

    loan = fresh_loan(session, loan_id)
    assert (loan.status, utc(loan.returned_at)) == (RETURNED, late)
    assert fresh_asset(session, tent.id).status == "available"
    (tent_back,) = entries(session, "loan_item", items[tent.id], "loan.item_returned")
    assert json.loads(tent_back.data)["late"] is True
    assert actions(session, loan_id)[-1] == "loan.returned"


def test_a_return_before_hand_over_is_refused(session, people, make_asset):
    loan_id = approved(session, people, [make_asset()])
    item_id = fresh_loan(session, loan_id).items[0].id

    with pytest.raises(Conflict, match="Only items that were handed over"):
        workflow.receive_items(session, people.officer, loan_id, [ItemReturn(item_id, GOOD)], now=NOW)

    loan = fresh_loan(session, loan_id)
    assert loan.status == APPROVED and loan.items[0].condition is None
    assert entries(session, "loan_item", item_id) == []


def test_receiving_an_item_twice_is_refused_and_changes_nothing(session, people, make_asset):
    tent, chair = make_asset(), make_asset()
    loan_id = handed_over(session, people, [tent, chair])
    items = {i.asset_id: i.id for i in fresh_loan(session, loan_id).items}
    workflow.receive_items(session, people.officer, loan_id, [ItemReturn(items[chair.id], GOOD)], now=at(DUE))

    with pytest.raises(Conflict, match="already been received back"):
        workflow.receive_items(
            session,
            people.officer2,
            loan_id,
            [ItemReturn(items[tent.id], GOOD), ItemReturn(items[chair.id], LOST, "หาย")],
            now=at(DUE),
        )

    loan = fresh_loan(session, loan_id)
    assert {i.asset_id: i.condition for i in loan.items} == {chair.id: GOOD, tent.id: None}  # all or nothing
    assert fresh_asset(session, chair.id).status == "available"
    assert fresh_asset(session, tent.id).status == "on_loan"
    assert len(entries(session, "loan_item", items[chair.id], "loan.item_returned")) == 1
    assert entries(session, "loan_item", items[tent.id]) == []


def test_an_item_of_another_loan_is_not_received_through_this_one(session, people, make_asset):
    mine = handed_over(session, people, [make_asset()])
    other = handed_over(session, people, [make_asset()])
    foreign_item = fresh_loan(session, other).items[0].id

    with pytest.raises(NotFound):
        workflow.receive_items(session, people.officer, mine, [ItemReturn(foreign_item, GOOD)], now=at(DUE))
    assert fresh_loan(session, other).items[0].condition is None


def test_a_damaged_item_goes_to_repair_with_a_case_at_its_value_when_borrowed(session, people, make_asset):
    camera = make_asset(name="กล้องถ่ายรูป", price=Decimal("12900.00"))
    loan_id = handed_over(session, people, [camera])
    item_id = fresh_loan(session, loan_id).items[0].id
    stored = fresh_asset(session, camera.id)
    raw = {**stored.state(), "price": "15500.00"}
    # the register's price changes after the loan was made
    asset_services.update_asset(session, people.officer, camera.id, stored.version, raw)
    assert fresh_asset(session, camera.id).price == Decimal("15500.00")

    workflow.receive_items(session, people.officer, loan_id, [ItemReturn(item_id, DAMAGED, "เลนส์แตก")], now=at(DUE))

    assert fresh_asset(session, camera.id).status == "in_repair"
    (incident,) = session.scalars(select(Incident).where(Incident.loan_item_id == item_id))
    assert (incident.kind, incident.value, incident.asset_id) == (DAMAGED, Decimal("12900.00"), camera.id)
    assert (incident.status, incident.description) == ("open", "เลนส์แตก")
    assert incident.opened_by_id == people.officer.id
    (opened,) = entries(session, "incident", incident.id, "incident.opened")
    assert json.loads(opened.data)["kind"] == DAMAGED
    assert Decimal(str(json.loads(opened.data)["value"])) == Decimal("12900.00")
    assert fresh_loan(session, loan_id).status == RETURNED


def test_a_lost_item_marks_the_asset_lost_and_opens_a_case(session, people, make_asset):
    asset = make_asset(price=Decimal("2500.00"))
    loan_id = handed_over(session, people, [asset])
    item_id = fresh_loan(session, loan_id).items[0].id

    workflow.receive_items(session, people.officer, loan_id, [ItemReturn(item_id, LOST, "หายระหว่างงาน")], now=at(DUE))

    assert fresh_asset(session, asset.id).status == "lost"
    (incident,) = session.scalars(select(Incident).where(Incident.loan_item_id == item_id))
    assert (incident.kind, incident.value) == (LOST, Decimal("2500.00"))
    assert len(entries(session, "incident", incident.id, "incident.opened")) == 1
    with pytest.raises(DomainError, match="cannot be lent"):
        ask(session, people.borrower, [asset], now=at(DUE), start=DUE + timedelta(days=1), due=DUE + timedelta(days=2))


def test_a_damaged_item_without_a_note_is_refused_and_nothing_is_received(session, people, make_asset):
    asset = make_asset()
    loan_id = handed_over(session, people, [asset])
    item_id = fresh_loan(session, loan_id).items[0].id

    with pytest.raises(DomainError, match="describe the damage"):
        workflow.receive_items(session, people.officer, loan_id, [ItemReturn(item_id, DAMAGED, "  ")], now=at(DUE))

    assert fresh_loan(session, loan_id).items[0].condition is None
    assert fresh_asset(session, asset.id).status == "on_loan"
    session.rollback()
    assert session.scalars(select(Incident).where(Incident.loan_item_id == item_id)).all() == []


# --- incidents -------------------------------------------------------------------------------------


def damaged_case(session, people, make_asset, condition=DAMAGED) -> tuple[int, int]:
    """(incident id, asset id) of a freshly damaged or lost item."""
    asset = make_asset(price=Decimal("8000.00"))
    loan_id = handed_over(session, people, [asset])
    item_id = fresh_loan(session, loan_id).items[0].id
    workflow.receive_items(session, people.officer, loan_id, [ItemReturn(item_id, condition, "ชำรุด")], now=at(DUE))
    session.rollback()
    return session.scalar(select(Incident.id).where(Incident.loan_item_id == item_id)), asset.id


def settled(session, incident_id: int) -> Incident:
    session.rollback()
    return session.get(Incident, incident_id)


def test_the_same_document_attached_twice_to_a_case_is_one_document(session, people, make_asset, tmp_path):
    from core.files import FileStore
    from lending.loans.models import IncidentDocument

    incident_id, _asset_id = damaged_case(session, people, make_asset)
    store = FileStore(tmp_path)
    slip = b"%PDF-1.4\n% " + unique("slip").encode() + b"\n%%EOF\n"

    first = cases.attach_incident_document(
        session, people.officer, incident_id, slip, "ใบเสร็จ.pdf", "ใบเสร็จค่าซ่อม", store, 10_000_000
    ).id
    again = cases.attach_incident_document(
        session, people.officer2, incident_id, slip, "ใบเสร็จ.pdf", "ใบเสร็จค่าซ่อม", store, 10_000_000
    ).id  # a double submit

    session.rollback()
    assert again == first
    docs = session.scalars(select(IncidentDocument).where(IncidentDocument.incident_id == incident_id)).all()
    assert [d.id for d in docs] == [first]
    assert len(entries(session, "incident", incident_id, "incident.document_added")) == 1


def test_a_repair_at_the_borrowers_cost_ends_the_case_and_the_asset_is_available(session, people, make_asset):
    incident_id, asset_id = damaged_case(session, people, make_asset)

    cases.settle_incident(
        session, people.officer2, incident_id, "repaired", note="ซ่อมแล้ว ร้าน ก.", now=at(DUE + timedelta(days=5))
    )

    incident = settled(session, incident_id)
    assert (incident.status, incident.resolution) == ("settled", "repaired")
    assert incident.settled_by_id == people.officer2.id
    assert fresh_asset(session, asset_id).status == "available"
    (entry,) = entries(session, "incident", incident_id, "incident.settled")
    assert json.loads(entry.data)["resolution"] == "repaired"


def test_a_payment_of_the_value_ends_the_case_with_the_amount(session, people, make_asset):
    incident_id, asset_id = damaged_case(session, people, make_asset, LOST)

    with pytest.raises(DomainError, match="amount"):
        cases.settle_incident(session, people.officer, incident_id, "paid", now=at(DUE))
    assert settled(session, incident_id).status == "open"

    cases.settle_incident(
        session, people.officer, incident_id, "paid", amount=Decimal("8000.00"), note="ใบเสร็จเลขที่ 12/2574", now=at(DUE)
    )

    incident = settled(session, incident_id)
    assert (incident.resolution, incident.amount) == ("paid", Decimal("8000.00"))
    assert fresh_asset(session, asset_id).status == "lost"
    (entry,) = entries(session, "incident", incident_id, "incident.settled")
    assert Decimal(str(json.loads(entry.data)["amount"])) == Decimal("8000.00")


def test_a_replacement_in_kind_ends_the_case(session, people, make_asset):
    incident_id, _ = damaged_case(session, people, make_asset, LOST)
    cases.settle_incident(session, people.officer, incident_id, "replaced", note="ยี่ห้อเดียวกัน", now=at(DUE))
    assert settled(session, incident_id).resolution == "replaced"
    assert len(entries(session, "incident", incident_id, "incident.settled")) == 1


def test_only_the_head_writes_a_case_off(session, people, make_asset):
    incident_id, _ = damaged_case(session, people, make_asset)

    with pytest.raises(DomainError, match="Only the head"):
        cases.settle_incident(session, people.officer, incident_id, "written_off", note="เสื่อมสภาพ", now=at(DUE))
    assert settled(session, incident_id).status == "open"
    assert entries(session, "incident", incident_id, "incident.settled") == []

    cases.settle_incident(session, people.head, incident_id, "written_off", note="เสื่อมสภาพตามอายุ", now=at(DUE))

    incident = settled(session, incident_id)
    assert (incident.resolution, incident.settled_by_id) == ("written_off", people.head.id)
    assert entries(session, "incident", incident_id, "incident.settled")[0].actor == people.head.username


def test_a_case_is_settled_once_and_never_by_a_bystander(session, people, make_user, make_asset):
    incident_id, _ = damaged_case(session, people, make_asset)
    with pytest.raises(Forbidden):
        cases.settle_incident(session, make_user(roles=["staff"]), incident_id, "repaired", now=at(DUE))
    cases.settle_incident(session, people.officer, incident_id, "repaired", now=at(DUE))

    with pytest.raises(Conflict, match="already settled"):
        cases.settle_incident(session, people.head, incident_id, "written_off", note="x", now=at(DUE))

    assert settled(session, incident_id).resolution == "repaired"
    assert len(entries(session, "incident", incident_id, "incident.settled")) == 1


def test_an_officer_does_not_settle_the_case_of_their_own_loan(session, people, make_asset):
    asset = make_asset()
    loan_id = ask(session, people.officer, [asset])
    workflow.approve_loan(session, people.officer2, loan_id, now=NOW)
    workflow.hand_over(session, people.officer2, loan_id, now=at(START))
    item_id = fresh_loan(session, loan_id).items[0].id
    workflow.receive_items(session, people.officer2, loan_id, [ItemReturn(item_id, DAMAGED, "ร้าว")], now=at(DUE))
    session.rollback()
    incident_id = session.scalar(select(Incident.id).where(Incident.loan_item_id == item_id))

    with pytest.raises(Forbidden):
        cases.settle_incident(session, people.officer, incident_id, "repaired", now=at(DUE))
    assert settled(session, incident_id).status == "open"


# --- stale pages -----------------------------------------------------------------------------------


def test_an_approval_from_a_page_opened_before_someone_elses_change_is_refused_and_changes_nothing(
    session, people, make_asset
):
    loan_id = ask(session, people.borrower, [make_asset(price=Decimal("30000.00"))])
    seen = fresh_loan(session, loan_id).version
    workflow.approve_loan(session, people.officer, loan_id, version=seen, now=NOW)
    people.make("head")  # before counting the audit entries
    before = audit_count(session)

    with pytest.raises(Conflict, match="Someone else changed this loan"):
        workflow.approve_loan(session, people.head, loan_id, version=seen, now=NOW)
    with pytest.raises(Conflict, match="Someone else changed this loan"):
        workflow.reject_loan(session, people.head, loan_id, "ไม่อนุมัติ", version=seen, now=NOW)

    loan = fresh_loan(session, loan_id)
    assert (loan.status, loan.head_id, loan.version) == (REQUESTED, None, seen + 1)
    assert audit_count(session) == before

    workflow.approve_loan(session, people.head, loan_id, version=loan.version, now=NOW)  # after a reload
    assert fresh_loan(session, loan_id).status == APPROVED


def test_a_hand_over_or_return_from_a_stale_page_is_refused(session, people, make_asset):
    loan_id = approved(session, people, [make_asset()])
    seen = fresh_loan(session, loan_id).version
    workflow.hand_over(session, people.officer, loan_id, version=seen, now=at(START))
    item_id = fresh_loan(session, loan_id).items[0].id

    with pytest.raises(Conflict, match="Someone else changed this loan"):
        workflow.hand_over(session, people.officer2, loan_id, version=seen, now=at(START))
    with pytest.raises(Conflict, match="Someone else changed this loan"):
        workflow.receive_items(
            session, people.officer2, loan_id, [ItemReturn(item_id, GOOD)], version=seen, now=at(DUE)
        )
    with pytest.raises(Conflict, match="Someone else changed this loan"):
        workflow.cancel_loan(session, people.borrower, loan_id, version=seen, now=at(START))

    loan = fresh_loan(session, loan_id)
    assert (loan.status, loan.checked_out_by_id) == (CHECKED_OUT, people.officer.id)
    assert loan.items[0].condition is None


def test_settling_a_case_from_a_stale_page_is_refused(session, people, make_asset):
    incident_id, _ = damaged_case(session, people, make_asset)
    seen = settled(session, incident_id).version
    cases.settle_incident(session, people.officer, incident_id, "repaired", version=seen, now=at(DUE))

    with pytest.raises(Conflict, match="Someone else changed this case"):
        cases.settle_incident(session, people.head, incident_id, "written_off", note="x", version=seen, now=at(DUE))
    assert settled(session, incident_id).resolution == "repaired"


# --- overdue: the daily run and the demand letter --------------------------------------------------


def mails_to(result, email: str) -> list:
    return [m for m in result.mails if m.to == email]


def test_the_daily_run_demands_each_overdue_loan_once_and_notifies_the_borrower(session, people, make_asset):
    due = date(2031, 4, 10)
    loan_id = handed_over(session, people, [make_asset(), make_asset()], start=date(2031, 4, 8), due=due)
    items = [i.id for i in fresh_loan(session, loan_id).items]
    ref = fresh_loan(session, loan_id).ref
    morning = at(due + timedelta(days=1), 6)

    first = cases.remind(session, now=morning)

    (demand,) = demands_for(session, loan_id)
    assert (demand.demanded_on, demand.channel, sorted(demand.item_ids)) == (
        due + timedelta(days=1),
        "mail",
        sorted(items),
    )
    (issued,) = entries(session, "demand", demand.id, "demand.issued")
    assert issued.actor == "" and json.loads(issued.data)["loan"] == loan_id
    assert len(notes(session, people.borrower, "overdue", loan_id)) == 1
    (mail,) = mails_to(first, people.borrower.email)
    assert ref in mail.body and "1 days overdue" in mail.body
    assert first.demands >= 1 and first.borrower_mails >= 1

    again = cases.remind(session, now=morning + timedelta(hours=8))  # run twice the same day

    assert len(demands_for(session, loan_id)) == 1
    assert mails_to(again, people.borrower.email) == []
    assert len(notes(session, people.borrower, "overdue", loan_id)) == 1
    assert len(entries(session, "demand", demand.id)) == 1


def test_a_loan_demanded_within_the_week_gets_no_new_demand_until_the_week_is_over(session, people, make_asset):
    due = date(2031, 5, 10)
    loan_id = handed_over(session, people, [make_asset()], start=date(2031, 5, 8), due=due)

    for days_late in range(1, 8):  # day 1 demands; days 2..7 are within the week
        cases.remind(session, now=at(due + timedelta(days=days_late), 7))
    assert [d.demanded_on for d in demands_for(session, loan_id)] == [due + timedelta(days=1)]
    assert len(notes(session, people.borrower, "overdue", loan_id)) == 1

    cases.remind(session, now=at(due + timedelta(days=8), 7))

    assert [d.demanded_on for d in demands_for(session, loan_id)] == [due + timedelta(days=1), due + timedelta(days=8)]
    assert len(notes(session, people.borrower, "overdue", loan_id)) == 2


def test_a_demand_letter_counts_as_the_weeks_demand(session, people, make_asset):
    due = date(2031, 6, 10)
    loan_id = handed_over(session, people, [make_asset()], start=date(2031, 6, 8), due=due)
    day = at(due + timedelta(days=2))
    cases.issue_demand_letter(session, people.officer, loan_id, now=day)

    cases.remind(session, now=day + timedelta(hours=1))

    assert [d.channel for d in demands_for(session, loan_id)] == ["letter"]


def test_the_daily_run_leaves_returned_and_not_yet_due_loans_alone(session, people, make_asset):
    due = date(2031, 7, 10)
    on_time = handed_over(session, people, [make_asset()], start=date(2031, 7, 8), due=due)
    back = handed_over(session, people, [make_asset()], start=date(2031, 7, 8), due=due)
    back_item = fresh_loan(session, back).items[0].id
    workflow.receive_items(session, people.officer, back, [ItemReturn(back_item, GOOD)], now=at(due))

    cases.remind(session, now=at(due, 7))
    cases.remind(session, now=at(due + timedelta(days=1), 7))

    assert demands_for(session, back) == []
    assert [d.demanded_on for d in demands_for(session, on_time)] == [due + timedelta(days=1)]


def test_the_borrower_is_told_the_day_before_the_due_date_once(session, people, make_asset):
    due = date(2031, 8, 10)
    loan_id = handed_over(session, people, [make_asset()], start=date(2031, 8, 8), due=due)
    eve = at(due - timedelta(days=1), 7)

    cases.remind(session, now=eve)
    cases.remind(session, now=eve + timedelta(hours=6))

    (note,) = notes(session, people.borrower, "due_tomorrow", loan_id)
    assert note.day == due - timedelta(days=1)
    assert demands_for(session, loan_id) == []
    cases.remind(session, now=at(due - timedelta(days=2), 7))  # two days before: nothing more
    assert len(notes(session, people.borrower, "due_tomorrow", loan_id)) == 1


def test_a_demand_letter_is_issued_only_for_an_overdue_loan(session, people, make_asset):
    due = date(2031, 9, 10)
    loan_id = handed_over(session, people, [make_asset()], start=date(2031, 9, 8), due=due)

    with pytest.raises(Conflict, match="Nothing of this loan is overdue"):
        cases.issue_demand_letter(session, people.officer, loan_id, now=at(due))
    with pytest.raises(Forbidden):
        cases.issue_demand_letter(session, people.borrower, loan_id, now=at(due + timedelta(days=3)))
    assert demands_for(session, loan_id) == []

    demand = cases.issue_demand_letter(session, people.officer, loan_id, now=at(due + timedelta(days=3)))

    (stored,) = demands_for(session, loan_id)
    assert stored.id == demand.id
    assert (stored.channel, stored.issued_by_id, stored.demanded_on) == (
        "letter",
        people.officer.id,
        due + timedelta(days=3),
    )
    (entry,) = entries(session, "demand", stored.id, "demand.issued")
    assert entry.actor == people.officer.username and json.loads(entry.data)["channel"] == "letter"


def test_a_returned_loan_gets_no_demand_letter(session, people, make_asset):
    due = date(2031, 10, 10)
    loan_id = handed_over(session, people, [make_asset()], start=date(2031, 10, 8), due=due)
    item_id = fresh_loan(session, loan_id).items[0].id
    workflow.receive_items(
        session, people.officer, loan_id, [ItemReturn(item_id, GOOD)], now=at(due + timedelta(days=2))
    )

    with pytest.raises(Conflict, match="Nothing of this loan is overdue"):
        cases.issue_demand_letter(session, people.officer, loan_id, now=at(due + timedelta(days=3)))
    assert demands_for(session, loan_id) == []


def test_a_letter_names_and_lists_only_the_items_overdue_when_it_is_made(session, people, make_asset):
    from lending.loans.documents.demand import demand_letter_pdf
    from tests.unit.test_documents import flat, squash

    due = date(2031, 11, 10)
    chair, table = make_asset(name="เก้าอี้พับ"), make_asset(name="โต๊ะพับยาว")
    loan_id = handed_over(session, people, [chair, table], start=date(2031, 11, 8), due=due)
    items = {i.asset_id: i.id for i in fresh_loan(session, loan_id).items}
    workflow.receive_items(
        session, people.officer, loan_id, [ItemReturn(items[chair.id], GOOD)], now=at(due + timedelta(days=1))
    )  # late, but back before the letter

    cases.issue_demand_letter(session, people.officer, loan_id, now=at(due + timedelta(days=3)))

    (demand,) = demands_for(session, loan_id)
    assert demand.item_ids == [items[table.id]]
    (entry,) = entries(session, "demand", demand.id, "demand.issued")
    assert json.loads(entry.data)["items"] == [items[table.id]]
    # the printed letter lists the table, not the chair that came back
    text = squash(flat(demand_letter_pdf(demand, get_settings(session))))
    assert squash(table.asset_number) in text and squash(chair.asset_number) not in text
    # the daily run a day later: the only item out was named by that letter, so no second demand
    cases.remind(session, now=at(due + timedelta(days=4), 7))
    assert len(demands_for(session, loan_id)) == 1


def test_the_daily_run_demands_an_overdue_item_that_no_recent_demand_named(session, people, make_asset):
    from audit import record
    from core.db import begin_write

    due = date(2031, 11, 20)
    chair, table = make_asset(), make_asset()
    loan_id = handed_over(session, people, [chair, table], start=date(2031, 11, 18), due=due)
    items = {i.asset_id: i.id for i in fresh_loan(session, loan_id).items}
    # a paper-ledger demand two days after the due date, for the chair's row only
    begin_write(session)
    demand = Demand(
        loan_id=loan_id,
        demanded_on=due + timedelta(days=2),
        demanded_at=at(due + timedelta(days=2)),
        channel="ledger",
        item_ids=[items[chair.id]],
    )
    session.add(demand)
    session.flush()
    record(session, None, "test.ledger_demand", demand, {"items": demand.item_ids})
    session.commit()

    cases.remind(session, now=at(due + timedelta(days=3), 7))

    first, second = demands_for(session, loan_id)
    assert (second.channel, second.demanded_on) == ("mail", due + timedelta(days=3))
    assert sorted(second.item_ids) == sorted(items.values())  # both items are overdue now
    cases.remind(session, now=at(due + timedelta(days=4), 7))  # now both were named this week
    assert len(demands_for(session, loan_id)) == 2
