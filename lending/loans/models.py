"""Loans, their items, incidents, demands and notifications: the models and their state machine.

Every transition is a method that changes fields or raises a DomainError; none touches a session, Flask,
mail or disk. Services (lending.loans.services, lending.loans.cases) load, check permissions, call one
transition, record the audit entry and commit.

    requested ──approve (officer, then head where policy asks)──▶ approved ──hand over──▶ checked_out
        │  └──reject──▶ rejected                                     │                      │
        └──cancel──▶ cancelled ◀──────────cancel (borrower)──────────┘        items return one by one
                                                                              ▼ (good / damaged / lost)
                                                                            returned
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    and_,
    or_,
)
from sqlalchemy.orm import Mapped, defaultload, mapped_column, relationship

from core.db import N_, Audited, Conflict, DomainError, Model, utcnow
from core.models import User
from lending.groups.models import LoanLine
from lending.outside.models import LoanDeposit, OutsideParty
from lending.register.models import Asset

REQUESTED, APPROVED, CHECKED_OUT, RETURNED, REJECTED, CANCELLED = (
    "requested",
    "approved",
    "checked_out",
    "returned",
    "rejected",
    "cancelled",
)
LOAN_STATUSES = (REQUESTED, APPROVED, CHECKED_OUT, RETURNED, REJECTED, CANCELLED)
HOLDING = (APPROVED, CHECKED_OUT)
# How a status is named in messages (the same msgids as the pages' labels).
STATUS_NAMES = {
    REQUESTED: N_("Waiting for approval"),
    APPROVED: N_("Approved"),
    CHECKED_OUT: N_("Handed over"),
    RETURNED: N_("Returned"),
    REJECTED: N_("Rejected"),
    CANCELLED: N_("Cancelled"),
}

GOOD, DAMAGED, LOST = "good", "damaged", "lost"
CONDITIONS = (GOOD, DAMAGED, LOST)

MAX_LOAN_DAYS = 180
MAX_ITEMS = 200


class Loan(Audited, Model):
    __tablename__ = "loans"
    __table_args__ = (
        Index("ix_loans_status_requested", "status", "requested_at"),
        Index("ix_loans_borrower_requested", "borrower_id", "requested_at"),
        # availability (lending.groups.queries): the open loans by status, narrowed by their days, read from
        # the index alone (officer_at and id in it too; PostgreSQL's index-only scan)
        Index("ix_loans_status_start_due", "status", "start_on", "due_on", "officer_at", "id"),
        CheckConstraint("(borrower_id IS NULL) <> (party_id IS NULL)", name="one_borrower"),
    )
    audit_type = "loan"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ref: Mapped[str] = mapped_column(String(40), unique=True)
    borrower_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)  # a user, or:
    party_id: Mapped[int | None] = mapped_column(ForeignKey("outside_parties.id"), nullable=True, index=True)
    channel: Mapped[str] = mapped_column(String(12), default="staff")  # lending.outside.models.CHANNELS
    public_ref: Mapped[str | None] = mapped_column(String(20), unique=True, nullable=True)  # outsiders' tracking
    purpose: Mapped[str] = mapped_column(Text)
    place: Mapped[str] = mapped_column(String(300))
    off_premises: Mapped[bool] = mapped_column(Boolean, default=False)
    start_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date] = mapped_column(Date, index=True)
    status: Mapped[str] = mapped_column(String(20), default=REQUESTED)
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    needs_head: Mapped[bool] = mapped_column(Boolean, default=False)
    officer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    officer_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    head_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    head_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    decision_note: Mapped[str] = mapped_column(Text, default="")
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # set when the office (not the borrower) cancelled an outside request; the reason is decision_note
    cancelled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    checked_out_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    checked_out_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    handover_note: Mapped[str] = mapped_column(Text, default="")
    receipt_confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    returned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    imported: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=1)

    borrower: Mapped[User | None] = relationship(foreign_keys=[borrower_id], lazy="joined")
    party: Mapped[OutsideParty | None] = relationship(lazy="joined")
    officer: Mapped[User | None] = relationship(foreign_keys=[officer_id])
    head: Mapped[User | None] = relationship(foreign_keys=[head_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])
    checked_out_by: Mapped[User | None] = relationship(foreign_keys=[checked_out_by_id])
    cancelled_by: Mapped[User | None] = relationship(foreign_keys=[cancelled_by_id])
    items: Mapped[list[LoanItem]] = relationship(
        back_populates="loan", order_by="LoanItem.id", cascade="all", lazy="selectin"
    )
    lines: Mapped[list[LoanLine]] = relationship(order_by="LoanLine.id", cascade="all", lazy="selectin")
    deposit: Mapped[LoanDeposit | None] = relationship(uselist=False)  # read on one loan's pages only

    __mapper_args__ = {"version_id_col": version}

    # --- derived ---------------------------------------------------------------------------------

    @property
    def open_items(self) -> list[LoanItem]:
        return [i for i in self.items if i.condition is None]

    def is_overdue(self, today: date) -> bool:
        return self.status == CHECKED_OUT and self.due_on < today and bool(self.open_items)

    @property
    def is_outside(self) -> bool:
        return self.party_id is not None

    @property
    def borrower_name(self) -> str:
        """The borrower as shown on pages and documents: the user's name, or the outside party's."""
        if self.party is not None:
            return self.party.display_name
        return self.borrower.name if self.borrower is not None else ""

    @property
    def waiting_for_head(self) -> bool:
        return self.status == REQUESTED and self.needs_head and self.officer_at is not None

    def state(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "purpose": self.purpose,
            "place": self.place,
            "off_premises": self.off_premises,
            "start_on": self.start_on,
            "due_on": self.due_on,
            "needs_head": self.needs_head,
            "officer_id": self.officer_id,
            "head_id": self.head_id,
            "decision_note": self.decision_note,
            "assets": [i.asset_id for i in self.items],
            **({"lines": {str(ln.group_id): ln.count for ln in self.lines}} if self.lines else {}),
            **({"party": self.party.ref, "channel": self.channel} if self.party is not None else {}),
            **({"cancelled_by_id": self.cancelled_by_id} if self.cancelled_by_id is not None else {}),
        }

    # --- transitions -----------------------------------------------------------------------------

    def _expect(self, *statuses: str) -> None:
        if self.status not in statuses:
            raise Conflict(
                N_("This loan is %(status)s; that action is no longer possible. Reload the page."),
                status=STATUS_NAMES.get(self.status, self.status),
            )

    def approve_as_officer(self, officer: User, at: datetime) -> bool:
        """The supply officer's approval; returns True when that makes the loan approved."""
        self._expect(REQUESTED)
        if self.officer_at is not None:
            raise Conflict(N_("An officer has already approved this request."))
        self.officer_id, self.officer_at = officer.id, at
        if self.needs_head:
            return False
        self._approved(officer, at)
        return True

    def approve_as_head(self, head: User, at: datetime) -> None:
        self._expect(REQUESTED)
        if not self.needs_head:
            raise DomainError(N_("This request does not need the head's approval."))
        if self.officer_at is None:
            raise DomainError(N_("The supply officer approves first."))
        self.head_id, self.head_at = head.id, at
        self._approved(head, at)

    def _approved(self, by: User, at: datetime) -> None:
        self.status, self.decided_at, self.decided_by_id = APPROVED, at, by.id

    def reject(self, by: User, at: datetime, reason: str) -> None:
        self._expect(REQUESTED)
        if not reason.strip():
            raise DomainError(N_("Give the reason for the rejection."))
        self.status, self.decided_at, self.decided_by_id = REJECTED, at, by.id
        self.decision_note = reason.strip()

    def items_to_drop(self, item_ids: list[int], reason: str) -> list[LoanItem]:
        """The items an approver leaves out of a partial approval: of this loan, not all of them, with a reason.

        The approver drops what cannot be lent (an item another request holds on those days) and approves
        the rest; the borrower reads the reason on the loan page and in the notification."""
        self._expect(REQUESTED)
        wanted = {int(i) for i in item_ids}
        if not wanted:
            return []
        by_id = {i.id: i for i in self.items}
        if not wanted <= set(by_id):
            raise DomainError(N_("That item is not part of this loan."))
        if len(wanted) >= len(self.items):
            raise DomainError(N_("Keep at least one item to approve, or reject the request."))
        if not reason.strip():
            raise DomainError(N_("Give the reason for leaving items out; the borrower will read it."))
        return [by_id[i] for i in sorted(wanted)]

    def cancel(self, at: datetime, reason: str = "") -> None:
        """The borrower withdraws, at any time before hand-over."""
        self._expect(REQUESTED, APPROVED)
        self.status, self.cancelled_at = CANCELLED, at
        if reason.strip():
            self.decision_note = reason.strip()

    def cancel_by_office(self, by: User, at: datetime, reason: str) -> None:
        """The office withdraws an outside request before the hand-over, with the reason the borrower reads."""
        self._expect(REQUESTED, APPROVED)
        if self.party_id is None:
            raise DomainError(N_("Only a request of an outside borrower is cancelled by the office."))
        if not reason.strip():
            raise DomainError(N_("Give the reason for cancelling the request; the borrower reads it."))
        self.status, self.cancelled_at, self.cancelled_by_id = CANCELLED, at, by.id
        self.decision_note = reason.strip()

    def hand_over(self, officer: User, at: datetime, note: str) -> None:
        self._expect(APPROVED)
        from core.dates import bangkok_date

        if (self.start_on - bangkok_date(at)).days > 1:  # the day before, for an early start, at most
            raise DomainError(
                N_("This loan starts on %(day)s; hand the items over from the day before."),
                day=self.start_on.isoformat(),
            )
        self.status, self.checked_out_at, self.checked_out_by_id = CHECKED_OUT, at, officer.id
        self.handover_note = note.strip()

    def confirm_receipt(self, at: datetime) -> None:
        self._expect(CHECKED_OUT, RETURNED)
        if self.receipt_confirmed_at is not None:
            raise Conflict(N_("You have already confirmed receiving these items."))
        self.receipt_confirmed_at = at

    def settle_if_complete(self, at: datetime) -> bool:
        """After an item comes back or is recorded lost: the loan is returned once nothing is out."""
        if self.status == CHECKED_OUT and not self.open_items:
            self.status, self.returned_at = RETURNED, at
            return True
        return False


def without_borrower_roles():
    """A loader option for pages that list loans: their borrowers are shown by name, so their roles (which
    User loads with every user otherwise) are left until something asks for them."""
    return defaultload(Loan.borrower).lazyload(User.role_rows)


def holds_assets():
    """SQL: the loan holds its items' assets on its days — approved, handed over, or approved by the supply
    officer and waiting for the head: the officer's approval reserves them until the head decides, so a
    later request cannot take them in between."""
    return or_(
        Loan.status.in_(HOLDING),
        and_(Loan.status == REQUESTED, Loan.needs_head.is_(True), Loan.officer_at.is_not(None)),
    )


class LoanItem(Audited, Model):
    __tablename__ = "loan_items"
    __table_args__ = (
        UniqueConstraint("loan_id", "asset_id"),
        Index("ix_loan_items_asset", "asset_id", "loan_id"),
        # availability: the few items not yet back (condition NULL) found first, read from the index alone
        Index("ix_loan_items_condition", "condition", "loan_id", "asset_id"),
    )
    audit_type = "loan_item"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id"))
    line_id: Mapped[int | None] = mapped_column(ForeignKey("loan_lines.id"), nullable=True)  # picked for a line
    value: Mapped[Decimal | None] = mapped_column(Numeric(14, 2), nullable=True)  # at the time of borrowing
    condition: Mapped[str | None] = mapped_column(String(10), nullable=True)  # None while out
    returned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    received_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    return_note: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(Integer, default=1)

    loan: Mapped[Loan] = relationship(back_populates="items")
    asset: Mapped[Asset] = relationship(lazy="joined")
    received_by: Mapped[User | None] = relationship()

    __mapper_args__ = {"version_id_col": version}

    def record_return(self, officer: User, at: datetime, condition: str, note: str) -> None:
        if self.loan.status != CHECKED_OUT:
            raise Conflict(N_("Only items that were handed over can be returned."))
        if self.condition is not None:
            raise Conflict(N_("This item has already been received back."))
        if condition not in CONDITIONS:
            raise DomainError(N_("Choose the condition: good, damaged or lost."))
        if condition != GOOD and not note.strip():
            raise DomainError(N_("Describe the damage or the loss."))
        self.condition, self.returned_at, self.received_by_id = condition, at, officer.id
        self.return_note = note.strip()


class Incident(Audited, Model):
    """A damaged or lost item: the borrower repairs, replaces or pays its value; or the head writes it off."""

    __tablename__ = "incidents"
    audit_type = "incident"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    loan_item_id: Mapped[int | None] = mapped_column(ForeignKey("loan_items.id"), nullable=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # damaged | lost
    value: Mapped[Decimal | None] = mapped_column(Numeric(14, 2), nullable=True)
    description: Mapped[str] = mapped_column(Text, default="")
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    opened_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    status: Mapped[str] = mapped_column(String(10), default="open")  # open | settled
    resolution: Mapped[str | None] = mapped_column(String(20), nullable=True)
    amount: Mapped[Decimal | None] = mapped_column(Numeric(14, 2), nullable=True)
    resolution_note: Mapped[str] = mapped_column(Text, default="")
    settled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    settled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)

    asset: Mapped[Asset] = relationship(lazy="joined")
    loan_item: Mapped[LoanItem | None] = relationship()
    documents: Mapped[list[IncidentDocument]] = relationship(order_by="IncidentDocument.id", lazy="selectin")

    __mapper_args__ = {"version_id_col": version}

    RESOLUTIONS = ("repaired", "replaced", "paid", "written_off")

    def settle(self, by: User, at: datetime, resolution: str, amount: Decimal | None, note: str, is_head: bool) -> None:
        if self.status != "open":
            raise Conflict(N_("This case is already settled."))
        if resolution not in self.RESOLUTIONS:
            raise DomainError(N_("Choose how the case ends."))
        if resolution == "written_off" and not is_head:
            raise DomainError(N_("Only the head of the agency approves a write-off."))
        if resolution == "paid":
            if amount is None or amount <= 0:
                raise DomainError(N_("Enter the amount paid."))
        if resolution == "written_off" and not note.strip():
            raise DomainError(N_("Give the reason for the write-off (e.g. fair wear)."))
        self.status, self.resolution, self.amount = "settled", resolution, amount
        self.resolution_note, self.settled_at, self.settled_by_id = note.strip(), at, by.id


class IncidentDocument(Model):
    __tablename__ = "incident_documents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    sha256: Mapped[str] = mapped_column(ForeignKey("stored_files.sha256"))
    title: Mapped[str] = mapped_column(String(255), default="")
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)


class LoanPhoto(Model):
    """A photo taken at hand-over or at a return, kept in the one file store."""

    __tablename__ = "loan_photos"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    loan_item_id: Mapped[int | None] = mapped_column(ForeignKey("loan_items.id"), nullable=True)
    stage: Mapped[str] = mapped_column(String(12))  # handover | return
    sha256: Mapped[str] = mapped_column(ForeignKey("stored_files.sha256"))
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)


class Demand(Audited, Model):
    """A written demand for return of the items it names (`item_ids`, the source of truth for what it covers):
    a letter or mail made in the app names the items of its loan that were overdue when it was made; a
    paper-ledger demand, the items whose rows carry its date. The report's figures count a demand only
    for the items it names (evidence.report.figures.sql_covers)."""

    __tablename__ = "demands"
    __table_args__ = (Index("ix_demands_loan_on", "loan_id", "demanded_on"),)
    audit_type = "demand"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"))
    demanded_on: Mapped[date] = mapped_column(Date)
    demanded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    channel: Mapped[str] = mapped_column(String(10))  # mail | letter | ledger
    issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    item_ids: Mapped[list[int]] = mapped_column(JSON, default=list)  # the loan items covered

    loan: Mapped[Loan] = relationship()


class Notification(Model):
    """An in-app message to one person: a request waiting, a decision, due tomorrow, overdue."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_user_unread", "user_id", "read_at"),
        UniqueConstraint("user_id", "kind", "loan_id", "day"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(30))
    loan_id: Mapped[int | None] = mapped_column(ForeignKey("loans.id"), nullable=True)
    day: Mapped[date] = mapped_column(Date)  # one of a kind per loan per day, whoever runs twice
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class LoanDrop(Model):
    """An item an approver left out of a request (a partial approval), with the reason the borrower reads.

    The loan item itself is removed, so that nothing downstream (hand-over, returns, figures) counts it;
    this row, and the approval's audit entry, keep what was asked for and why it was left out."""

    __tablename__ = "loan_drops"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id"))
    value: Mapped[Decimal | None] = mapped_column(Numeric(14, 2), nullable=True)
    stage: Mapped[str] = mapped_column(String(10))  # officer | head: whose approval left it out
    reason: Mapped[str] = mapped_column(Text, default="")
    dropped_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    dropped_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)

    asset: Mapped[Asset] = relationship(lazy="joined")
    dropped_by: Mapped[User | None] = relationship()
