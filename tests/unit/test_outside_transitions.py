"""The outside borrower's deposit and the office's cancel of an outside request, in memory: no database, no
Flask. A refused change raises the error the person sees and leaves the record as it was."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from core.db import Conflict, DomainError
from lending.loans.models import APPROVED, CANCELLED, CHECKED_OUT, REQUESTED
from lending.outside.deposits import asks_deposit
from lending.outside.models import LoanDeposit, OutsideParty
from lending.outside.permissions import can_cancel_outside
from tests.unit.test_loan_transitions import a_loan, person

AT = datetime(2032, 5, 9, 5, 0, tzinfo=UTC)


def a_deposit(amount: str = "1000.00") -> LoanDeposit:
    return LoanDeposit(id=1, loan_id=1, amount=Decimal(amount), receipt_no="R-1", settle_note="", version=1)


def outside_loan(status: str = REQUESTED):
    loan = a_loan(status)
    loan.borrower_id, loan.party_id = None, 7
    loan.party = OutsideParty(id=7, kind="agency", name="โรงเรียน")
    return loan


def test_a_deposit_is_settled_once_with_what_is_back_and_kept_adding_up():
    dep = a_deposit()
    dep.settle(9, AT, Decimal("700.00"), Decimal("300.00"), 42, "ค่าซ่อม")
    assert (dep.returned_amount, dep.kept_amount, dep.incident_id, dep.is_settled) == (
        Decimal("700.00"),
        Decimal("300.00"),
        42,
        True,
    )
    with pytest.raises(DomainError, match="settled already"):
        dep.settle(9, AT, Decimal("1000.00"), Decimal("0"), None, "")


@pytest.mark.parametrize(
    ("returned", "kept", "case", "message"),
    [
        ("900", "0", None, "add up to the deposit, 1,000.00 baht"),
        ("700", "300", None, "Choose the damage or loss case"),
        ("1100", "-100", 42, "cannot be negative"),
    ],
)
def test_a_deposit_that_does_not_add_up_or_names_no_case_is_refused_and_unchanged(returned, kept, case, message):
    dep = a_deposit()
    before = dep.state()
    with pytest.raises(DomainError, match=message):
        dep.settle(9, AT, Decimal(returned), Decimal(kept), case, "")
    assert dep.state() == before and not dep.is_settled


def test_handing_all_back_names_no_case_even_if_one_was_chosen():
    dep = a_deposit()
    dep.settle(9, AT, Decimal("1000.00"), Decimal("0"), 42, "")
    assert dep.incident_id is None


def test_the_rules_ask_a_deposit_of_an_outside_borrower_only():
    settings = {"outside_lending_rules": {"agency": {"deposit": True}}}
    assert asks_deposit(settings, outside_loan())
    assert not asks_deposit({}, outside_loan())
    assert not asks_deposit(settings, a_loan(APPROVED))  # a staff loan never


def test_the_office_cancels_an_outside_request_with_a_reason_until_the_hand_over():
    officer, head, staff = person("supply_officer"), person("head"), person("staff")
    loan = outside_loan(APPROVED)
    assert can_cancel_outside(officer, loan) and can_cancel_outside(head, loan)
    assert not can_cancel_outside(staff, loan) and not can_cancel_outside(None, loan)
    assert not can_cancel_outside(officer, a_loan(REQUESTED))  # a staff member's own request: theirs to cancel
    with pytest.raises(DomainError, match="Give the reason"):
        loan.cancel_by_office(officer, AT, "  ")
    assert loan.status == APPROVED
    loan.cancel_by_office(head, AT, " ใช้ในงานราชการ ")
    assert (loan.status, loan.cancelled_by_id, loan.decision_note, loan.cancelled_at) == (
        CANCELLED,
        head.id,
        "ใช้ในงานราชการ",
        AT,
    )
    out = outside_loan(CHECKED_OUT)
    assert not can_cancel_outside(officer, out)
    with pytest.raises(Conflict):
        out.cancel_by_office(officer, AT, "สาย")
    with pytest.raises(DomainError, match="outside borrower"):
        a_loan(REQUESTED).cancel_by_office(officer, AT, "x")
