"""Evidence items, the ITA indicator catalogue per fiscal year, and the year's integrity measures."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Audited, Model, utcnow
from evidence.catalogue import natural

INSTRUMENTS = ("IIT", "EIT", "OIT")
INTERNAL, PUBLIC = "internal", "public"


class Indicator(Audited, Model):
    """An ITA item of one fiscal year (i20, o43 …): its numbering changes most years, so it is data."""

    __tablename__ = "indicators"
    __table_args__ = (UniqueConstraint("fiscal_year", "code"),)
    audit_type = "indicator"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fiscal_year: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(10))
    instrument: Mapped[str] = mapped_column(String(3))
    group: Mapped[int] = mapped_column(Integer)  # the ten indicators: 1 performance … 4 property … 10 prevention
    text_th: Mapped[str] = mapped_column(Text)
    text_en: Mapped[str] = mapped_column(Text, default="")
    # OIT: which fiscal year the evidence covers, seen from the assessment year (current | previous |
    # first_half); "" for IIT and EIT.
    period: Mapped[str] = mapped_column(String(12), default="", server_default="")
    role: Mapped[str] = mapped_column(String(200), default="", server_default="")  # roles, space-separated
    retired: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    position: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    to_confirm: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())

    @property
    def roles(self) -> list[str]:
        return self.role.split() if self.role else []

    def state(self) -> dict[str, Any]:
        return {
            "fiscal_year": self.fiscal_year,
            "code": self.code,
            "instrument": self.instrument,
            "group": self.group,
            "text_th": self.text_th,
            "text_en": self.text_en,
            "period": self.period,
            "role": self.role,
            "retired": bool(self.retired),
            "position": self.position,
            "to_confirm": bool(self.to_confirm),
        }


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


class Measure(Audited, Model):
    """One row of the year's report: measure, what was done, who is responsible, the outcome, its figures."""

    __tablename__ = "measures"
    __table_args__ = (Index("ix_measures_year_position", "fiscal_year", "position"),)
    audit_type = "measure"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fiscal_year: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer, default=0)
    title: Mapped[str] = mapped_column(Text)
    indicators: Mapped[list[str]] = mapped_column(JSON, default=list)
    activities: Mapped[str] = mapped_column(Text, default="")
    responsible: Mapped[str] = mapped_column(Text, default="")
    outcome: Mapped[str] = mapped_column(Text, default="")
    figures: Mapped[list[str]] = mapped_column(JSON, default=list)  # keys like "lending.on_time_return_rate"
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}

    def state(self) -> dict[str, Any]:
        return {
            "fiscal_year": self.fiscal_year,
            "position": self.position,
            "title": self.title,
            "indicators": list(self.indicators or []),
            "activities": self.activities,
            "responsible": self.responsible,
            "outcome": self.outcome,
            "figures": list(self.figures or []),
        }
