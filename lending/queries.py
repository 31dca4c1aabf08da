"""Read-only queries for the register list, its filters, and tag look-ups."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lending.models import STATUSES, Asset, normalise_tag, search_key

LIST_COLUMNS = (Asset.id, Asset.asset_number, Asset.tag, Asset.name, Asset.category, Asset.location,
                Asset.department, Asset.status, Asset.lendable, Asset.price)
MAX_QUERY = 100
FEW_MATCHES = 2000


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

    def apply(self, stmt, dialect: str = ""):
        if self.q:
            key = search_key(self.q)
            if dialect == "sqlite":
                # instr() is a plain substring search; LIKE decodes and backtracks character by character,
                # several times slower on Thai text. The text is already folded by search_key.
                stmt = stmt.where(func.instr(Asset.search_text, key) > 0)
            else:
                stmt = stmt.where(Asset.search_text.contains(key, autoescape=True))
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

    The page's ids come from the narrow indexes first, then their rows. Search text is a substring
    anywhere (Thai has no spaces, so no word index helps): the count is one sequential pass; when few rows
    match, they are taken in that pass and sorted here rather than found by walking the number index.
    """
    page = max(1, page)
    dialect = session.get_bind().dialect.name
    if flt.q:
        # Few matches: take them in one pass and sort them here (walking the number index would test
        # every row to find them). Many: count, then walk the index, which soon finds a page of them.
        matches = session.execute(flt.apply(select(Asset.asset_number, Asset.id), dialect)
                                  .limit(FEW_MATCHES + 1)).all()
        if len(matches) <= FEW_MATCHES:
            total = len(matches)
            page = min(page, max(1, -(-total // page_size)))
            ids = [m.id for m in sorted(matches)[(page - 1) * page_size: page * page_size]]
            return _page_of(session, ids, total, page, page_size)
    total = session.execute(flt.apply(select(func.count()).select_from(Asset), dialect)).scalar_one()
    page = min(page, max(1, -(-total // page_size)))
    ids = list(session.execute(flt.apply(select(Asset.id), dialect).order_by(Asset.asset_number)
                               .limit(page_size).offset((page - 1) * page_size)).scalars())
    return _page_of(session, ids, total, page, page_size)


def _page_of(session: Session, ids: list[int], total: int, page: int, page_size: int) -> Page:
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


_OPTIONS_SECONDS = 60
_options_cache: dict[str, tuple[float, dict[str, list[str]]]] = {}


def filter_options(session: Session) -> dict[str, list[str]]:
    """The categories and departments in use, for the filter menus (kept a minute per process)."""
    key = str(session.get_bind().url)
    cached = _options_cache.get(key)
    if cached and time.monotonic() - cached[0] < _OPTIONS_SECONDS:
        return cached[1]
    categories = session.execute(select(Asset.category).distinct().order_by(Asset.category)).scalars().all()
    departments = session.execute(select(Asset.department).where(Asset.department != "").distinct()
                                  .order_by(Asset.department)).scalars().all()
    options = {"categories": list(categories), "departments": list(departments)}
    _options_cache[key] = (time.monotonic(), options)
    return options


def asset_by_tag(session: Session, tag: str) -> Asset | None:
    return session.execute(select(Asset).where(Asset.tag == normalise_tag(tag))).scalar_one_or_none()
