"""Who may do what with the audit log: its object rules (`can_*`), used by the auditor's jobs and pages.
The role gate of the pages is core's AUDIT_VIEW permission."""

from __future__ import annotations

from typing import Any

from core.people.permissions import AUDIT_VIEW


def can_read_log(user: Any) -> bool:
    """Read, export and verify the log: whoever holds the auditor's permission (a job checks it again when it
    runs, since the person may have lost it since they asked)."""
    return user is not None and user.can(AUDIT_VIEW)
