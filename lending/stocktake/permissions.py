"""Who may do what in a stock-take: the head manages rounds, the supply officer prepares them, a committee
member of an open round records what was found."""

from __future__ import annotations

from core.models import User
from core.people.permissions import STOCKTAKE_MANAGE, STOCKTAKE_PREPARE, STOCKTAKE_VIEW
from lending.stocktake.models import StocktakeRound


def can_manage_rounds(user: User | None) -> bool:
    """Appoint the committee, open and close a round: the head of agency (ข้อ 213)."""
    return user is not None and user.can(STOCKTAKE_MANAGE)


def can_prepare_rounds(user: User | None) -> bool:
    """Prepare a round for the head (year, scope, a proposed committee): the supply officer, or the head."""
    return user is not None and (user.can(STOCKTAKE_PREPARE) or user.can(STOCKTAKE_MANAGE))


def can_see_all_rounds(user: User | None) -> bool:
    """Every round, not only those the user sits on the committee of."""
    return user is not None and user.can(STOCKTAKE_VIEW)


def can_view_round(user: User | None, rnd: StocktakeRound) -> bool:
    return user is not None and (can_see_all_rounds(user) or user.id in rnd.member_ids())


def can_record(user: User | None, rnd: StocktakeRound) -> bool:
    """Only a committee member of an open round records what was found."""
    return user is not None and rnd.is_open and user.id in rnd.member_ids()
