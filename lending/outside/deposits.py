"""The deposit (เงินประกัน) of an outside borrower: asked when the lending rules of the borrower's kind say so.

The hand-over of such a loan records it (amount and receipt number) in its own transaction and cannot go
ahead without it (lending.groups.services.hand_over_lines calls `take_deposit`); after the return the
officer settles it: handed back, or in part kept toward the compensation of a damage or loss case of the
same loan (`settle_deposit`). The receipt, the loan page and the borrower's tracking page show both.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from audit import record
from core.db import N_, Conflict, DomainError, Forbidden, NotFound, Session, utcnow, write
from core.models import User
from core.people.services import get_settings
from lending.outside import permissions
from lending.outside.models import LoanDeposit, clean_text
from lending.outside.rules import rules_for
from lending.register.models import parse_price

MAX_RECEIPT_NO = 60
MAX_DEPOSIT = Decimal("1000000.00")


@dataclass(frozen=True)
class DepositIn:
    amount: Decimal
    receipt_no: str


def asks_deposit(settings: dict[str, Any], loan: Any) -> bool:
    """True when the rules of the loan's outside borrower ask for a deposit (staff loans never do)."""
    party = getattr(loan, "party", None)
    return party is not None and rules_for(settings, party.kind).deposit


def deposit_note(settings: dict[str, Any], loan: Any) -> str:
    """The rule's own note of what and how much (e.g. "500 บาท ต่อเต็นท์"), for the hand-over page."""
    party = getattr(loan, "party", None)
    return rules_for(settings, party.kind).deposit_note if party is not None else ""


def money(raw: Any, *, allow_zero: bool = False) -> Decimal:
    """An amount typed by the officer: baht with at most two decimals, '1,500' accepted."""
    try:
        value = parse_price(raw)
    except ValueError as err:
        raise DomainError(N_("Type the amount in baht, e.g. 1,500 or 1500.00.")) from err
    if value is None:
        value = Decimal("0.00")
    if value < 0 or (value == 0 and not allow_zero):
        raise DomainError(N_("Type the amount in baht, e.g. 1,500 or 1500.00."))
    if value > MAX_DEPOSIT:
        raise DomainError(N_("The amount is implausibly large."))
    return value


def parse_deposit(amount: Any, receipt_no: Any) -> DepositIn | None:
    """The deposit fields of a hand-over form: None when both are blank; a clear error when one is."""
    amount_text, receipt = str(amount or "").strip(), clean_text(receipt_no, MAX_RECEIPT_NO)
    if not amount_text and not receipt:
        return None
    if not receipt:
        raise DomainError(N_("Type the number of the receipt given for the deposit."))
    if not amount_text:
        raise DomainError(N_("Type the amount of the deposit."))
    return DepositIn(money(amount_text), receipt)


def take_deposit(
    session: Session, actor: User, loan: Any, deposit: DepositIn | None, now: datetime
) -> LoanDeposit | None:
    """Inside a hand-over's transaction: record the deposit, or refuse the hand-over when the rules ask for
    one and none was given. The caller rolls back on the error."""
    if deposit is None:
        if asks_deposit(get_settings(session), loan):
            raise DomainError(
                N_("The lending rules for this borrower ask for a deposit: record its amount and receipt number.")
            )
        return None
    if loan.party_id is None:
        raise DomainError(N_("A deposit is taken only from borrowers outside the office."))
    row = LoanDeposit(
        loan_id=loan.id, amount=deposit.amount, receipt_no=deposit.receipt_no, taken_at=now, taken_by_id=actor.id
    )
    session.add(row)
    session.flush()
    record(
        session,
        actor,
        "loan.deposit_taken",
        loan,
        {"deposit": row.id, "amount": row.amount, "receipt_no": row.receipt_no},
    )
    return row


def settle_deposit(
    session: Session,
    actor: User,
    loan_id: int,
    *,
    returned: Decimal,
    kept: Decimal,
    incident_id: int | None = None,
    note: str = "",
    version: int | None = None,
    now: datetime | None = None,
) -> LoanDeposit:
    """After the return: what of the deposit was handed back, and what was kept toward which case.

    Only once every item is back (the loan returned); the kept part goes toward a damage or loss case of
    this loan and is at most that case's value."""
    from lending.loans.models import RETURNED, Incident, Loan, LoanItem

    now = now or utcnow()
    if not permissions.can_settle_deposit(actor):
        raise Forbidden(N_("You may not do this."))
    with write(session):
        loan = session.get(Loan, loan_id, populate_existing=True)
        if loan is None:
            raise NotFound(N_("No such loan."))
        # locked, so a second officer settling at the same moment waits and then sees it settled (or its version
        # moved on) instead of failing on a stale row
        deposit = session.execute(
            select(LoanDeposit)
            .where(LoanDeposit.loan_id == loan_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).scalar_one_or_none()
        if deposit is None:
            raise NotFound(N_("This loan has no deposit."))
        if version is not None and deposit.version != version:
            raise Conflict(N_("Someone else changed this deposit after you opened the page. Reload and try again."))
        if loan.status != RETURNED:
            raise Conflict(N_("Settle the deposit once every item is back."))
        incident = None
        if incident_id is not None:
            incident = session.execute(
                select(Incident)
                .join(LoanItem, Incident.loan_item_id == LoanItem.id)
                .where(Incident.id == incident_id, LoanItem.loan_id == loan_id)
            ).scalar_one_or_none()
            if incident is None:
                raise NotFound(N_("That case is not one of this loan's."))
        if incident is not None and incident.value is not None and kept > incident.value:
            raise DomainError(
                N_("At most the case's value, %(value)s baht, can be kept toward it."), value=f"{incident.value:,.2f}"
            )
        before = deposit.state()
        deposit.settle(actor.id, now, returned, kept, incident.id if incident else None, clean_text(note, 2000))
        record(
            session,
            actor,
            "loan.deposit_settled",
            loan,
            {
                "deposit": deposit.id,
                "before": {k: before[k] for k in ("returned_amount", "kept_amount", "incident")},
                "after": {k: deposit.state()[k] for k in ("returned_amount", "kept_amount", "incident", "settle_note")},
            },
        )
        session.commit()
    return deposit
