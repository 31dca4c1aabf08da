"""Who may do what to a loan or a case; used by services (which raise), views and templates (which hide
buttons). Nobody decides, hands over or inspects their own loan."""

from __future__ import annotations

from datetime import date

from core.models import User
from core.people.permissions import LOANS_HEAD, LOANS_MANAGE, LOANS_REQUEST, LOANS_VIEW_ALL
from lending.loans.models import APPROVED, CHECKED_OUT, REQUESTED, Incident, Loan


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


def can_write_off(user: User | None) -> bool:
    """Only the head of the agency ends a case by writing the item off (the regulation's approval)."""
    return user is not None and user.can(LOANS_HEAD)


def settle_choices(user: User | None, choices: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The ways to end a case this person may choose (the write-off only for the head)."""
    return [c for c in choices if c[0] != "written_off" or can_write_off(user)]


def can_view_loan(user: User | None, loan: Loan) -> bool:
    return user is not None and (loan.borrower_id == user.id or user.can(LOANS_VIEW_ALL))


def can_manage_incidents(user: User | None) -> bool:
    """Officers and heads work on damage and loss cases (attach documents, settle)."""
    return user is not None and (user.can(LOANS_MANAGE) or user.can(LOANS_HEAD))


def can_see_queue(user: User | None) -> bool:
    return user is not None and user.can(LOANS_VIEW_ALL)
