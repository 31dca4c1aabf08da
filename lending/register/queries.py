"""Read-only queries for the register list, its filters, and tag look-ups."""

from __future__ import annotations

import threading
import time
import weakref
from array import array
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from sqlalchemy import Engine, Integer, column, func, literal_column, or_, select, text
from sqlalchemy.sql.elements import ColumnElement

from core.dates import bangkok_today, format_numeric, parse_date
from core.db import N_, Session, contains
from lending.loans.bookings.queries import free_between
from lending.register.models import STATUSES, Asset, AssetsVersion, normalise_tag, search_key

LIST_COLUMNS = (
    Asset.id,
    Asset.asset_number,
    Asset.tag,
    Asset.name,
    Asset.category,
    Asset.location,
    Asset.department,
    Asset.status,
    Asset.lendable,
    Asset.price,
)
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
    # Free for lending on every day from `free_from` to `free_to` (both set, or neither).
    free_from: date | None = None
    free_to: date | None = None
    # The folded keys the search looks for (the query and its synonyms; see `with_synonyms`).
    keys: tuple[str, ...] = field(default=(), compare=False)
    # Why the dates were left out ("" when they were fine): a msgid the page shows beside the fields.
    date_error: str = field(default="", compare=False)
    without_disposed: bool = False  # not a query argument: label sheets leave disposed assets out

    @classmethod
    def from_args(cls, args: Any) -> AssetFilter:
        def get(name: str) -> str:
            return (args.get(name) or "").strip()[:MAX_QUERY]

        status = get("status")
        lendable = get("lendable")
        free_from, free_to, error = free_dates(get("free_from"), get("free_to"))
        return cls(
            q=get("q"),
            category=get("category"),
            status=status if status in STATUSES else "",
            department=get("department"),
            lendable=lendable if lendable in ("yes", "no") else "",
            free_from=free_from,
            free_to=free_to,
            date_error=error,
        )

    def as_args(self) -> dict[str, str]:
        out = {
            "q": self.q,
            "category": self.category,
            "status": self.status,
            "department": self.department,
            "lendable": self.lendable,
            "free_from": format_numeric(self.free_from),
            "free_to": format_numeric(self.free_to),
        }
        return {k: v for k, v in out.items() if v}

    def with_synonyms(self, session: Session, token: str | None = None) -> AssetFilter:
        """The same filter, its search looking for the query's synonyms too (lending.register.synonyms).
        `token`: the register's version token when read already in this transaction (`list_assets`)."""
        from lending.register.synonyms import search_keys

        return replace(self, keys=search_keys(session, self.q, token)) if self.q else self

    def search_keys(self) -> tuple[str, ...]:
        if not self.q:
            return ()
        return self.keys or (search_key(self.q),)

    @property
    def free_dates(self) -> bool:
        return self.free_from is not None and self.free_to is not None

    def has_only_search(self) -> bool:
        return not (
            self.category or self.status or self.department or self.lendable or self.free_dates or self.without_disposed
        )

    def for_labels(self) -> AssetFilter:
        """The filter of a label sheet: disposed assets left out, unless the status asked for them."""
        return replace(self, without_disposed=not self.status)

    def apply(self, stmt, dialect: str = "", indexed: bool = False, walk: bool = False):
        """The filter's conditions on a statement over assets.

        `indexed`: the search text's trigram index exists (see `search_support`). `walk`: the statement
        walks an index in number order and tests each row against the search's matches, rather than
        looking each match up by id.
        """
        if self.q:
            stmt = stmt.where(search_condition(self.search_keys(), dialect, indexed, walk))
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
        if self.free_from is not None and self.free_to is not None:  # self.free_dates, spelled out for mypy
            stmt = stmt.where(free_between(self.free_from, self.free_to, bangkok_today()))
        return stmt


MAX_FREE_DAYS = 366


def free_dates(raw_from: str, raw_to: str, today: date | None = None) -> tuple[date | None, date | None, str]:
    """The range of an available-by-date filter: (from, to, "") or (None, None, why not).

    One date alone is that one day; a range that ends before it starts, lies in the past, or is longer
    than a year is refused with a message rather than searched."""
    if not raw_from and not raw_to:
        return None, None, ""
    try:
        start, end = parse_date(raw_from), parse_date(raw_to)
    except ValueError:
        return None, None, N_("Not a date: use DD/MM/YYYY (B.E.) or YYYY-MM-DD.")
    start, end = start or end, end or start
    if start is None or end is None:  # not reached: both blank returned above; comparing would fail
        raise TypeError("no date in either field")
    if end < start:
        return None, None, N_("The end date is before the start date.")
    today = today or bangkok_today()
    if end < today:
        return None, None, N_("These days are past; choose days from today on.")
    if (end - start).days > MAX_FREE_DAYS:
        return None, None, N_("Choose at most a year.")
    return start, end, ""


def fts_phrase(key: str) -> str:
    """The key as one FTS5 string: every character literal (quotes doubled), so `"`, `*`, `OR`, `-`, `(`
    are text to find, never query syntax."""
    return '"' + key.replace('"', '""') + '"'


def uses_trigram_index(key: str, indexed: bool) -> bool:
    """Whether a trigram index can find the key: it exists, and the key holds a trigram."""
    return indexed and len(key) >= TRIGRAM


def search_condition(
    keys: str | tuple[str, ...], dialect: str = "", indexed: bool = False, walk: bool = False
) -> ColumnElement:
    """Rows whose search text holds any of the keys (already folded by search_key) anywhere: substrings.

    Several keys are a search and its synonyms (lending.register.synonyms), found in the same one pass or index
    look-up. SQLite: the trigram index (case-sensitive, so exactly a substring: both sides are folded
    already) when every key has three characters or more, else instr() over every row — LIKE decodes and
    backtracks character by character, several times slower on Thai text. PostgreSQL: LIKE, which the
    pg_trgm index serves when it exists (one bitmap scan per key, OR-ed; PostgreSQL checks each candidate
    row itself).
    """
    keys = (keys,) if isinstance(keys, str) else tuple(keys)
    if dialect != "sqlite":
        return or_(*(contains(Asset.search_text, k) for k in keys))
    if all(uses_trigram_index(k, indexed) for k in keys):
        matches = (
            text(f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH :fts_key")
            .bindparams(fts_key=fts_query(keys))
            .columns(column("rowid", Integer))
        )
        # id + 0 keeps SQLite from fetching every match by id when it should walk an index in order.
        target = Asset.id + literal_column("0") if walk else Asset.id
        return target.in_(matches)
    return or_(*(func.instr(Asset.search_text, k) > 0 for k in keys))


def fts_query(keys: tuple[str, ...]) -> str:
    """Keys as one FTS5 query: each a literal phrase, any of them."""
    return " OR ".join(fts_phrase(k) for k in keys)


_support: weakref.WeakKeyDictionary[Engine, bool] = weakref.WeakKeyDictionary()

_INDEX_EXISTS = {
    "sqlite": text(f"SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '{FTS_TABLE}'"),
    "postgresql": text(
        f"SELECT 1 FROM pg_indexes WHERE schemaname = current_schema() AND indexname = '{PG_TRGM_INDEX}'"
    ),
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
    engine = engine.engine  # a Connection's Engine; an Engine's is itself
    if engine not in _support:
        _support[engine] = session.execute(_INDEX_EXISTS[dialect]).first() is not None
    return dialect, _support[engine]


@dataclass(frozen=True)
class Page:
    rows: Sequence[Any]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


def list_assets(session: Session, flt: AssetFilter, page: int = 1, page_size: int = 50) -> Page:
    """One page of the register in asset-number order, with the total for the pager.

    The page's ids come from the narrow indexes first, then their rows (see `find_page`). A process keeps
    the totals and ids it found (`PageCache`) under the register's version token (migration 0018), read
    here in one small statement: the next page of a search, or the same page again, costs that token and
    the rows, and any change to an asset or to the search synonyms (whose groups are kept under the same
    token), committed by any process, changes the token. A filter by free dates is not kept: it depends on
    the bookings and the day, not on the assets alone.
    """
    page = max(1, page)
    dialect, indexed = search_support(session)
    token = session.execute(select(assets_token_query())).scalar()
    flt = flt.with_synonyms(session, token)
    if flt.free_dates or token is None:  # no token row (a database restored without it): nothing is kept
        ids, total, page = find_page(session, flt, dialect, indexed, page, page_size)
        return _page_of(session, ids, total, page, page_size)
    cache = _page_cache(session, token)
    key = _cache_key(flt)
    total = cache.get(("total", key))
    if total is not None:
        page = min(page, max(1, -(-total // page_size)))
        every = cache.get(("all", key))
        ids = (
            every[(page - 1) * page_size : page * page_size]
            if every is not None
            else cache.get(("page", key, page, page_size))
        )
        if ids is not None:
            return _page_of(session, list(ids), total, page, page_size)
    found: dict[str, Any] = {}
    ids, total, page = find_page(session, flt, dialect, indexed, page, page_size, total, found)
    cache.put(("total", key), total, 0)
    if "all" in found:
        cache.put(("all", key), array("q", found["all"]), len(found["all"]))
    else:
        cache.put(("page", key, page, page_size), array("q", ids), len(ids))
    return _page_of(session, ids, total, page, page_size)


def find_page(
    session: Session,
    flt: AssetFilter,
    dialect: str,
    indexed: bool,
    page: int,
    page_size: int,
    total: int | None = None,
    found: dict[str, Any] | None = None,
) -> tuple[list[int], int, int]:
    """(ids of the page, total, the page clamped to the pages there are), from the database.

    Search text is a substring anywhere (Thai has no spaces, so no word index helps). With the trigram
    index the matches are counted first, from the index; few are then fetched through it and sorted here,
    many are found by walking the number index and testing each row. Without it (or for keys under three
    characters) the count is one sequential pass, and few matches are taken in that same pass. `total`,
    when known already (from the cache), is not counted again; `found["all"]` receives every match's id
    in order when they were all fetched (few matches).
    """
    found = {} if found is None else found

    def clamp(total: int) -> int:
        return min(page, max(1, -(-total // page_size)))

    def few(matches: Sequence[Any]) -> tuple[list[int], int, int]:
        every = [m.id for m in sorted(matches)]
        found["all"] = every
        at = clamp(len(matches))
        return every[(at - 1) * page_size : at * page_size], len(matches), at

    if flt.q and all(uses_trigram_index(k, indexed) for k in flt.search_keys()):
        if total is None and dialect == "sqlite" and flt.has_only_search():
            # Every asset has its row in the index (triggers keep them in step): count there alone.
            total = session.execute(
                text(f"SELECT count(*) FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH :fts_key"),
                {"fts_key": fts_query(flt.search_keys())},
            ).scalar_one()
        elif total is None:
            total = session.execute(flt.apply(select(func.count()).select_from(Asset), dialect, indexed)).scalar_one()
        if total <= FEW_INDEXED_MATCHES:
            matches = session.execute(flt.apply(select(Asset.asset_number, Asset.id), dialect, indexed)).all()
            return few(matches)[0], total, clamp(total)
        page = clamp(total)
        ids = list(
            session.execute(
                flt.apply(select(Asset.id), dialect, indexed, walk=True)
                .order_by(Asset.asset_number)
                .limit(page_size)
                .offset((page - 1) * page_size)
            ).scalars()
        )
        return ids, total, page
    if flt.q and (total is None or total <= FEW_MATCHES):
        # Few matches: take them in one pass and sort them here (walking the number index would test
        # every row to find them). Many: count, then walk the index, which soon finds a page of them.
        matches = session.execute(flt.apply(select(Asset.asset_number, Asset.id), dialect).limit(FEW_MATCHES + 1)).all()
        if len(matches) <= FEW_MATCHES:
            return few(matches)
    if total is None:
        total = session.execute(flt.apply(select(func.count()).select_from(Asset), dialect)).scalar_one()
    page = clamp(total)
    ids = list(
        session.execute(
            flt.apply(select(Asset.id), dialect)
            .order_by(Asset.asset_number)
            .limit(page_size)
            .offset((page - 1) * page_size)
        ).scalars()
    )
    return ids, total, page


# --- the pages a process has found --------------------------------------------------------------------

MAX_CACHED_ENTRIES = 512
MAX_CACHED_IDS = 200_000  # the ids held by one process's entries together (8 bytes each: 1.6 MB at most)


class PageCache:
    """Totals and ids of register pages found under one version token of the assets, least recently used
    dropped first; bounded in entries and in the ids they hold together."""

    def __init__(self, token: str) -> None:
        self.token = token
        self._entries: OrderedDict[tuple, tuple[Any, int]] = OrderedDict()
        self._ids = 0
        self._lock = threading.Lock()

    def get(self, key: tuple) -> Any:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key: tuple, value: Any, size: int) -> None:
        if size > MAX_CACHED_IDS // 4:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._ids -= old[1]
            self._entries[key] = (value, size)
            self._ids += size
            while len(self._entries) > MAX_CACHED_ENTRIES or self._ids > MAX_CACHED_IDS:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._ids -= dropped

    def __len__(self) -> int:
        return len(self._entries)


_pages: weakref.WeakKeyDictionary[Engine, PageCache] = weakref.WeakKeyDictionary()
_pages_lock = threading.Lock()


def assets_token_query():
    """The register's version token (migration 0018) as a scalar subquery."""
    return select(AssetsVersion.token).where(AssetsVersion.id == 1).scalar_subquery()


def _page_cache(session: Session, token: str) -> PageCache:
    """This process's pages for the session's database, emptied when the assets' token has changed."""
    engine = session.get_bind().engine
    with _pages_lock:
        cache = _pages.get(engine)
        if cache is None or cache.token != token:
            _pages[engine] = cache = PageCache(token)
        return cache


def _cache_key(flt: AssetFilter) -> tuple:
    """What a page's matches depend on, besides the assets themselves (free dates are never kept)."""
    keys = flt.search_keys() if flt.q else ()
    return (bool(flt.q), keys, flt.category, flt.status, flt.department, flt.lendable, flt.without_disposed)


def _page_of(session: Session, ids: list[int], total: int, page: int, page_size: int) -> Page:
    rows: Sequence[Any] = []
    if ids:
        rows = session.execute(select(*LIST_COLUMNS).where(Asset.id.in_(ids)).order_by(Asset.asset_number)).all()
    return Page(rows=rows, total=total, page=page, page_size=page_size)


def iter_assets(session: Session, flt: AssetFilter, ids: list[int] | None = None):
    """Every matching asset (for exports and label sheets), streamed in number order."""
    dialect, indexed = search_support(session)
    stmt = flt.with_synonyms(session).apply(select(Asset), dialect, indexed).order_by(Asset.asset_number)
    if ids:
        stmt = stmt.where(Asset.id.in_(ids))
    yield from session.execute(stmt.execution_options(yield_per=500)).scalars()


_OPTIONS_SECONDS = 60
_options_cache: dict[str, tuple[float, dict[str, list[str]]]] = {}


def filter_options(session: Session) -> dict[str, list[str]]:
    """The categories and departments in use, for the filter menus (kept a minute per process)."""
    key = str(session.get_bind().engine.url)
    cached = _options_cache.get(key)
    if cached and time.monotonic() - cached[0] < _OPTIONS_SECONDS:
        return cached[1]
    categories = session.execute(select(Asset.category).distinct().order_by(Asset.category)).scalars().all()
    departments = (
        session.execute(select(Asset.department).where(Asset.department != "").distinct().order_by(Asset.department))
        .scalars()
        .all()
    )
    options = {"categories": list(categories), "departments": list(departments)}
    _options_cache[key] = (time.monotonic(), options)
    return options


def asset_by_tag(session: Session, tag: str) -> Asset | None:
    return session.execute(select(Asset).where(Asset.tag == normalise_tag(tag))).scalar_one_or_none()
