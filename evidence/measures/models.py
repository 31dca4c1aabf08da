"""The ITA indicator catalogue per fiscal year, and the year's integrity measures (the rows of the report)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Audited, Model

INSTRUMENTS = ("IIT", "EIT", "OIT")


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
