"""Who may do what to an asset; used by services (which raise) and templates (which hide buttons)."""

from __future__ import annotations

from core.people.permissions import ASSETS_IMPORT, ASSETS_MANAGE, ASSETS_VIEW, LABELS_PRINT


def can_view_assets(user) -> bool:
    return user is not None and user.can(ASSETS_VIEW)


def can_manage_assets(user) -> bool:
    return user is not None and user.can(ASSETS_MANAGE)


def can_import_assets(user) -> bool:
    return user is not None and user.can(ASSETS_IMPORT)


def can_print_labels(user) -> bool:
    return user is not None and user.can(LABELS_PRINT)
