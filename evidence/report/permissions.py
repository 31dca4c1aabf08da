"""Who oversees the year's figures (the home page's panel of them)."""

from __future__ import annotations

from typing import Any

from core.people.permissions import AUDIT_VIEW, EVIDENCE_VIEW, LOANS_HEAD, SETTINGS_MANAGE


def can_oversee_year(user: Any) -> bool:
    """Those who oversee the year's figures: the head, the internal auditor, the admin (not the supply
    officer, whose home page is their day's work)."""
    return (
        user is not None
        and user.can(EVIDENCE_VIEW)
        and (user.can(LOANS_HEAD) or user.can(AUDIT_VIEW) or user.can(SETTINGS_MANAGE))
    )
