"""Lending groups and the lines of a request that ask for a count from a group."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import N_, Audited, DomainError, Model, utcnow

MAX_GROUP_COUNT = 2000  # one line of one request asks for at most this many


class LendingGroup(Audited, Model):
    """Identical numbered assets (same name, category and model) that can be requested by count."""

    __tablename__ = "lending_groups"
    audit_type = "lending_group"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    category: Mapped[str] = mapped_column(String(100))
    model: Mapped[str] = mapped_column(String(100), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    public: Mapped[bool] = mapped_column(Boolean, default=False)  # offered to outsiders on the e-service
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    photo_sha256: Mapped[str | None] = mapped_column(ForeignKey("stored_files.sha256"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}

    def state(self) -> dict:
        return {
            "name": self.name,
            "category": self.category,
            "model": self.model,
            "description": self.description,
            "public": self.public,
            "active": self.active,
            "photo_sha256": self.photo_sha256,
        }


class LoanLine(Audited, Model):
    """One line of a request: `count` assets of one group. The hand-over names them as LoanItems (line_id)."""

    __tablename__ = "loan_lines"
    __table_args__ = (
        UniqueConstraint("loan_id", "group_id"),
        # availability: an open loan's lines with their counts, read from the index alone
        Index("ix_loan_lines_loan_group_count", "loan_id", "group_id", "count"),
    )
    audit_type = "loan_line"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("lending_groups.id"), index=True)
    count: Mapped[int] = mapped_column(Integer)
    handed_count: Mapped[int | None] = mapped_column(Integer, nullable=True)  # set at hand-over

    group: Mapped[LendingGroup] = relationship(lazy="joined")

    @staticmethod
    def check_count(count: int) -> int:
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise DomainError(N_("Ask for at least one item of each kind."))
        if count > MAX_GROUP_COUNT:
            raise DomainError(N_("At most %(n)d items of one kind in one request."), n=MAX_GROUP_COUNT)
        return count
