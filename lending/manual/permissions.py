"""Who may publish a version of a manual: the borrowing manual, and the one for outside borrowers
(lending.eservice.manual). Reading them is open to anyone."""

from __future__ import annotations

from core.models import User
from core.people.permissions import MANUAL_PUBLISH


def can_publish(user: User | None) -> bool:
    return user is not None and user.can(MANUAL_PUBLISH)
