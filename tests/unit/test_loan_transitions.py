"""The lending state machine (lending/loans/models.py) and its permission predicates, in memory: no database,
no Flask.

Every allowed transition is shown to land in its state; every refused one raises the domain error the
person sees and leaves the record exactly as it was.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from core.db import Conflict, DomainError
from core.models import User
from lending.loans import permissions as workflow
from lending.loans.models import (
    APPROVED,
    CANCELLED,
    CHECKED_OUT,
    DAMAGED,
    GOOD,
    LOST,
    REJECTED,
    REQUESTED,
    RETURNED,
    STATUS_NAMES,
    Incident,
    Loan,
    LoanItem,
)

AT = datetime(2031, 3, 2, 3, 0, tzinfo=UTC)
LATER = AT + timedelta(hours=2)
_ids = iter(range(1, 10_000))


def person(*roles: str) -> User:
    """A user in memory with these roles (User.can reads the role rows)."""
    user = User(id=next(_ids), username=f"p{next(_ids)}", name="ทดสอบ", active=True)
    user.set_roles(set(roles))
    return user


def a_loan(
    status: str = REQUESTED, *, needs_head: bool = False, items: int = 1, borrower: User | None = None, **fields
) -> Loan:
    """A loan in memory in the given state, with its items (column defaults apply only on insert)."""
    borrower = borrower or person("staff")
    values = {"decision_note": "", "handover_note": "", **fields}
    loan = Loan(
        id=next(_ids),
        ref="2574/00001",
        borrower_id=borrower.id,
        purpose="ประชุมประชาคม",
        place="ศาลา",
        off_premises=False,
        start_on=date(2031, 3, 3),
        due_on=date(2031, 3, 8),
        status=status,
        requested_at=AT,
        needs_head=needs_head,
        version=1,
        **values,
    )
    loan.items = [
        LoanItem(id=next(_ids), asset_id=100 + n, value=Decimal("350.00"), condition=None, return_note="", version=1)
        for n in range(items)
    ]
    return loan


def out_loan(items: int = 1) -> Loan:
    """A loan that was approved and handed over."""
    return a_loan(
        CHECKED_OUT,
        items=items,
        officer_id=1,
        officer_at=AT,
        decided_at=AT,
        decided_by_id=1,
        checked_out_at=AT,
        checked_out_by_id=1,
    )


def an_incident(kind: str = DAMAGED) -> Incident:
    return Incident(
        id=next(_ids),
        asset_id=101,
        kind=kind,
        value=Decimal("12900.00"),
        description="จอแตก",
        status="open",
        resolution=None,
        amount=None,
        resolution_note="",
        version=1,
    )


def snapshot(obj) -> dict:
    """Every mapped column's value, to show that a refusal changed nothing."""
    return {c.key: getattr(obj, c.key) for c in obj.__mapper__.column_attrs}


OFFICER = person("supply_officer")
HEAD = person("head")
OTHER_STATES = {
    APPROVED: {"officer_id": 1, "officer_at": AT, "decided_at": AT, "decided_by_id": 1},
    CHECKED_OUT: {"officer_id": 1, "officer_at": AT, "decided_at": AT, "checked_out_at": AT},
    RETURNED: {"officer_id": 1, "officer_at": AT, "decided_at": AT, "checked_out_at": AT, "returned_at": AT},
    REJECTED: {"decided_at": AT, "decision_note": "ไม่ใช่ราชการ"},
    CANCELLED: {"cancelled_at": AT},
}


# --- approval --------------------------------------------------------------------------------------


def test_an_officer_approval_of_an_ordinary_request_approves_it():
    loan = a_loan()
    assert loan.approve_as_officer(OFFICER, LATER) is True
    assert (loan.status, loan.officer_id, loan.officer_at) == (APPROVED, OFFICER.id, LATER)
    assert (loan.decided_by_id, loan.decided_at) == (OFFICER.id, LATER)
    assert loan.head_id is None


def test_an_officer_approval_of_a_request_that_needs_the_head_leaves_it_waiting_for_the_head():
    loan = a_loan(needs_head=True)
    assert loan.approve_as_officer(OFFICER, LATER) is False
    assert loan.status == REQUESTED
    assert loan.officer_id == OFFICER.id
    assert loan.waiting_for_head
    assert loan.decided_at is None


def test_the_head_approval_after_the_officer_approves_the_request():
    loan = a_loan(needs_head=True)
    loan.approve_as_officer(OFFICER, AT)
    loan.approve_as_head(HEAD, LATER)
    assert (loan.status, loan.head_id, loan.head_at) == (APPROVED, HEAD.id, LATER)
    assert (loan.decided_by_id, loan.decided_at) == (HEAD.id, LATER)
    assert loan.officer_id == OFFICER.id
    assert not loan.waiting_for_head


def test_head_approval_before_the_officer_is_refused():
    loan = a_loan(needs_head=True)
    before = snapshot(loan)
    with pytest.raises(DomainError, match="supply officer approves first"):
        loan.approve_as_head(HEAD, LATER)
    assert snapshot(loan) == before


def test_head_approval_of_a_request_that_does_not_need_it_is_refused():
    loan = a_loan(needs_head=False)
    before = snapshot(loan)
    with pytest.raises(DomainError, match="does not need the head"):
        loan.approve_as_head(HEAD, LATER)
    assert snapshot(loan) == before


def test_a_second_officer_approval_of_a_request_waiting_for_the_head_is_refused():
    loan = a_loan(needs_head=True)
    loan.approve_as_officer(OFFICER, AT)
    before = snapshot(loan)
    with pytest.raises(Conflict, match="already approved"):
        loan.approve_as_officer(person("supply_officer"), LATER)
    assert snapshot(loan) == before


@pytest.mark.parametrize("status", sorted(OTHER_STATES))
def test_an_officer_approval_is_refused_unless_the_loan_is_requested(status):
    loan = a_loan(status, **OTHER_STATES[status])
    before = snapshot(loan)
    with pytest.raises(Conflict, match=f"This loan is {STATUS_NAMES[status]}"):
        loan.approve_as_officer(OFFICER, LATER)
    assert snapshot(loan) == before


@pytest.mark.parametrize("status", sorted(OTHER_STATES))
def test_a_head_approval_is_refused_unless_the_loan_is_requested(status):
    loan = a_loan(status, needs_head=True, **OTHER_STATES[status])
    before = snapshot(loan)
    with pytest.raises(Conflict, match=f"This loan is {STATUS_NAMES[status]}"):
        loan.approve_as_head(HEAD, LATER)
    assert snapshot(loan) == before


def test_approving_a_cancelled_request_is_refused_with_a_reload_hint():
    loan = a_loan()
    loan.cancel(AT)
    with pytest.raises(Conflict, match="no longer possible. Reload the page"):
        loan.approve_as_officer(OFFICER, LATER)
    assert loan.status == CANCELLED and loan.officer_id is None


# --- rejection -------------------------------------------------------------------------------------


def test_a_rejection_with_a_reason_rejects_the_request_and_keeps_the_reason():
    loan = a_loan()
    loan.reject(OFFICER, LATER, "  ไม่ใช่การใช้ในราชการ  ")
    assert (loan.status, loan.decided_by_id, loan.decided_at) == (REJECTED, OFFICER.id, LATER)
    assert loan.decision_note == "ไม่ใช่การใช้ในราชการ"


def test_the_head_may_reject_a_request_waiting_for_them():
    loan = a_loan(needs_head=True)
    loan.approve_as_officer(OFFICER, AT)
    loan.reject(HEAD, LATER, "ราคาสูงเกินจำเป็น")
    assert (loan.status, loan.decided_by_id) == (REJECTED, HEAD.id)


@pytest.mark.parametrize("reason", ["", "   ", "\n\t"])
def test_a_rejection_without_a_reason_is_refused(reason):
    loan = a_loan()
    before = snapshot(loan)
    with pytest.raises(DomainError, match="reason for the rejection"):
        loan.reject(OFFICER, LATER, reason)
    assert snapshot(loan) == before


@pytest.mark.parametrize("status", sorted(OTHER_STATES))
def test_a_rejection_is_refused_unless_the_loan_is_requested(status):
    loan = a_loan(status, **OTHER_STATES[status])
    before = snapshot(loan)
    with pytest.raises(Conflict):
        loan.reject(OFFICER, LATER, "ช้าไป")
    assert snapshot(loan) == before


# --- cancellation ----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [REQUESTED, APPROVED])
def test_the_borrower_may_cancel_until_hand_over(status):
    loan = a_loan(status, **OTHER_STATES.get(status, {}))
    loan.cancel(LATER, "  งานเลื่อน ")
    assert (loan.status, loan.cancelled_at, loan.decision_note) == (CANCELLED, LATER, "งานเลื่อน")


def test_a_cancellation_without_a_reason_keeps_the_note_empty():
    loan = a_loan()
    loan.cancel(LATER)
    assert loan.status == CANCELLED and loan.decision_note == ""


@pytest.mark.parametrize("status", [CHECKED_OUT, RETURNED, REJECTED, CANCELLED])
def test_cancelling_after_hand_over_or_a_decision_against_it_is_refused(status):
    loan = a_loan(status, **OTHER_STATES[status])
    before = snapshot(loan)
    with pytest.raises(Conflict, match=f"This loan is {STATUS_NAMES[status]}"):
        loan.cancel(LATER)
    assert snapshot(loan) == before


# --- hand-over and receipt -------------------------------------------------------------------------


def test_handing_over_an_approved_loan_checks_it_out():
    loan = a_loan(APPROVED, **OTHER_STATES[APPROVED])
    loan.hand_over(OFFICER, LATER, "  สภาพดี ครบ ")
    assert (loan.status, loan.checked_out_at, loan.checked_out_by_id) == (CHECKED_OUT, LATER, OFFICER.id)
    assert loan.handover_note == "สภาพดี ครบ"


def test_handing_over_twice_is_refused():
    loan = a_loan(APPROVED, **OTHER_STATES[APPROVED])
    loan.hand_over(OFFICER, AT, "")
    before = snapshot(loan)
    with pytest.raises(Conflict, match="This loan is Handed over"):
        loan.hand_over(person("supply_officer"), LATER, "again")
    assert snapshot(loan) == before


@pytest.mark.parametrize("status", [REQUESTED, RETURNED, REJECTED, CANCELLED])
def test_handing_over_a_loan_that_is_not_approved_is_refused(status):
    loan = a_loan(status, **OTHER_STATES.get(status, {}))
    before = snapshot(loan)
    with pytest.raises(Conflict):
        loan.hand_over(OFFICER, LATER, "")
    assert snapshot(loan) == before


@pytest.mark.parametrize("status", [CHECKED_OUT, RETURNED])
def test_the_borrower_confirms_receipt_once_the_items_were_handed_over(status):
    loan = a_loan(status, **OTHER_STATES[status])
    loan.confirm_receipt(LATER)
    assert loan.receipt_confirmed_at == LATER


def test_confirming_receipt_twice_is_refused():
    loan = out_loan()
    loan.confirm_receipt(AT)
    with pytest.raises(Conflict, match="already confirmed"):
        loan.confirm_receipt(LATER)
    assert loan.receipt_confirmed_at == AT


@pytest.mark.parametrize("status", [REQUESTED, APPROVED, REJECTED, CANCELLED])
def test_confirming_receipt_before_hand_over_is_refused(status):
    loan = a_loan(status, **OTHER_STATES.get(status, {}))
    with pytest.raises(Conflict):
        loan.confirm_receipt(LATER)
    assert loan.receipt_confirmed_at is None


# --- returns ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("condition,note", [(GOOD, ""), (DAMAGED, "ขาหัก"), (LOST, "หายระหว่างขนย้าย")])
def test_an_item_of_a_handed_over_loan_is_received_back_in_its_condition(condition, note):
    loan = out_loan()
    item = loan.items[0]
    item.record_return(OFFICER, LATER, condition, f" {note} ")
    assert (item.condition, item.returned_at, item.received_by_id) == (condition, LATER, OFFICER.id)
    assert item.return_note == note


@pytest.mark.parametrize("status", [REQUESTED, APPROVED, RETURNED, REJECTED, CANCELLED])
def test_a_return_before_hand_over_or_after_the_loan_ended_is_refused(status):
    loan = a_loan(status, **OTHER_STATES.get(status, {}))
    item = loan.items[0]
    before = snapshot(item)
    with pytest.raises(Conflict, match="Only items that were handed over"):
        item.record_return(OFFICER, LATER, GOOD, "")
    assert snapshot(item) == before


def test_receiving_the_same_item_twice_is_refused():
    loan = out_loan(items=2)
    item = loan.items[0]
    item.record_return(OFFICER, AT, GOOD, "")
    before = snapshot(item)
    with pytest.raises(Conflict, match="already been received back"):
        item.record_return(person("supply_officer"), LATER, DAMAGED, "ร้าว")
    assert snapshot(item) == before


@pytest.mark.parametrize("condition", [DAMAGED, LOST])
@pytest.mark.parametrize("note", ["", "   "])
def test_a_damaged_or_lost_item_without_a_note_is_refused(condition, note):
    item = out_loan().items[0]
    before = snapshot(item)
    with pytest.raises(DomainError, match="Describe the damage or the loss"):
        item.record_return(OFFICER, LATER, condition, note)
    assert snapshot(item) == before


@pytest.mark.parametrize("condition", ["", "broken", None, "GOOD"])
def test_an_unknown_condition_is_refused(condition):
    item = out_loan().items[0]
    before = snapshot(item)
    with pytest.raises(DomainError, match="Choose the condition"):
        item.record_return(OFFICER, LATER, condition, "note")
    assert snapshot(item) == before


def test_the_loan_is_returned_only_once_nothing_is_out():
    loan = out_loan(items=3)
    first, second, third = loan.items
    first.record_return(OFFICER, AT, GOOD, "")
    assert loan.settle_if_complete(AT) is False
    assert (loan.status, loan.returned_at) == (CHECKED_OUT, None)
    assert loan.open_items == [second, third]
    second.record_return(OFFICER, AT, DAMAGED, "บุบ")
    third.record_return(OFFICER, LATER, LOST, "หาย")
    assert loan.open_items == []
    assert loan.settle_if_complete(LATER) is True
    assert (loan.status, loan.returned_at) == (RETURNED, LATER)


def test_settling_a_returned_loan_again_changes_nothing():
    loan = out_loan()
    loan.items[0].record_return(OFFICER, AT, GOOD, "")
    assert loan.settle_if_complete(AT) is True
    assert loan.settle_if_complete(LATER) is False
    assert loan.returned_at == AT


@pytest.mark.parametrize("status", [REQUESTED, APPROVED, REJECTED, CANCELLED])
def test_a_loan_that_was_never_handed_over_is_not_settled_as_returned(status):
    loan = a_loan(status, **OTHER_STATES.get(status, {}))
    loan.items[0].condition = GOOD  # even if an item somehow carries a condition
    assert loan.settle_if_complete(LATER) is False
    assert loan.status == status


def test_a_loan_is_overdue_only_while_handed_over_items_are_out_after_the_due_date():
    loan = out_loan(items=2)
    due = loan.due_on
    assert not loan.is_overdue(due)
    assert loan.is_overdue(due + timedelta(days=1))
    loan.items[0].record_return(OFFICER, AT, GOOD, "")
    assert loan.is_overdue(due + timedelta(days=1))  # one item still out
    loan.items[1].record_return(OFFICER, AT, GOOD, "")
    assert not loan.is_overdue(due + timedelta(days=1))
    assert not a_loan(APPROVED, **OTHER_STATES[APPROVED]).is_overdue(due + timedelta(days=30))


# --- incidents -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "resolution,amount,note",
    [
        ("repaired", None, "ซ่อมที่ร้านโดยผู้ยืมออกค่าใช้จ่าย"),
        ("replaced", None, ""),
        ("paid", Decimal("12900.00"), "ชำระเงินตามใบเสร็จ"),
    ],
)
def test_an_officer_settles_a_case_by_repair_replacement_or_payment(resolution, amount, note):
    incident = an_incident()
    incident.settle(OFFICER, LATER, resolution, amount, f" {note} ", is_head=False)
    assert (incident.status, incident.resolution, incident.amount) == ("settled", resolution, amount)
    assert (incident.settled_at, incident.settled_by_id) == (LATER, OFFICER.id)
    assert incident.resolution_note == note


def test_the_head_writes_off_a_case_with_a_reason():
    incident = an_incident(LOST)
    incident.settle(HEAD, LATER, "written_off", None, "เสื่อมสภาพตามอายุการใช้งาน", is_head=True)
    assert (incident.status, incident.resolution) == ("settled", "written_off")
    assert incident.settled_by_id == HEAD.id


def test_a_write_off_by_someone_who_is_not_the_head_is_refused():
    incident = an_incident()
    before = snapshot(incident)
    with pytest.raises(DomainError, match="Only the head"):
        incident.settle(OFFICER, LATER, "written_off", None, "เสื่อมสภาพ", is_head=False)
    assert snapshot(incident) == before


def test_a_write_off_without_a_reason_is_refused():
    incident = an_incident()
    before = snapshot(incident)
    with pytest.raises(DomainError, match="reason for the write-off"):
        incident.settle(HEAD, LATER, "written_off", None, "  ", is_head=True)
    assert snapshot(incident) == before


@pytest.mark.parametrize("amount", [None, Decimal("0"), Decimal("-1.00")])
def test_settling_as_paid_without_a_positive_amount_is_refused(amount):
    incident = an_incident()
    before = snapshot(incident)
    with pytest.raises(DomainError, match="Enter the amount paid"):
        incident.settle(OFFICER, LATER, "paid", amount, "", is_head=False)
    assert snapshot(incident) == before


@pytest.mark.parametrize("resolution", ["", "forgiven", "PAID", None])
def test_an_unknown_resolution_is_refused(resolution):
    incident = an_incident()
    before = snapshot(incident)
    with pytest.raises(DomainError, match="Choose how the case ends"):
        incident.settle(OFFICER, LATER, resolution, Decimal("1.00"), "x", is_head=True)
    assert snapshot(incident) == before


def test_settling_a_case_twice_is_refused():
    incident = an_incident()
    incident.settle(OFFICER, AT, "repaired", None, "", is_head=False)
    before = snapshot(incident)
    with pytest.raises(Conflict, match="already settled"):
        incident.settle(HEAD, LATER, "paid", Decimal("100.00"), "", is_head=True)
    assert snapshot(incident) == before


# --- who may: the predicates the services and templates share -------------------------------------


def test_nobody_decides_hands_over_or_receives_their_own_loan():
    officer = person("supply_officer", "head")
    requested = a_loan(borrower=officer)
    approved = a_loan(APPROVED, borrower=officer, **OTHER_STATES[APPROVED])
    checked_out = a_loan(CHECKED_OUT, borrower=officer, **OTHER_STATES[CHECKED_OUT])
    assert not workflow.can_decide(officer, requested)
    assert not workflow.can_hand_over(officer, approved)
    assert not workflow.can_receive(officer, checked_out)
    colleague = person("supply_officer")
    assert workflow.can_decide(colleague, requested)
    assert workflow.can_hand_over(colleague, approved)
    assert workflow.can_receive(colleague, checked_out)


@pytest.mark.parametrize(
    "roles,may",
    [
        (("staff",), False),
        (("auditor",), False),
        (("admin",), False),
        (("head",), False),
        (("supply_officer",), True),
        (("staff", "supply_officer"), True),
    ],
)
def test_only_a_supply_officer_gives_the_first_decision(roles, may):
    assert workflow.can_decide(person(*roles), a_loan()) is may


@pytest.mark.parametrize(
    "roles,may",
    [
        (("staff",), False),
        (("supply_officer",), False),
        (("auditor",), False),
        (("head",), True),
    ],
)
def test_only_the_head_gives_the_second_approval(roles, may):
    loan = a_loan(needs_head=True)
    loan.approve_as_officer(OFFICER, AT)
    assert workflow.can_decide(person(*roles), loan) is may


def test_whoever_gave_the_officer_approval_does_not_also_give_the_head_approval():
    both = person("supply_officer", "head")
    loan = a_loan(needs_head=True)
    loan.approve_as_officer(both, AT)
    assert not workflow.can_decide(both, loan)
    assert workflow.can_decide(HEAD, loan)


def test_an_inactive_officer_may_do_nothing():
    officer = person("supply_officer")
    officer.active = False
    assert not workflow.can_decide(officer, a_loan())
    assert not workflow.can_request(officer)


def test_only_the_borrower_cancels_and_only_before_hand_over():
    borrower = person("staff")
    assert workflow.can_cancel(borrower, a_loan(borrower=borrower))
    assert workflow.can_cancel(borrower, a_loan(APPROVED, borrower=borrower, **OTHER_STATES[APPROVED]))
    out = a_loan(CHECKED_OUT, borrower=borrower, **OTHER_STATES[CHECKED_OUT])
    assert not workflow.can_cancel(borrower, out)
    assert not workflow.can_cancel(person("supply_officer"), a_loan(borrower=borrower))


def test_a_demand_is_possible_only_for_an_overdue_loan():
    loan = out_loan()
    assert not workflow.can_demand(OFFICER, loan, loan.due_on)
    assert workflow.can_demand(OFFICER, loan, loan.due_on + timedelta(days=1))
    assert not workflow.can_demand(person("staff"), loan, loan.due_on + timedelta(days=1))


def test_a_write_off_needs_the_head_but_either_officer_or_head_may_open_the_settlement():
    incident = an_incident()
    assert workflow.can_settle(OFFICER, incident)
    assert workflow.can_settle(HEAD, incident)
    assert not workflow.can_settle(person("staff"), incident)
    assert not workflow.can_settle(person("auditor"), incident)


def test_handing_over_more_than_a_day_before_the_start_is_refused():
    loan = a_loan(APPROVED, **OTHER_STATES[APPROVED])
    loan.start_on = date(2031, 3, 10)
    before = snapshot(loan)
    with pytest.raises(DomainError, match="hand the items over from the day before"):
        loan.hand_over(OFFICER, AT, "")
    assert snapshot(loan) == before
