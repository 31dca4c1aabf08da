"""Read-only queries for the evidence pages: the register, one item, what it is attached to, the public
page of a year, and the measures. Nothing here writes.

Who may see an item is decided here once (`can_see_evidence`), for the item page and the file alike.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select

from core.dates import bangkok_date, fiscal_year_of
from core.db import Session, contains, utcnow
from core.models import User
from core.people.permissions import EVIDENCE_VIEW
from evidence.catalogue import natural, shipped_years
from evidence.models import INTERNAL, PUBLIC, EvidenceIndicator, EvidenceItem, Indicator, Measure
from evidence.services import indicators_of
from lending.loans import Incident, Loan
from lending.models import Asset
from lending.queries import Page

MAX_QUERY = 100
LINK_KINDS = ("loan", "asset", "incident", "measure")

LIST_COLUMNS = (
    EvidenceItem.id,
    EvidenceItem.fiscal_year,
    EvidenceItem.title,
    EvidenceItem.original_name,
    EvidenceItem.mime,
    EvidenceItem.size,
    EvidenceItem.visibility,
    EvidenceItem.uploaded_at,
    EvidenceItem.public_token,
    User.name.label("uploader"),
)


def current_fiscal_year() -> int:
    """The B.E. fiscal year of today in Bangkok."""
    return fiscal_year_of(bangkok_date(utcnow()))


def can_see_evidence(user: Any, item: EvidenceItem) -> bool:
    """Internal evidence is for those who may view the register, and for the person who filed it."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return user.can(EVIDENCE_VIEW) or (item.uploaded_by_id is not None and item.uploaded_by_id == user.id)


# --- the register --------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvidenceFilter:
    q: str = ""
    year: int | None = None  # None: every year
    indicator: str = ""
    visibility: str = ""

    @classmethod
    def from_args(cls, args: Any, default_year: int) -> EvidenceFilter:
        def get(name: str) -> str:
            return (args.get(name) or "").strip()[:MAX_QUERY]

        raw_year = get("year")
        if raw_year == "all":
            year = None
        elif raw_year.isascii() and raw_year.isdigit() and 2500 <= int(raw_year) <= 2700:
            year = int(raw_year)
        else:
            year = default_year
        visibility = get("visibility")
        return cls(
            q=get("q"),
            year=year,
            indicator=get("indicator").lower()[:10],
            visibility=visibility if visibility in (INTERNAL, PUBLIC) else "",
        )

    def as_args(self) -> dict[str, str]:
        """The query arguments that reproduce this filter (the year always, "all" for every year)."""
        out = {"year": str(self.year) if self.year else "all"}
        out.update(
            {k: v for k, v in (("q", self.q), ("indicator", self.indicator), ("visibility", self.visibility)) if v}
        )
        return out

    def apply(self, stmt):
        if self.q:
            stmt = stmt.where(
                or_(
                    contains(EvidenceItem.title, self.q, ignore_case=True),
                    contains(EvidenceItem.description, self.q, ignore_case=True),
                    contains(EvidenceItem.original_name, self.q, ignore_case=True),
                )
            )
        if self.year:
            stmt = stmt.where(EvidenceItem.fiscal_year == self.year)
        if self.indicator:
            stmt = stmt.where(
                EvidenceItem.id.in_(
                    select(EvidenceIndicator.evidence_id).where(EvidenceIndicator.code == self.indicator)
                )
            )
        if self.visibility:
            stmt = stmt.where(EvidenceItem.visibility == self.visibility)
        return stmt


def list_evidence(session: Session, flt: EvidenceFilter, page: int = 1, page_size: int = 50) -> Page:
    """One page of the register, newest first, with each row's indicator codes (`codes` by id)."""
    page = max(1, page)
    total = session.execute(flt.apply(select(func.count()).select_from(EvidenceItem))).scalar_one()
    page = min(page, max(1, -(-total // page_size)))
    order = (EvidenceItem.uploaded_at.desc(), EvidenceItem.id.desc())
    ids = list(
        session.execute(
            flt.apply(select(EvidenceItem.id)).order_by(*order).limit(page_size).offset((page - 1) * page_size)
        ).scalars()
    )
    rows: Sequence[Any] = []
    if ids:
        rows = session.execute(
            select(*LIST_COLUMNS)
            .outerjoin(User, User.id == EvidenceItem.uploaded_by_id)
            .where(EvidenceItem.id.in_(ids))
            .order_by(*order)
        ).all()
    return Page(rows=rows, total=total, page=page, page_size=page_size)


def codes_of(session: Session, ids: list[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = defaultdict(list)
    if ids:
        for evidence_id, code in session.execute(
            select(EvidenceIndicator.evidence_id, EvidenceIndicator.code)
            .where(EvidenceIndicator.evidence_id.in_(ids))
            .order_by(EvidenceIndicator.code)
        ):
            out[evidence_id].append(code)
    return {k: natural(v) for k, v in out.items()}


def evidence_years(session: Session) -> list[int]:
    """The years that have evidence, an indicator catalogue or measures, and this year; newest first."""
    years = {current_fiscal_year()}
    years.update(session.execute(select(EvidenceItem.fiscal_year).distinct()).scalars())
    years.update(session.execute(select(Indicator.fiscal_year).distinct()).scalars())
    years.update(session.execute(select(Measure.fiscal_year).distinct()).scalars())
    return sorted(years, reverse=True)


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


# --- one item ------------------------------------------------------------------------------------


def user_name(session: Session, user_id: int | None) -> str:
    if user_id is None:
        return ""
    return session.execute(select(User.name).where(User.id == user_id)).scalar_one_or_none() or ""


@dataclass(frozen=True)
class Link:
    kind: str  # loan | asset | incident | measure
    id: int
    label: str
    fiscal_year: int | None = None


def link_target(session: Session, kind: str, record_id: int | None) -> Link | None:
    """The record an upload is attached to, with a label to show; None when there is no such record."""
    if record_id is None:
        return None
    if kind == "asset":
        row = session.execute(select(Asset.asset_number, Asset.name).where(Asset.id == record_id)).one_or_none()
        return Link(kind, record_id, f"{row.asset_number} {row.name}") if row else None
    if kind == "loan":
        ref = session.execute(select(Loan.ref).where(Loan.id == record_id)).scalar_one_or_none()
        return Link(kind, record_id, ref) if ref else None
    if kind == "incident":
        case = session.execute(
            select(Incident.id, Asset.asset_number, Asset.name)
            .join(Asset, Asset.id == Incident.asset_id)
            .where(Incident.id == record_id)
        ).one_or_none()
        return Link(kind, record_id, f"#{case.id} {case.asset_number} {case.name}") if case else None
    if kind == "measure":
        measure = session.execute(
            select(Measure.title, Measure.fiscal_year).where(Measure.id == record_id)
        ).one_or_none()
        if measure is None:
            return None
        title = measure.title if len(measure.title) <= 120 else measure.title[:119] + "…"
        return Link(kind, record_id, title, measure.fiscal_year)
    return None


def links_of(session: Session, item: EvidenceItem) -> list[Link]:
    """Every record the item is attached to."""
    out = []
    for kind in LINK_KINDS:
        link = link_target(session, kind, getattr(item, f"{kind}_id"))
        if link:
            out.append(link)
    return out


def attached_to(session: Session, kind: str, record_id: int, limit: int = 50) -> Sequence[Any]:
    """The evidence items attached to a loan, asset, incident or measure (for those records' pages)."""
    if kind not in LINK_KINDS:
        return []
    column = getattr(EvidenceItem, f"{kind}_id")
    return session.execute(
        select(
            EvidenceItem.id, EvidenceItem.title, EvidenceItem.fiscal_year, EvidenceItem.visibility, EvidenceItem.mime
        )
        .where(column == record_id)
        .order_by(EvidenceItem.id)
        .limit(limit)
    ).all()


def indicators_by_code(session: Session, year: int) -> dict[str, Indicator]:
    return {i.code: i for i in indicators_of(session, year)}


# --- publication ---------------------------------------------------------------------------------


def published_item(session: Session, token: str) -> EvidenceItem | None:
    """A published item by its public token; None when unknown or withdrawn."""
    if not token or len(token) > 64:
        return None
    return session.execute(
        select(EvidenceItem).where(EvidenceItem.public_token == token, EvidenceItem.visibility == PUBLIC)
    ).scalar_one_or_none()


@dataclass(frozen=True)
class PublicGroup:
    code: str
    text: str
    instrument: str
    items: list[Any]


def published_by_indicator(session: Session, year: int, lang: str = "th") -> list[PublicGroup]:
    """The year's published items under each indicator they support, in catalogue order.

    An item that supports two indicators is listed under both: the ITA system asks for a link per item.
    """
    rows = session.execute(
        select(
            EvidenceIndicator.code,
            EvidenceItem.id,
            EvidenceItem.title,
            EvidenceItem.description,
            EvidenceItem.public_token,
            EvidenceItem.mime,
            EvidenceItem.size,
            EvidenceItem.published_at,
        )
        .join(EvidenceItem, EvidenceItem.id == EvidenceIndicator.evidence_id)
        .where(EvidenceItem.fiscal_year == year, EvidenceItem.visibility == PUBLIC)
        .order_by(EvidenceItem.published_at, EvidenceItem.id)
    ).all()
    by_code: dict[str, list[Any]] = defaultdict(list)
    for r in rows:
        by_code[r.code].append(r)
    catalogue = indicators_by_code(session, year)
    order = {code: n for n, code in enumerate(catalogue)}
    groups = []
    for code in sorted(by_code, key=lambda c: (order.get(c, len(order)), c)):
        ind = catalogue.get(code)
        text = "" if ind is None else (ind.text_en if lang == "en" and ind.text_en else ind.text_th)
        groups.append(PublicGroup(code, text, ind.instrument if ind else "", by_code[code]))
    return groups


def published_years(session: Session) -> list[int]:
    return list(
        session.execute(
            select(EvidenceItem.fiscal_year)
            .where(EvidenceItem.visibility == PUBLIC)
            .distinct()
            .order_by(EvidenceItem.fiscal_year.desc())
        ).scalars()
    )


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
