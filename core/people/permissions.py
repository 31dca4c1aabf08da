"""Roles and what they may do (denied unless a role grants it), and the core's object rules (`can_*`): who
sees a job, who is told the audit log is down. Each package keeps its own object rules in its permissions.py."""

from __future__ import annotations

from typing import Any, Protocol

from core.db import N_, Forbidden

ROLES = ("staff", "supply_officer", "head", "auditor", "admin")

# Permission names: "<area>.<verb>".
ASSETS_VIEW = "assets.view"
ASSETS_MANAGE = "assets.manage"
ASSETS_IMPORT = "assets.import"
LABELS_PRINT = "labels.print"
USERS_MANAGE = "users.manage"
SETTINGS_MANAGE = "settings.manage"
AUDIT_VIEW = "audit.view"
LOANS_REQUEST = "loans.request"
LOANS_MANAGE = "loans.manage"  # approve, hand over, receive back, demand, incidents (supply officer)
LOANS_HEAD = "loans.head"  # the second approval, write-offs
LOANS_VIEW_ALL = "loans.view_all"
EVIDENCE_VIEW = "evidence.view"  # the internal register and the report
EVIDENCE_UPLOAD = "evidence.upload"
EVIDENCE_MANAGE = "evidence.manage"  # edit titles and indicators of any item
EVIDENCE_PUBLISH = "evidence.publish"
STOCKTAKE_MANAGE = "stocktake.manage"  # appoint a round's committee, open and close it (the head, ข้อ 213)
STOCKTAKE_PREPARE = "stocktake.prepare"  # prepare a round for the head: year, scope, proposed committee
STOCKTAKE_VIEW = "stocktake.view"  # read rounds and their reports; committee members read their own rounds
MANUAL_PUBLISH = "manual.publish"  # publish a version of the borrowing manual (admin)

_GRANTS: dict[str, frozenset[str]] = {
    "staff": frozenset({ASSETS_VIEW, LOANS_REQUEST}),
    "supply_officer": frozenset(
        {
            ASSETS_VIEW,
            ASSETS_MANAGE,
            ASSETS_IMPORT,
            LABELS_PRINT,
            LOANS_REQUEST,
            LOANS_MANAGE,
            LOANS_VIEW_ALL,
            EVIDENCE_VIEW,
            EVIDENCE_UPLOAD,
            STOCKTAKE_VIEW,
            STOCKTAKE_PREPARE,
        }
    ),
    "head": frozenset(
        {ASSETS_VIEW, LOANS_REQUEST, LOANS_HEAD, LOANS_VIEW_ALL, EVIDENCE_VIEW, STOCKTAKE_VIEW, STOCKTAKE_MANAGE}
    ),
    "auditor": frozenset({ASSETS_VIEW, AUDIT_VIEW, LOANS_VIEW_ALL, EVIDENCE_VIEW, STOCKTAKE_VIEW}),
    "admin": frozenset(
        {
            ASSETS_VIEW,
            USERS_MANAGE,
            SETTINGS_MANAGE,
            EVIDENCE_VIEW,
            EVIDENCE_UPLOAD,
            EVIDENCE_MANAGE,
            EVIDENCE_PUBLISH,
            STOCKTAKE_VIEW,
            MANUAL_PUBLISH,
        }
    ),
}


# The union of each set of roles asked about, made once per process: a page asks `can` a dozen times.
# The key is the roles themselves, so a role added or removed is a different key (never a stale answer);
# `grant` empties it, since it changes what a role means.
_UNIONS: dict[frozenset[str], frozenset[str]] = {}


def grant(role: str, *permissions: str) -> None:
    """Let a package add its own permissions to a role when it is wired in."""
    _GRANTS[role] = _GRANTS[role] | frozenset(permissions)
    _UNIONS.clear()


def permissions_for(roles: set[str] | frozenset[str]) -> frozenset[str]:
    key = frozenset(roles)
    out = _UNIONS.get(key)
    if out is None:
        out = frozenset()
        for role in key:
            out |= _GRANTS.get(role, frozenset())
        _UNIONS[key] = out
    return out


class Actor(Protocol):
    """Whoever acts: a User (core.models imports this module, so it is not named here)."""

    def can(self, permission: str) -> bool: ...


def ensure_permission(actor: Actor | None, permission: str) -> None:
    """Refuse (Forbidden) unless ``actor`` holds ``permission``: what a service checks before it acts."""
    if actor is None or not actor.can(permission):
        raise Forbidden(N_("You may not do this."))


def can_see_job(user: Any, job: Any) -> bool:
    """Only the person who started a job sees it (its page, its status, its file); to anyone else it does
    not exist."""
    return user is not None and job is not None and job.owner_id == user.id


def can_act_on_audit_outage(user: Any) -> bool:
    """Is this person told, when they sign in, that the audit log cannot be written? Those who can act on it:
    the auditor (who verifies) and the admin (who repairs)."""
    return user is not None and (user.can(AUDIT_VIEW) or user.has_role("admin"))
