"""Read-only queries of the ITA catalogue and the measures: a year's items in catalogue order, the items
that play a role, the year's measures and the evidence attached to them. Nothing here writes."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import func, select

from core.db import Session
from evidence.items.models import EvidenceIndicator, EvidenceItem
from evidence.measures import catalogue
from evidence.measures.catalogue import code_key, natural, shipped_years
from evidence.measures.models import INSTRUMENTS, Indicator, Measure

# --- the catalogue of a year ---------------------------------------------------------------------


def _order(i: Indicator) -> tuple:
    """Catalogue order: IIT, EIT, OIT; within each, the admin's order, then natural order of the code."""
    return (INSTRUMENTS.index(i.instrument) if i.instrument in INSTRUMENTS else 3, i.position or 0, code_key(i.code))


def indicators_of(session: Session, fiscal_year: int, *, include_retired: bool = True) -> list[Indicator]:
    """A year's catalogue in its order; retired items (kept for the evidence that names them) optionally."""
    stmt = select(Indicator).where(Indicator.fiscal_year == fiscal_year)
    if not include_retired:
        stmt = stmt.where(Indicator.retired.is_(False))
    return sorted(session.execute(stmt).scalars(), key=_order)


def active_indicators(session: Session, fiscal_year: int) -> list[Indicator]:
    """The items new evidence and measures may name: the year's catalogue without its retired items."""
    return indicators_of(session, fiscal_year, include_retired=False)


def code_order(session: Session, fiscal_year: int) -> dict[str, int]:
    """Each code's place in the year's catalogue (codes not in it sort after, in natural order)."""
    return {i.code: n for n, i in enumerate(indicators_of(session, fiscal_year))}


def in_catalogue_order(codes, order: dict[str, int]) -> list[str]:
    return sorted(set(codes), key=lambda c: (order.get(c, len(order)), code_key(c)))


def indicators_by_code(session: Session, year: int) -> dict[str, Indicator]:
    return {i.code: i for i in indicators_of(session, year)}


def indicator_options(session: Session, year: int | None) -> list[tuple[str, str]]:
    """(code, text) for the indicator filter: the year's catalogue, or every code in use."""
    if year:
        return [(i.code, i.text_th) for i in indicators_of(session, year)]
    codes = session.execute(select(EvidenceIndicator.code).distinct()).scalars()
    return [(c, "") for c in natural(codes)]


def catalogue_source(session: Session, year: int) -> str | None:
    """Where a year without a catalogue would start from ("2569", or the first shipped file); None when
    the year has one already."""
    if session.execute(select(Indicator.id).where(Indicator.fiscal_year == year).limit(1)).first():
        return None
    if year in shipped_years():
        return f"evidence/catalogues/{year}.csv"
    earlier = session.execute(select(func.max(Indicator.fiscal_year)).where(Indicator.fiscal_year < year)).scalar_one()
    return str(earlier) if earlier is not None else f"evidence/catalogues/{shipped_years()[0]}.csv"


# --- roles: where the app's own filings go ----------------------------------------------------------


def role_targets(session: Session, role: str, covered_year: int) -> list[tuple[int, str]]:
    """(assessment year, code) of each item that plays `role` for evidence covering `covered_year`: an
    item of that year (period current or first half) or of the next year (period previous)."""
    rows = session.execute(
        select(Indicator.fiscal_year, Indicator.code, Indicator.role, Indicator.period).where(
            Indicator.fiscal_year.in_((covered_year, covered_year + 1)),
            Indicator.retired.is_(False),
            Indicator.role != "",
        )
    ).all()
    found = [
        (r.fiscal_year, r.code)
        for r in rows
        if role in r.role.split() and catalogue.covered_year(r.fiscal_year, r.period) == covered_year
    ]
    return sorted(found, key=lambda t: (t[0], code_key(t[1])))


# --- measures ------------------------------------------------------------------------------------


def measures_of(session: Session, year: int) -> list[Measure]:
    return list(
        session.execute(
            select(Measure).where(Measure.fiscal_year == year).order_by(Measure.position, Measure.id)
        ).scalars()
    )


def evidence_by_measure(session: Session, measure_ids: list[int]) -> dict[int, list[Any]]:
    """The evidence attached to each measure (id, title, visibility), oldest first."""
    out: dict[int, list[Any]] = defaultdict(list)
    if measure_ids:
        for row in session.execute(
            select(EvidenceItem.measure_id, EvidenceItem.id, EvidenceItem.title, EvidenceItem.visibility)
            .where(EvidenceItem.measure_id.in_(measure_ids))
            .order_by(EvidenceItem.id)
        ):
            out[row.measure_id].append(row)
    return out


def latest_year_with_measures(session: Session, before: int) -> int | None:
    """The year to copy measures from: the latest earlier year that has any."""
    return session.execute(select(func.max(Measure.fiscal_year)).where(Measure.fiscal_year < before)).scalar_one()
