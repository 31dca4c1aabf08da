"""The e-service's own tables: counters of the rate limits, and the published versions of the manual for
outsiders. Requests, parties, groups and surveys are the lending model's (lending.outside, lending.groups)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Audited, Model, utcnow
from core.models import User


class RateLimit(Model):
    """Attempts counted in one fixed window for one subject of one scope (an address, a phone number, a
    reference). The subject is kept only as a keyed hash, so the table holds no phone number or address.
    Short-lived counters, like the login throttles: not audited."""

    __tablename__ = "eservice_rate_limits"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)  # scope:hash
    scope: Mapped[str] = mapped_column(String(24))
    hits: Mapped[int] = mapped_column(Integer, default=0)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class OutsidersManualVersion(Audited, Model):
    """A published version of the manual for outsiders: its PDF in the file store and the settings it was
    written from (filed as evidence of the catalogue's outsiders_manual item)."""

    __tablename__ = "outsiders_manual_versions"
    audit_type = "outsiders_manual_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[int] = mapped_column(Integer, unique=True)
    fiscal_year: Mapped[int] = mapped_column(Integer)
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    sha256: Mapped[str] = mapped_column(ForeignKey("stored_files.sha256"))
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    published_by: Mapped[User | None] = relationship()

    def state(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "fiscal_year": self.fiscal_year,
            "sha256": self.sha256,
            "settings": self.settings,
        }
