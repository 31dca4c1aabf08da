"""The annual stock-take (การตรวจสอบพัสดุประจำปี, ข้อ 213/214): rounds, their committee, what was found.

An admin opens a round for a fiscal year and names its committee (never supply officers). Opening takes a
snapshot of the assets in scope — on the register (not disposed) and matching the round's department and
location filter — as one entry each. Committee members record assets as found (condition, where found,
note, photo); an asset outside the snapshot that is scanned is kept as *unexpected*. Closing the round gives
every entry its result, opens incidents for what was not found or found damaged, and files the report.

    result of an in-scope entry at close:  found | elsewhere (found, but not where the register says)
                                            | on_loan (not scanned, but out on a handed-over loan)
                                            | not_found
    an out-of-scope scan:                  unexpected (disposed, or outside the department/location filter)
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    or_,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import (
    N_,
    Audited,
    Conflict,
    DomainError,
    Model,
    utcnow,
)
from core.models import User
from lending.register.models import Asset

DRAFT, OPEN, CLOSED = "draft", "open", "closed"
GOOD, DAMAGED = "good", "damaged"
FOUND, ELSEWHERE, ON_LOAN, NOT_FOUND, UNEXPECTED = "found", "elsewhere", "on_loan", "not_found", "unexpected"
RESULTS = (FOUND, ELSEWHERE, ON_LOAN, NOT_FOUND, UNEXPECTED)
SUPPLY_OFFICER = "supply_officer"


class StocktakeRound(Audited, Model):
    __tablename__ = "stocktake_rounds"
    audit_type = "stocktake_round"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fiscal_year: Mapped[int] = mapped_column(Integer, index=True)
    title: Mapped[str] = mapped_column(String(300))
    count_on: Mapped[date] = mapped_column(Date)  # what remains on this day is counted (30 September)
    scope_department: Mapped[str] = mapped_column(String(200), default="")
    scope_location: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(10), default=OPEN)
    total: Mapped[int] = mapped_column(Integer, default=0)  # in-scope entries of the snapshot
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    opened_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    report_sha256: Mapped[str | None] = mapped_column(ForeignKey("stored_files.sha256"), nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)

    members: Mapped[list[StocktakeMember]] = relationship(order_by="StocktakeMember.id", lazy="selectin", cascade="all")

    __mapper_args__ = {"version_id_col": version}

    def state(self) -> dict[str, Any]:
        return {
            "fiscal_year": self.fiscal_year,
            "title": self.title,
            "count_on": self.count_on,
            "scope_department": self.scope_department,
            "scope_location": self.scope_location,
            "status": self.status,
            "total": self.total,
            "committee": [m.user_id for m in self.members],
        }

    @property
    def is_open(self) -> bool:
        return self.status == OPEN

    @property
    def is_draft(self) -> bool:
        """Prepared by the supply officer, waiting for the head to appoint the committee and open it."""
        return self.status == DRAFT

    def member_ids(self) -> set[int]:
        return {m.user_id for m in self.members}

    def close(self, by: User, at: datetime) -> None:
        if self.status == DRAFT:
            raise Conflict(N_("This round is not open yet: the head appoints its committee first."))
        if self.status != OPEN:
            raise Conflict(N_("This round is already closed."))
        self.status, self.closed_at, self.closed_by_id = CLOSED, at, by.id


class StocktakeMember(Model):
    """A committee member of one round (membership is per round, not a role)."""

    __tablename__ = "stocktake_members"
    __table_args__ = (UniqueConstraint("round_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("stocktake_rounds.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))

    user: Mapped[User] = relationship(lazy="joined")


class StocktakeEntry(Audited, Model):
    """One asset in one round: in scope from the snapshot (found or not yet), or an unexpected scan."""

    __tablename__ = "stocktake_entries"
    __table_args__ = (
        UniqueConstraint("round_id", "asset_id"),
        Index("ix_stocktake_entries_round_location", "round_id", "expected_location"),
    )
    audit_type = "stocktake_entry"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("stocktake_rounds.id"))
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id"), index=True)
    in_scope: Mapped[bool] = mapped_column(Boolean, default=True)
    expected_location: Mapped[str] = mapped_column(String(200), default="")
    found_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    found_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    found_location: Mapped[str] = mapped_column(String(200), default="")
    condition: Mapped[str | None] = mapped_column(String(10), nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")
    photo_sha256: Mapped[str | None] = mapped_column(ForeignKey("stored_files.sha256"), nullable=True)
    result: Mapped[str | None] = mapped_column(String(12), nullable=True)  # set when the round closes

    asset: Mapped[Asset] = relationship(lazy="joined")
    found_by: Mapped[User | None] = relationship()

    def state(self) -> dict[str, Any]:
        return {
            "asset_id": self.asset_id,
            "in_scope": self.in_scope,
            "found_location": self.found_location,
            "condition": self.condition,
            "note": self.note,
            "photo_sha256": self.photo_sha256,
            "result": self.result,
        }

    def record_found(self, by: User, at: datetime, condition: str, location: str, note: str) -> None:
        if self.found_at is not None:
            raise Conflict(
                N_("This asset was already recorded in this round (%(when)s)."),
                when=self.found_at.isoformat(timespec="minutes"),
            )
        if condition not in (GOOD, DAMAGED):
            raise DomainError(N_("Choose the condition: good or damaged."))
        if condition == DAMAGED and not note.strip():
            raise DomainError(N_("Describe the damage."))
        self.found_at, self.found_by_id, self.condition = at, by.id, condition
        self.found_location = (location or self.expected_location).strip()[:200]
        self.note = note.strip()

    @property
    def moved(self) -> bool:
        return (
            self.found_at is not None
            and self.in_scope
            and self.found_location.strip() != (self.expected_location or "").strip()
        )


def on_register_by(count_on: Any):
    """SQL: the asset was on the register on `count_on` (a date or a date column): acquired on or before it.
    An asset acquired after a round's cut-off day is neither expected by the round nor "not found" by it.
    One with no acquisition date is taken to have been there: a register typed in after the year ended
    (the office's first stock-take in the app) often lacks the dates, and its assets are what is counted."""
    return or_(Asset.acquired_on.is_(None), Asset.acquired_on <= count_on)
