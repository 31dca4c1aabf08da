"""Who may do what with the evidence items: the predicates the services check (and raise on), the views
check before they find a file, and the templates call to hide buttons (registered by evidence.items.views)."""

from __future__ import annotations

from typing import Any

from core.people.permissions import EVIDENCE_MANAGE, EVIDENCE_PUBLISH, EVIDENCE_UPLOAD, EVIDENCE_VIEW
from evidence.items.models import EvidenceItem


def _signed_in_with(user: Any, permission: str) -> bool:
    return user is not None and getattr(user, "is_authenticated", False) and user.can(permission)


def can_view_evidence(user: Any) -> bool:
    """The internal register, every item and the report: admins, supply officers, heads and auditors."""
    return _signed_in_with(user, EVIDENCE_VIEW)


def can_upload_evidence(user: Any) -> bool:
    return _signed_in_with(user, EVIDENCE_UPLOAD)


def can_manage_evidence(user: Any) -> bool:
    """Change any item's title, description and indicators."""
    return _signed_in_with(user, EVIDENCE_MANAGE)


def can_publish_evidence(user: Any) -> bool:
    """Publish an item at its public link or withdraw it; publish the year's report."""
    return _signed_in_with(user, EVIDENCE_PUBLISH)


def can_see_evidence(user: Any, item: EvidenceItem) -> bool:
    """Internal evidence is for those who may view the register, and for the person who filed it."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return user.can(EVIDENCE_VIEW) or (item.uploaded_by_id is not None and item.uploaded_by_id == user.id)
