"""Who may publish a version of the borrowing manual (reading it is open to anyone signed in)."""

from __future__ import annotations

from core.models import User
from core.permissions import MANUAL_PUBLISH


def can_publish(user: User | None) -> bool:
    return user is not None and user.can(MANUAL_PUBLISH)
