"""The borrowing manual's published versions: each a numbered PDF in the file store and the settings it was
written from."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Audited, Model, utcnow
from core.models import User


class ManualVersion(Audited, Model):
    __tablename__ = "manual_versions"
    audit_type = "manual_version"

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
