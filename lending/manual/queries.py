"""The borrowing manual's published versions, newest first, and one by its number."""

from __future__ import annotations

from sqlalchemy import select

from core.db import Session
from lending.manual.models import ManualVersion


def versions(session: Session) -> list[ManualVersion]:
    return list(session.execute(select(ManualVersion).order_by(ManualVersion.number.desc())).scalars())


def version_by_number(session: Session, number: int) -> ManualVersion | None:
    return session.execute(select(ManualVersion).where(ManualVersion.number == number)).scalar_one_or_none()
