"""Read-only queries for the register list, its filters, and tag look-ups."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lending.models import STATUSES, Asset, normalise_tag, search_key

LIST_COLUMNS = (Asset.id, Asset.asset_number, Asset.tag, Asset.name, Asset.category, Asset.location,
                Asset.department, Asset.status, Asset.lendable, Asset.price)
MAX_QUERY = 100


@dataclass(frozen=True)
class AssetFilter:
    q: str = ""
    category: str = ""
    status: str = ""
    department: str = ""
    lendable: str = ""  # "", "yes", "no"

    @classmethod
    def from_args(cls, args: Any) -> AssetFilter:
        def get(name: str) -> str:
            return (args.get(name) or "").strip()[:MAX_QUERY]

        status = get("status")
        lendable = get("lendable")
        return cls(q=get("q"), category=get("category"), status=status if status in STATUSES else "",
                   department=get("department"), lendable=lendable if lendable in ("yes", "no") else "")

    def as_args(self) -> dict[str, str]:
        return {k: v for k, v in self.__dict__.items() if v}

    def apply(self, stmt):
        if self.q:
            stmt = stmt.where(Asset.search_text.contains(search_key(self.q), autoescape=True))
        if self.category:
            stmt = stmt.where(Asset.category == self.category)
        if self.status:
            stmt = stmt.where(Asset.status == self.status)
        if self.department:
            stmt = stmt.where(Asset.department == self.department)
        if self.lendable:
            stmt = stmt.where(Asset.lendable.is_(self.lendable == "yes"))
        return stmt


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


def list_assets(session: Session, flt: AssetFilter, page: int = 1, page_size: int = 50) -> Page:
    """One page of the register in asset-number order, with the total for the pager.

    The page's ids are chosen first on the narrow index and then their rows fetched, which keeps deep
    pages cheap; only the listed columns are read.
    """
    page = max(1, page)
    total = session.execute(flt.apply(select(func.count()).select_from(Asset))).scalar_one()
    last = max(1, -(-total // page_size))
    page = min(page, last)
    ids_stmt = flt.apply(select(Asset.id)).order_by(Asset.asset_number).limit(page_size) \
        .offset((page - 1) * page_size)
    ids = list(session.execute(ids_stmt).scalars())
    rows = []
    if ids:
        rows = session.execute(select(*LIST_COLUMNS).where(Asset.id.in_(ids))
                               .order_by(Asset.asset_number)).all()
    return Page(rows=rows, total=total, page=page, page_size=page_size)


def iter_assets(session: Session, flt: AssetFilter, ids: list[int] | None = None):
    """Every matching asset (for exports and label sheets), streamed in number order."""
    stmt = flt.apply(select(Asset)).order_by(Asset.asset_number)
    if ids:
        stmt = stmt.where(Asset.id.in_(ids))
    yield from session.execute(stmt.execution_options(yield_per=500)).scalars()


def filter_options(session: Session) -> dict[str, list[str]]:
    """The categories and departments in use, for the filter menus."""
    categories = session.execute(select(Asset.category).distinct().order_by(Asset.category)).scalars().all()
    departments = session.execute(select(Asset.department).where(Asset.department != "").distinct()
                                  .order_by(Asset.department)).scalars().all()
    return {"categories": list(categories), "departments": list(departments)}


def asset_by_tag(session: Session, tag: str) -> Asset | None:
    return session.execute(select(Asset).where(Asset.tag == normalise_tag(tag))).scalar_one_or_none()
