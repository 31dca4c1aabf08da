"""Who may change the ITA catalogue and the measures of a year: the services check it (and raise), the
templates call it to hide buttons."""

from __future__ import annotations

from typing import Any

from core.people.permissions import SETTINGS_MANAGE


def can_edit_catalogue(user: Any) -> bool:
    """Add, change, retire, reorder or import a year's catalogue items (the admin)."""
    return user is not None and getattr(user, "is_authenticated", False) and user.can(SETTINGS_MANAGE)


def can_edit_measures(user: Any) -> bool:
    """Add, edit or copy the year's measures (the admin, as for the catalogue)."""
    return can_edit_catalogue(user)
