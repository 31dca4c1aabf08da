"""The register pages a process keeps (lending.register.queries.PageCache) are exactly the pages the
database gives, and never older than the last committed change to an asset.

The reference is the uncached path (`find_page`, what the register did before the cache), and for the
totals and the sets of matches the definition itself (a key anywhere in the search text, and the filters
as Python conditions). Random assets and random searches: Thai, numbers, synonyms, keys under three
characters, with category, status, department, lendable and free-date filters, several page sizes and
pages, each asked twice (a miss, then a hit). Then changes made elsewhere — another connection, an
import, a transaction that rolls back — each seen on the next page.
"""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from sqlalchemy import select, text, update

from audit import record
from core.dates import bangkok_today
from core.db import begin_write, db
from lending.register import importing, queries, synonyms
from lending.register.models import CATEGORIES, STATUSES, Asset, compute_search_text, search_key
from lending.register.queries import AssetFilter, PageCache, find_page, list_assets, search_support
from lending.register.services import unique_tag
from tests.conftest import unique
from tests.integration.audit_instances import on_postgres
from tests.integration.test_import import ENGLISH, csv_bytes, two_rows

WORDS = [
    "เต็นท์ผ้าใบ",
    "เต้นท์",
    "โปรเจคเตอร์",
    "เครื่องฉายภาพ",
    "projector",
    "ไมโครโฟนไร้สาย",
    "ไมค์",
    "เก้าอี้พลาสติก",
    "โต๊ะพับ",
    "ลำโพงเคลื่อนที่",
    "ห้องประชุม",
    "Canon",
    "EPSON",
    "๔๑๖",
    "416",
]
PIECES = ["เต็นท์", "ไมค์", "projector", "โปรเจ็คเตอร์", "ห้อง", "ลำโพง", "canon", "ep", "ก", "๔๑", "416-", "6-0", "า", "zz"]


def ids(page) -> list[int]:
    return [r.id for r in page.rows]


def uncached(session, flt: AssetFilter, page: int, page_size: int) -> tuple[list[int], int, int]:
    """The page as the register found it before the cache: straight from the database."""
    dialect, indexed = search_support(session)
    found, total, at = find_page(session, flt.with_synonyms(session), dialect, indexed, max(1, page), page_size)
    rows = session.execute(select(Asset.asset_number, Asset.id).where(Asset.id.in_(found))).all() if found else []
    return [i for _, i in sorted(rows)], total, at


def defined(session, flt: AssetFilter) -> set[int]:
    """The definition of a filter without dates: any key anywhere in the search text, and the fields."""
    keys = flt.with_synonyms(session).search_keys()
    rows = session.execute(
        select(Asset.id, Asset.search_text, Asset.category, Asset.status, Asset.department, Asset.lendable)
    ).all()
    return {
        r.id
        for r in rows
        if (not flt.q or any(k in r.search_text for k in keys))
        and (not flt.category or r.category == flt.category)
        and (not flt.status or r.status == flt.status)
        and (not flt.department or r.department == flt.department)
        and (not flt.lendable or r.lendable == (flt.lendable == "yes"))
    }


@pytest.fixture
def departments(session):
    """120 random assets in three departments of this test's own, committed."""
    u = unique("")
    depts = [f"กองทดสอบ{u}-{i}" for i in range(3)]
    rnd = random.Random(u)
    begin_write(session)
    taken: set[str] = set()
    for i in range(120):
        name = " ".join(rnd.sample(WORDS, rnd.randint(1, 3)))
        tag = unique_tag(session, taken)
        taken.add(tag)
        asset = Asset(tag=tag, status=rnd.choice(STATUSES), status_note="")
        asset.apply(
            {
                "asset_number": f"{rnd.choice(['416', '417', '๔๒๐'])}-{rnd.randint(0, 99):02d}-{u}{i:04d}".upper(),
                "name": name,
                "category": rnd.choice(CATEGORIES[:4]),
                "brand": rnd.choice(["Canon", "Epson", ""]),
                "model": "",
                "serial_number": f"SN{rnd.randrange(10**6):06d}",
                "acquired_on": None,
                "price": None,
                "location": rnd.choice(["ห้องประชุมสภา", "โรงเก็บพัสดุ", ""]),
                "department": rnd.choice(depts),
                "lendable": rnd.random() < 0.7,
            }
        )
        session.add(asset)
        session.flush()
        record(session, None, "asset.created", asset, {"after": asset.state()})
    session.commit()
    return depts


def random_filter(rnd: random.Random, depts: list[str]) -> AssetFilter:
    q = rnd.choice([*PIECES, *WORDS, ""])
    today = bangkok_today()
    dated = rnd.random() < 0.15
    return AssetFilter(
        q=q,
        category=rnd.choice(["", "", *CATEGORIES[:4]]),
        status=rnd.choice(["", "", "", *STATUSES]),
        # mostly this test's own departments, so that pages are few; now and then the whole register
        department=rnd.choice([*depts, *depts, ""]),
        lendable=rnd.choice(["", "", "yes", "no"]),
        free_from=today + timedelta(days=3) if dated else None,
        free_to=today + timedelta(days=5) if dated else None,
    )


@pytest.mark.parametrize("few", [None, 4], ids=["as-shipped", "few-is-four"])
def test_every_cached_page_is_the_page_the_database_gives(session, departments, monkeypatch, few):
    if few is not None:  # every search then also takes the walk of the number index
        monkeypatch.setattr(queries, "FEW_MATCHES", few)
        monkeypatch.setattr(queries, "FEW_INDEXED_MATCHES", few)
    rnd = random.Random(16 if few is None else 17)
    for _ in range(70):
        flt = random_filter(rnd, departments)
        page_size = rnd.choice([3, 7, 50])
        first = list_assets(session, flt, 1, page_size)
        for page in sorted({1, 2, rnd.randint(1, first.pages), first.pages, first.pages + 1, 0}):
            for _ in range(2):  # a miss, then a hit
                got = list_assets(session, flt, page, page_size)
                assert (ids(got), got.total, got.page) == uncached(session, flt, page, page_size), (flt, page)
        if flt.department and not flt.free_dates:
            every = [i for p in range(1, first.pages + 1) for i in ids(list_assets(session, flt, p, page_size))]
            assert first.total == len(every) and set(every) == defined(session, flt), flt
        session.rollback()


def _rename(asset: Asset, name: str) -> dict:
    return {"name": name, "search_text": compute_search_text({**asset.state(), "name": name})}


def test_a_name_changed_by_another_connection_shows_on_the_next_page(session, make_asset):
    u = unique("")
    old, new = f"ตะเกียงเจ้าพายุ{u}", f"ไฟฉายคาดหัว{u}"
    asset = make_asset(name=old)
    for _ in range(2):
        assert ids(list_assets(session, AssetFilter(q=old))) == [asset.id]
        assert list_assets(session, AssetFilter(q=new)).total == 0
    session.rollback()

    with db.engine.begin() as other:  # another connection, as another worker or the CLI would be
        other.execute(update(Asset).where(Asset.id == asset.id).values(**_rename(asset, new)))

    assert list_assets(session, AssetFilter(q=old)).total == 0
    assert ids(list_assets(session, AssetFilter(q=new))) == [asset.id]
    assert list_assets(session, AssetFilter(q=new)).rows[0].name == new


def test_a_plain_sql_change_changes_the_token(session, make_asset):
    asset = make_asset()

    def token():
        session.rollback()
        return session.execute(select(queries.assets_token_query())).scalar()

    before = token()
    with db.engine.begin() as other:
        other.execute(text("UPDATE assets SET location = 'ห้องใหม่' WHERE id = :id"), {"id": asset.id})
    after_update = token()
    make_asset()
    after_insert = token()
    assert len({before, after_update, after_insert}) == 3


def test_an_import_shows_its_rows_on_the_next_page(session, officer):
    p = unique("IM").upper()
    flt = AssetFilter(q=p)
    register = list_assets(session, AssetFilter(), 1, 50).total
    assert list_assets(session, flt).total == 0
    session.rollback()

    importing.apply_import(session, officer, csv_bytes(ENGLISH, two_rows(p)), "list.csv")

    assert list_assets(session, flt).total == 2
    assert [r.asset_number for r in list_assets(session, flt).rows] == [f"{p}-001", f"{p}-002"]
    assert list_assets(session, AssetFilter(), 1, 50).total == register + 2


def test_a_change_rolled_back_is_never_served(session, make_asset):
    u = unique("")
    name = f"เครื่องตัดหญ้า{u}"
    asset = make_asset(name=name)
    assert list_assets(session, AssetFilter(q=name)).total == 1
    session.rollback()

    begin_write(session)
    session.execute(update(Asset).where(Asset.id == asset.id).values(**_rename(asset, f"อื่น{u}")))
    assert list_assets(session, AssetFilter(q=name)).total == 0  # this transaction sees its own change
    session.rollback()

    assert ids(list_assets(session, AssetFilter(q=name))) == [asset.id]
    assert ids(list_assets(session, AssetFilter(q=name))) == [asset.id]


def test_the_cache_is_bounded_in_entries_and_ids(monkeypatch):
    monkeypatch.setattr(queries, "MAX_CACHED_ENTRIES", 3)
    monkeypatch.setattr(queries, "MAX_CACHED_IDS", 100)
    cache = PageCache("t")
    for i in range(10):
        cache.put(("page", i), (i,), 1)
    assert len(cache) == 3 and cache.get(("page", 9)) == (9,) and cache.get(("page", 0)) is None
    cache.put(("all", "big"), tuple(range(26)), 26)  # over a quarter of the ids: not kept
    assert cache.get(("all", "big")) is None
    for i in range(4):
        cache.put(("all", i), tuple(range(20)), 20)
    assert len(cache) == 3  # the entries, and the ids they hold together, stay within their bounds


def test_a_search_key_folds_before_it_is_kept():
    assert queries._cache_key(AssetFilter(q="CANON")) == queries._cache_key(AssetFilter(q="canon"))
    assert search_key("CANON") == "canon"
    assert queries._cache_key(AssetFilter(q="canon", status="lost")) != queries._cache_key(AssetFilter(q="canon"))


def test_postgresql_bumps_the_token_before_the_statement(session):
    if not on_postgres():
        pytest.skip("PostgreSQL only")
    found = session.execute(
        text(
            "SELECT DISTINCT event_object_table, action_timing FROM information_schema.triggers "
            "WHERE trigger_name LIKE '%bump_assets_version'"
        )
    ).all()
    assert set(map(tuple, found)) == {("assets", "BEFORE"), ("search_synonyms", "BEFORE")}


def test_a_synonym_group_added_or_removed_elsewhere_shows_on_the_next_search(session, officer, make_asset):
    u = unique("").lower()
    asset = make_asset(name=f"กระติก{u}น้ำแข็ง")
    flt = AssetFilter(q=f"thermos{u}")
    for _ in range(2):
        assert list_assets(session, flt).total == 0
    session.rollback()

    group_id = synonyms.add_group(session, officer, f"กระติก{u}, thermos{u}").id
    # a newer group, so that the plain DELETE below does not free the highest id: SQLite would give it to
    # the next group, and two groups' audit entries would then name the same record
    synonyms.add_group(session, officer, f"keeper{u}, guard{u}")

    for _ in range(2):
        assert ids(list_assets(session, flt)) == [asset.id]
    session.rollback()
    with db.engine.begin() as other:  # gone without the page, as a restore or a plain statement would
        other.execute(text("DELETE FROM search_synonyms WHERE id = :id"), {"id": group_id})
    assert list_assets(session, flt).total == 0
