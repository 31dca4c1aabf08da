"""Read-only queries of the stock-take: rounds and their entries, the reconciliation (live while a round is
open, final once closed), its progress, and the year's figures for the evidence report."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import (
    and_,
    case,
    func,
    or_,
    select,
)

from core.dates import fiscal_year_of
from core.db import (
    N_,
    NotFound,
    Session,
    contains,
)
from core.models import User
from core.numbers import percent, round_half_away
from lending.loans.models import CHECKED_OUT, Loan, LoanItem
from lending.register.models import Asset
from lending.stocktake.models import (
    DAMAGED,
    DRAFT,
    ELSEWHERE,
    NOT_FOUND,
    OPEN,
    SUPPLY_OFFICER,
    UNEXPECTED,
    StocktakeEntry,
    StocktakeMember,
    StocktakeRound,
    on_register_by,
)
from lending.stocktake.permissions import can_see_all_rounds


def draft_rounds(session: Session) -> list[StocktakeRound]:
    """Rounds the supply officer prepared that wait for the head."""
    return list(
        session.execute(
            select(StocktakeRound).where(StocktakeRound.status == DRAFT).order_by(StocktakeRound.id)
        ).scalars()
    )


def load_round(session: Session, round_id: int, lock: bool = False) -> StocktakeRound:
    rnd = session.get(
        StocktakeRound,
        round_id,
        with_for_update={"of": StocktakeRound} if lock else None,
        populate_existing=lock,
    )
    if rnd is None:
        raise NotFound(N_("No such stock-take round."))
    return rnd


def open_rounds_for(session: Session, user: User | None) -> list[StocktakeRound]:
    """The open rounds this user sits on the committee of (for the scan card on an asset's page)."""
    if user is None:
        return []
    return list(
        session.execute(
            select(StocktakeRound)
            .join(StocktakeMember, StocktakeMember.round_id == StocktakeRound.id)
            .where(StocktakeRound.status == OPEN, StocktakeMember.user_id == user.id)
            .order_by(StocktakeRound.id.desc())
        ).scalars()
    )


def entry_of(session: Session, round_id: int, asset_id: int) -> StocktakeEntry | None:
    return session.execute(
        select(StocktakeEntry).where(StocktakeEntry.round_id == round_id, StocktakeEntry.asset_id == asset_id)
    ).scalar_one_or_none()


@dataclass
class Reconciliation:
    """What a round found, live while open and final once closed."""

    total: int = 0  # in-scope entries (the snapshot)
    found: int = 0  # found where the register says
    elsewhere: int = 0  # found somewhere else
    on_loan: int = 0  # not scanned but out on a handed-over loan: accounted for
    not_found: int = 0  # neither found nor on loan (while open: not yet)
    unexpected: int = 0  # scanned but outside the snapshot (disposed, another department/location)
    good: int = 0
    damaged: int = 0
    by_location: list[dict[str, Any]] = field(default_factory=list)

    @property
    def scanned(self) -> int:
        return self.found + self.elsewhere

    @property
    def accounted(self) -> int:
        return self.found + self.elsewhere + self.on_loan

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "scanned": self.scanned,
            "found": self.found,
            "elsewhere": self.elsewhere,
            "on_loan": self.on_loan,
            "not_found": self.not_found,
            "unexpected": self.unexpected,
            "good": self.good,
            "damaged": self.damaged,
            "accounted": self.accounted,
            "by_location": self.by_location,
        }


def reconcile(session: Session, rnd: StocktakeRound) -> Reconciliation:
    """The counts of a round, in a few grouped queries (a round of many thousand assets stays quick)."""
    out = Reconciliation(total=rnd.total)
    E = StocktakeEntry
    if not rnd.is_open:
        for result, n in session.execute(select(E.result, func.count()).where(E.round_id == rnd.id).group_by(E.result)):
            setattr(out, result or NOT_FOUND, getattr(out, result or NOT_FOUND) + n)
    else:
        moved = and_(E.found_at.is_not(None), E.found_location != E.expected_location)
        row = session.execute(
            select(
                func.coalesce(
                    func.sum(case((and_(E.in_scope.is_(True), E.found_at.is_not(None), ~moved), 1), else_=0)),
                    0,
                ),
                func.coalesce(func.sum(case((and_(E.in_scope.is_(True), moved), 1), else_=0)), 0),
                func.coalesce(func.sum(case((E.in_scope.is_(False), 1), else_=0)), 0),
            ).where(E.round_id == rnd.id)
        ).one()
        out.found, out.elsewhere, out.unexpected = int(row[0]), int(row[1]), int(row[2])
        out.on_loan = session.execute(
            select(func.count(func.distinct(E.asset_id)))
            .select_from(E)
            .join(LoanItem, LoanItem.asset_id == E.asset_id)
            .join(Loan, Loan.id == LoanItem.loan_id)
            .where(
                E.round_id == rnd.id,
                E.in_scope.is_(True),
                E.found_at.is_(None),
                Loan.status == CHECKED_OUT,
                LoanItem.condition.is_(None),
            )
        ).scalar_one()
        out.not_found = out.total - out.found - out.elsewhere - out.on_loan
    for cond, n in session.execute(
        select(E.condition, func.count())
        .where(E.round_id == rnd.id, E.in_scope.is_(True), E.condition.is_not(None))
        .group_by(E.condition)
    ):
        if cond is not None:  # (always: the query leaves None out)
            setattr(out, cond, n)
    out.by_location = [
        {"location": loc or "", "total": int(total), "scanned": int(scanned or 0)}
        for loc, total, scanned in session.execute(
            select(E.expected_location, func.count(), func.sum(case((E.found_at.is_not(None), 1), else_=0)))
            .where(E.round_id == rnd.id, E.in_scope.is_(True))
            .group_by(E.expected_location)
            .order_by(E.expected_location)
        )
    ]
    return out


def progress(session: Session, rnd: StocktakeRound) -> dict[str, Any]:
    """Scanned / total and by location, for the round page's poll and the CLI."""
    r = reconcile(session, rnd)
    return {
        "round_id": rnd.id,
        "status": rnd.status,
        "total": r.total,
        "scanned": r.scanned,
        "unexpected": r.unexpected,
        "percent": round_half_away(percent(r.scanned, r.total), 1) if r.total else 0.0,
        "by_location": r.by_location,
    }


ENTRY_COLUMNS = (
    StocktakeEntry.id,
    StocktakeEntry.asset_id,
    StocktakeEntry.in_scope,
    StocktakeEntry.found_at,
    StocktakeEntry.found_location,
    StocktakeEntry.expected_location,
    StocktakeEntry.condition,
    StocktakeEntry.note,
    StocktakeEntry.result,
    Asset.asset_number,
    Asset.name,
    Asset.category,
    Asset.department,
    Asset.status,
    Asset.price,
    Asset.tag,
)


def entry_rows(
    session: Session, round_id: int, *, show: str = "all", q: str = "", page: int = 1, size: int = 50
) -> tuple[Sequence[Any], int]:
    """A page of a round's entries for its list: all, to do (not yet found), found, unexpected, problems."""
    E = StocktakeEntry
    stmt = select(*ENTRY_COLUMNS).join(Asset, Asset.id == E.asset_id).where(E.round_id == round_id)
    if show == "todo":
        stmt = stmt.where(E.in_scope.is_(True), E.found_at.is_(None))
    elif show == "found":
        stmt = stmt.where(E.found_at.is_not(None), E.in_scope.is_(True))
    elif show == "unexpected":
        stmt = stmt.where(E.in_scope.is_(False))
    elif show == "problems":
        stmt = stmt.where(or_(E.result.in_((NOT_FOUND, ELSEWHERE, UNEXPECTED)), E.condition == DAMAGED))
    if q:
        from lending.register.models import search_key

        stmt = stmt.where(contains(Asset.search_text, search_key(q)))
    total = session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    rows = session.execute(
        stmt.order_by(E.expected_location, Asset.asset_number).limit(size).offset((max(page, 1) - 1) * size)
    ).all()
    return rows, total


def all_entry_rows(session: Session, round_id: int) -> Sequence[Any]:
    E = StocktakeEntry
    return session.execute(
        select(*ENTRY_COLUMNS)
        .join(Asset, Asset.id == E.asset_id)
        .where(E.round_id == round_id)
        .order_by(E.in_scope.desc(), E.expected_location, Asset.asset_number)
    ).all()


def list_rounds(session: Session, user: User) -> list[StocktakeRound]:
    stmt = select(StocktakeRound).order_by(StocktakeRound.id.desc())
    if not can_see_all_rounds(user):
        stmt = stmt.join(StocktakeMember, StocktakeMember.round_id == StocktakeRound.id).where(
            StocktakeMember.user_id == user.id
        )
    return list(session.execute(stmt.limit(200)).scalars())


def committee_candidates(session: Session) -> list[User]:
    """Active users who may sit on an inspection committee: everyone but supply officers."""
    from core.models import UserRole

    officers = select(UserRole.user_id).where(UserRole.role == SUPPLY_OFFICER)
    return list(
        session.execute(
            select(User).where(User.active.is_(True), User.id.not_in(officers)).order_by(User.name)
        ).scalars()
    )


def scope_options(session: Session) -> tuple[list[str], list[str]]:
    deps = [d for d in session.execute(select(Asset.department).distinct().order_by(Asset.department)).scalars() if d]
    locs = [x for x in session.execute(select(Asset.location).distinct().order_by(Asset.location)).scalars() if x]
    return deps, locs


def stocktake_figures(session: Session, start: date, end: date) -> tuple[int, int]:
    """`stocktake` for evidence.report.figures: (assets checked in the year's stock-take, of those not found).

    The year's stock-take is every round whose fiscal year is the year that ends on `end`. An asset is
    *checked* when a round recorded a result for it within its scope: found (where expected or elsewhere)
    at any time, or — once the round is closed — on loan or not found. It is *not found* when a closed round
    of the year recorded it as not found and no round of the year found it. Unexpected scans (outside a
    round's scope) count in neither. Each asset counts once, however many rounds saw it.
    """
    year = fiscal_year_of(end)
    E, R = StocktakeEntry, StocktakeRound
    # Only assets acquired by the round's cut-off day (a round opened before that rule took its snapshot of
    # everything on the register the day it was opened).
    acquired = select(Asset.id).where(Asset.id == E.asset_id, on_register_by(R.count_on)).exists()
    in_year = and_(R.id == E.round_id, R.fiscal_year == year, E.in_scope.is_(True), acquired)
    checked = session.execute(
        select(func.count(func.distinct(E.asset_id)))
        .select_from(E)
        .join(R, in_year)
        .where(or_(E.found_at.is_not(None), E.result.is_not(None)))
    ).scalar_one()
    found_ids = select(E.asset_id).join(R, in_year).where(E.found_at.is_not(None))
    not_found = session.execute(
        select(func.count(func.distinct(E.asset_id)))
        .select_from(E)
        .join(R, in_year)
        .where(E.result == NOT_FOUND, E.asset_id.not_in(found_ids))
    ).scalar_one()
    return int(checked), int(not_found)
