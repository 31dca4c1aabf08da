"""Evidence items: a stored file filed for a fiscal year under one or more catalogue codes, internal until
published at a stable public link."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Audited, Model, utcnow
from evidence.measures.catalogue import natural

INTERNAL, PUBLIC = "internal", "public"


class EvidenceItem(Audited, Model):
    __tablename__ = "evidence_items"
    __table_args__ = (Index("ix_evidence_year_visibility", "fiscal_year", "visibility"),)
    audit_type = "evidence"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fiscal_year: Mapped[int] = mapped_column(Integer, index=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    sha256: Mapped[str] = mapped_column(ForeignKey("stored_files.sha256"))
    original_name: Mapped[str] = mapped_column(String(255), default="")
    mime: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    visibility: Mapped[str] = mapped_column(String(10), default=INTERNAL)
    public_token: Mapped[str | None] = mapped_column(String(32), unique=True, nullable=True)
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    uploaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    loan_id: Mapped[int | None] = mapped_column(ForeignKey("loans.id"), nullable=True, index=True)
    asset_id: Mapped[int | None] = mapped_column(ForeignKey("assets.id"), nullable=True, index=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), nullable=True, index=True)
    measure_id: Mapped[int | None] = mapped_column(ForeignKey("measures.id"), nullable=True, index=True)
    source: Mapped[str] = mapped_column(String(30), default="upload")  # upload | stocktake | manual …
    # What an automatic filing is (a catalogue role, e.g. "borrowing_manual"); with no indicator yet, the
    # item waits for the year's catalogue to give the role a code.
    role: Mapped[str] = mapped_column(String(40), default="", server_default="")

    codes: Mapped[list[EvidenceIndicator]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="EvidenceIndicator.code"
    )

    @property
    def indicator_codes(self) -> list[str]:
        return natural(c.code for c in self.codes)

    def state(self) -> dict[str, Any]:
        return {
            "fiscal_year": self.fiscal_year,
            "title": self.title,
            "description": self.description,
            "sha256": self.sha256,
            "visibility": self.visibility,
            "indicators": self.indicator_codes,
            "loan_id": self.loan_id,
            "asset_id": self.asset_id,
            "incident_id": self.incident_id,
            "measure_id": self.measure_id,
        }


class EvidenceIndicator(Model):
    __tablename__ = "evidence_indicators"
    __table_args__ = (UniqueConstraint("evidence_id", "code"), Index("ix_evidence_indicators_code", "code"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    evidence_id: Mapped[int] = mapped_column(ForeignKey("evidence_items.id"))
    code: Mapped[str] = mapped_column(String(10))
