"""Who may do what with outside borrowers and lending groups."""

from __future__ import annotations

from core.models import User
from core.people.permissions import ASSETS_MANAGE, LOANS_HEAD, LOANS_MANAGE, LOANS_VIEW_ALL, SETTINGS_MANAGE


def can_enter_outside_request(user: User | None) -> bool:
    """An officer enters a request made at the counter or by another agency's letter."""
    return user is not None and user.can(LOANS_MANAGE)


def can_view_party(user: User | None) -> bool:
    """Contact details of outside borrowers: the officers and whoever reads every loan."""
    return user is not None and (user.can(LOANS_MANAGE) or user.can(LOANS_VIEW_ALL))


def can_manage_groups(user: User | None) -> bool:
    """The supply officer sets up lending groups and says which assets belong to them."""
    return user is not None and user.can(ASSETS_MANAGE)


def can_set_rules(user: User | None) -> bool:
    return user is not None and user.can(SETTINGS_MANAGE)


def can_anonymise(user: User | None) -> bool:
    """The administrator runs the anonymisation of expired contact details (the CLI runs it as the system)."""
    return user is not None and user.can(SETTINGS_MANAGE)


def can_cancel_outside(user: User | None, loan) -> bool:
    """The supply officer or the head cancels an outside request (with a reason) until the hand-over."""
    return (
        user is not None
        and (user.can(LOANS_MANAGE) or user.can(LOANS_HEAD))
        and loan.party_id is not None
        and loan.status in ("requested", "approved")
    )


def can_settle_deposit(user: User | None) -> bool:
    """The officer settles a deposit after the return: what was handed back, what was kept toward a case."""
    return user is not None and user.can(LOANS_MANAGE)
