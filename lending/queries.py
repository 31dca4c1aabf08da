"""Read-only queries for the register list, its filters, and tag look-ups."""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Engine, Integer, column, func, literal_column, select, text
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from core.db import contains
from lending.models import STATUSES, Asset, normalise_tag, search_key

LIST_COLUMNS = (Asset.id, Asset.asset_number, Asset.tag, Asset.name, Asset.category, Asset.location,
                Asset.department, Asset.status, Asset.lendable, Asset.price)
MAX_QUERY = 100
FEW_MATCHES = 2000
# The trigram index of the search text (migration 0005: SQLite's FTS5 table, PostgreSQL's pg_trgm GIN index)
# finds keys of at least three characters; shorter keys are looked for in every row, as before.
TRIGRAM = 3
# Through the index, fetching each match by id costs about as much as walking the whole number index at
# some 500 matches in 50,000 (measured: bench/RESULTS.md); beyond that a page is found by the walk.
FEW_INDEXED_MATCHES = 500
FTS_TABLE = "assets_fts"
PG_TRGM_INDEX = "ix_assets_search_text_trgm"


@dataclass(frozen=True)
class AssetFilter:
    q: str = ""
    category: str = ""
    status: str = ""
    department: str = ""
    lendable: str = ""  # "", "yes", "no"
    without_disposed: bool = False  # not a query argument: label sheets leave disposed assets out

    @classmethod
    def from_args(cls, args: Any) -> AssetFilter:
        def get(name: str) -> str:
            return (args.get(name) or "").strip()[:MAX_QUERY]

        status = get("status")
        lendable = get("lendable")
        return cls(q=get("q"), category=get("category"), status=status if status in STATUSES else "",
                   department=get("department"), lendable=lendable if lendable in ("yes", "no") else "")

    def as_args(self) -> dict[str, str]:
        return {k: v for k, v in self.__dict__.items() if v and k != "without_disposed"}

    def for_labels(self) -> AssetFilter:
        """The filter of a label sheet: disposed assets left out, unless the status asked for them."""
        return replace(self, without_disposed=not self.status)

    def has_only_search(self) -> bool:
        return not (self.category or self.status or self.department or self.lendable or self.without_disposed)

    def apply(self, stmt, dialect: str = "", indexed: bool = False, walk: bool = False):
        """The filter's conditions on a statement over assets.

        `indexed`: the search text's trigram index exists (see `search_support`). `walk`: the statement
        walks an index in number order and tests each row against the search's matches, rather than
        looking each match up by id.
        """
        if self.q:
            stmt = stmt.where(search_condition(search_key(self.q), dialect, indexed, walk))
        if self.category:
            stmt = stmt.where(Asset.category == self.category)
        if self.status:
            stmt = stmt.where(Asset.status == self.status)
        elif self.without_disposed:
            stmt = stmt.where(Asset.status != "disposed")
        if self.department:
            stmt = stmt.where(Asset.department == self.department)
        if self.lendable:
            stmt = stmt.where(Asset.lendable.is_(self.lendable == "yes"))
        return stmt


def fts_phrase(key: str) -> str:
    """The key as one FTS5 string: every character literal (quotes doubled), so `"`, `*`, `OR`, `-`, `(`
    are text to find, never query syntax."""
    return '"' + key.replace('"', '""') + '"'


def uses_trigram_index(key: str, indexed: bool) -> bool:
    """Whether a trigram index can find the key: it exists, and the key holds a trigram."""
    return indexed and len(key) >= TRIGRAM


def search_condition(key: str, dialect: str = "", indexed: bool = False, walk: bool = False) -> ColumnElement:
    """Rows whose search text holds the key (already folded by search_key) anywhere: a plain substring.

    SQLite: the trigram index (case-sensitive, so exactly a substring: both sides are folded already) for
    keys of three characters or more, else instr() over every row — LIKE decodes and backtracks character
    by character, several times slower on Thai text. PostgreSQL: LIKE, which the pg_trgm index serves
    when it exists (PostgreSQL checks each candidate row itself).
    """
    if dialect != "sqlite":
        return contains(Asset.search_text, key)
    if uses_trigram_index(key, indexed):
        matches = text(f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH :fts_key") \
            .bindparams(fts_key=fts_phrase(key)).columns(column("rowid", Integer))
        # id + 0 keeps SQLite from fetching every match by id when it should walk an index in order.
        target = Asset.id + literal_column("0") if walk else Asset.id
        return target.in_(matches)
    return func.instr(Asset.search_text, key) > 0


_support: weakref.WeakKeyDictionary[Engine, bool] = weakref.WeakKeyDictionary()

_INDEX_EXISTS = {
    "sqlite": text(f"SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '{FTS_TABLE}'"),
    "postgresql": text(f"SELECT 1 FROM pg_indexes WHERE schemaname = current_schema() "
                       f"AND indexname = '{PG_TRGM_INDEX}'"),
}


def search_support(session: Session) -> tuple[str, bool]:
    """(dialect, whether the search text has its trigram index), looked up once per engine.

    Migration 0005 leaves the index out where SQLite lacks FTS5's trigram tokenizer (before 3.34) or the
    role may not create PostgreSQL's pg_trgm; searching then reads every row, as before.
    """
    engine = session.get_bind()
    dialect = engine.dialect.name
    if dialect not in _INDEX_EXISTS:
        return dialect, False
    engine = getattr(engine, "engine", engine)
    if engine not in _support:
        _support[engine] = session.execute(_INDEX_EXISTS[dialect]).first() is not None
    return dialect, _support[engine]


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
    anywhere (Thai has no spaces, so no word index helps). With the trigram index the matches are counted
    first, from the index; few are then fetched through it and sorted here, many are found by walking the
    number index and testing each row. Without it (or for keys under three characters) the count is one
    sequential pass, and few matches are taken in that same pass.
    """
    page = max(1, page)
    dialect, indexed = search_support(session)
    if flt.q and uses_trigram_index(search_key(flt.q), indexed):
        if dialect == "sqlite" and flt.has_only_search():
            # Every asset has its row in the index (triggers keep them in step): count there alone.
            total = session.execute(text(f"SELECT count(*) FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH :fts_key"),
                                    {"fts_key": fts_phrase(search_key(flt.q))}).scalar_one()
        else:
            total = session.execute(flt.apply(select(func.count()).select_from(Asset), dialect, indexed)) \
                .scalar_one()
        page = min(page, max(1, -(-total // page_size)))
        if total <= FEW_INDEXED_MATCHES:
            matches = session.execute(flt.apply(select(Asset.asset_number, Asset.id), dialect, indexed)).all()
            ids = [m.id for m in sorted(matches)[(page - 1) * page_size: page * page_size]]
            return _page_of(session, ids, total, page, page_size)
        ids = list(session.execute(flt.apply(select(Asset.id), dialect, indexed, walk=True)
                                   .order_by(Asset.asset_number)
                                   .limit(page_size).offset((page - 1) * page_size)).scalars())
        return _page_of(session, ids, total, page, page_size)
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
    dialect, indexed = search_support(session)
    stmt = flt.apply(select(Asset), dialect, indexed).order_by(Asset.asset_number)
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
