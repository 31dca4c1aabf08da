"""The register's search through its trigram index finds exactly what a plain substring search finds.

The reference is the definition itself: the assets whose search text holds the folded key anywhere
(Python's `in` over every row), and the plain scan the register used before the index (instr() on
SQLite, LIKE on PostgreSQL). Each is compared with `list_assets` (count and pages, both the path that
fetches few matches by id and the one that walks the number index) and with `iter_assets` (exports and
labels), on whichever database the run uses.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from flask_migrate import upgrade
from sqlalchemy import delete, select, text

from core.db import db
from lending.register import queries, services
from lending.register.models import Asset, compute_search_text, search_key
from lending.register.queries import AssetFilter, fts_phrase, list_assets, search_condition, search_support
from tests.conftest import two_roles, unique
from tests.integration.audit_instances import on_postgres, separate_instance

# Text an officer might type, and text that means something to FTS5 or LIKE: Thai with stacked marks,
# Latin in capitals, Thai digits, quotes, * ( ) - : ^ NEAR OR, % _ and a backslash.
AWKWARD = {
    "name": 'เก้าอี้ผ้าใบพับได้ ป้าย "ห้ามจอด" (OR) *ด่วน* - NEAR(a b) ^col: x',
    "brand": "EPSON",
    "model": 'EB-X51 A"B',
    "serial_number": "Sn-AbC/12 50% off_x back\\slash it's",
    "location": "ห้อง ๔๑๒ ชั้น ๒",
}

KEYS = [
    # Thai, cut anywhere, through a run of stacked marks too
    "เก้าอี้",
    "ก้า",
    "้าอี",
    "อี้ผ",
    "ผ้าใบพับ",
    "ี้",
    "ก",
    "ไม่มีอยู่จริงเลย",
    # Latin: the case typed does not matter
    "EPSON",
    "epson",
    "Eb-X5",
    "sN-aBc/1",
    "ab",
    "X",
    "zzqx",
    # Thai and Arabic digits are one
    "๔๑๒",
    "412",
    "ห้อง ๔๑",
    "๔",
    # characters with a meaning in an FTS5 query or a LIKE pattern are text to find
    '"',
    '""',
    '"ห้ามจอด"',
    'A"B',
    '"(OR)',
    "(OR)",
    "OR",
    " or ",
    "*ด่วน*",
    "*",
    "-",
    " - ",
    "NEAR(a",
    "^col:",
    "col: x",
    "50%",
    "%",
    "_x",
    "off_",
    "back\\sl",
    "\\",
    "it's",
    "'",
    "/12",
    "a b",
]


def substring_ids(session, key: str) -> set[int]:
    """The definition: every asset whose search text holds the key."""
    session.rollback()
    return {i for i, t in session.execute(select(Asset.id, Asset.search_text)) if key in t}


def plain_scan_ids(session, key: str) -> set[int]:
    """What the register found before the index: instr() on SQLite, LIKE elsewhere, over every row."""
    dialect, _ = search_support(session)
    return set(session.scalars(select(Asset.id).where(search_condition(key, dialect, indexed=False))))


def listed(session, flt: AssetFilter, page_size: int = 500) -> tuple[int, list[int]]:
    """list_assets' total and the ids of all its pages, in order."""
    first = list_assets(session, flt, 1, page_size)
    ids = [r.id for r in first.rows]
    for page in range(2, first.pages + 1):
        ids += [r.id for r in list_assets(session, flt, page, page_size).rows]
    return first.total, ids


def in_number_order(session, ids: set[int]) -> list[int]:
    rows = session.execute(select(Asset.asset_number, Asset.id).where(Asset.id.in_(ids))).all() if ids else []
    return [i for _, i in sorted(rows)]


def assert_found_alike(session, raw: str, **filters) -> set[int]:
    """The register (list and export) finds exactly the plain substring matches, in number order."""
    key = search_key(raw)
    expected = substring_ids(session, key)
    if filters:
        narrowed = AssetFilter(**filters).apply(select(Asset.id))
        expected &= set(session.scalars(narrowed))
    else:
        assert plain_scan_ids(session, key) == expected
    flt = AssetFilter(q=raw, **filters)
    total, ids = listed(session, flt)
    assert total == len(expected)
    assert len(ids) == len(set(ids)) and set(ids) == expected
    if not on_postgres():  # PostgreSQL sorts by its collation; the test compares sets there
        assert ids == in_number_order(session, expected)
    assert {a.id for a in queries.iter_assets(session, flt)} == expected
    return expected


@pytest.fixture
def awkward(make_asset):
    """Two assets with the awkward text (one with a twist), so keys match several rows."""
    u = unique("")
    return [
        make_asset(asset_number=f"AW-{u}-1", **AWKWARD),
        make_asset(asset_number=f"AW-{u}-2", **{**AWKWARD, "brand": "Canon", "name": "เก้าอี้ (or) ตัวเดียว"}),
    ]


def test_the_search_text_has_its_trigram_index(session):
    assert search_support(session)[1] is True


@pytest.mark.parametrize("raw", KEYS)
def test_the_indexed_search_finds_exactly_the_substring_matches(session, awkward, raw):
    found = assert_found_alike(session, raw)
    if raw in ("EPSON", "epson", '"ห้ามจอด"', 'A"B', "*ด่วน*", "NEAR(a", "back\\sl", "it's", "50%"):
        assert awkward[0].id in found


@pytest.mark.parametrize("indexed", [True, False], ids=["indexed", "without-index"])
@pytest.mark.parametrize("few", [None, 1], ids=["fetched-by-id", "number-index-walk"])
@pytest.mark.parametrize("raw", ["เก้าอี้", "epson", "(or)", "ห้อง ๔๑", "ab"])
def test_both_ways_of_taking_a_page_agree_with_and_without_the_index(session, awkward, monkeypatch, few, indexed, raw):
    if few is not None:
        monkeypatch.setattr(queries, "FEW_MATCHES", few)
        monkeypatch.setattr(queries, "FEW_INDEXED_MATCHES", few)
    if not indexed:  # as where the migration could not create the index
        dialect = search_support(session)[0]
        monkeypatch.setattr(queries, "search_support", lambda _session: (dialect, False))
    assert_found_alike(session, raw)
    assert_found_alike(session, raw, status="available")
    assert_found_alike(session, raw, category="เก้าอี้", lendable="yes")


def test_an_asset_is_found_by_its_new_text_after_an_edit_and_not_by_its_old(session, officer):
    old, new = f"เครื่องตัดหญ้า{unique('')}", f"เลื่อยยนต์{unique('')}"
    asset = services.create_asset(
        session,
        officer,
        {
            "asset_number": unique("703-67-").upper(),
            "name": old,
            "category": "อื่น ๆ",
            "serial_number": "MW-1",
            "location": "โรงเก็บพัสดุ",
            "department": "กองช่าง",
            "lendable": True,
        },
    )
    asset_id = asset.id
    assert assert_found_alike(session, old) == {asset_id}

    session.rollback()
    version = session.get(Asset, asset_id).version
    services.update_asset(
        session,
        officer,
        asset_id,
        version,
        {
            "asset_number": asset.asset_number,
            "name": new,
            "category": "อื่น ๆ",
            "serial_number": "MW-2",
            "location": "โรงเก็บพัสดุ",
            "department": "กองช่าง",
            "lendable": True,
        },
    )

    assert assert_found_alike(session, old) == set()
    assert assert_found_alike(session, new) == {asset_id}
    assert asset_id in assert_found_alike(session, "mw-2")
    assert asset_id not in assert_found_alike(session, "mw-1")


def test_a_status_change_leaves_the_asset_found(session, officer, make_asset):
    token = f"ชุดไฟฉุกเฉิน{unique('')}"
    asset = make_asset(name=token)

    services.change_status(session, officer, asset.id, asset.version, "in_repair", "ส่งซ่อม")

    assert assert_found_alike(session, token) == {asset.id}
    assert assert_found_alike(session, token, status="in_repair") == {asset.id}
    assert assert_found_alike(session, token, status="available") == set()


def test_a_removed_asset_is_no_longer_found(session, make_asset):
    token = f"ถังดับเพลิง{unique('')}"
    asset = make_asset(name=token)
    assert assert_found_alike(session, token) == {asset.id}

    # No service removes an asset; the row is deleted here in a transaction that is then rolled back.
    session.execute(delete(Asset).where(Asset.id == asset.id))
    assert list_assets(session, AssetFilter(q=token)).total == 0
    assert list(queries.iter_assets(session, AssetFilter(q=token))) == []
    session.rollback()

    assert assert_found_alike(session, token) == {asset.id}


def test_the_sqlite_index_stays_in_step_with_the_register(session, awkward):
    if search_support(session) != ("sqlite", True):
        pytest.skip("SQLite's trigram index only")
    session.rollback()
    session.execute(text("INSERT INTO assets_fts(assets_fts) VALUES ('integrity-check')"))
    session.rollback()


def test_an_fts_phrase_is_one_quoted_string():
    assert fts_phrase('a"b') == '"a""b"'
    assert fts_phrase("x OR y*") == '"x OR y*"'


def test_postgresql_answers_the_search_from_the_trigram_index(session):
    if not on_postgres():
        pytest.skip("PostgreSQL only")
    session.rollback()
    assert session.execute(
        text(
            "SELECT 1 FROM pg_indexes WHERE indexname = 'ix_assets_search_text_trgm' AND schemaname = current_schema()"
        )
    ).first()
    stmt = AssetFilter(q="epson").apply(select(Asset.id), "postgresql")
    sql = stmt.compile(dialect=session.get_bind().dialect, compile_kwargs={"literal_binds": True})
    session.execute(text("SET LOCAL enable_seqscan = off"))
    plan = "\n".join(session.execute(text(f"EXPLAIN {sql}")).scalars())
    session.rollback()
    assert "ix_assets_search_text_trgm" in plan


def test_the_migration_indexes_the_assets_already_on_the_register(app, tmp_path: Path):
    """Upgrading a register that has assets: the index holds them at once (0004 -> 0005)."""
    with separate_instance("search", tmp_path, migrate=False) as instance, instance.app_context():
        upgrade(revision="0004_stocktake")
        values = {
            "asset_number": "416-59-0001",
            "tag": "K7Q2M9XA",
            "name": "เต็นท์ผ้าใบ ขนาด 4x8 เมตร",
            "category": "เต็นท์",
            "brand": "",
            "model": "",
            "serial_number": "SN-๑๒๓",
            "location": "ห้องพัสดุ",
            "department": "สำนักปลัด",
            "lendable": True,
            "status": "available",
            "status_note": "",
            "version": 1,
        }
        values["search_text"] = compute_search_text(values)
        with db.engine.begin() as conn:  # before the index exists, as an older version left it
            conn.execute(Asset.__table__.insert(), [values])
        db.session.remove()

        upgrade()

        assert search_support(db.session)[1] is True
        for raw in ("ผ้าใบ", "SN-๑๒", "416-59", "ห้องพัสดุ"):
            assert list_assets(db.session, AssetFilter(q=raw)).total == 1
        db.session.remove()


def test_autogenerate_sees_the_models_and_the_migrations_agree_and_leaves_the_index_alone(app):
    """`flask db check`: the index (SQLite's FTS tables, PostgreSQL's GIN index) is no model's, and a future
    `db migrate` must not offer to drop it."""
    result = app.test_cli_runner().invoke(args=["db", "check"])
    assert result.exit_code == 0, result.output


def test_after_a_large_import_the_index_s_pending_entries_are_merged_without_error(session, caplog):
    """PostgreSQL's GIN pending list is merged after imports of 1,000 rows or more (elsewhere a no-op)."""
    from lending.register import importing

    importing._merge_pending_search_entries(session)

    if two_roles():  # only the index's owner may merge: the app's role leaves it to autovacuum, and says so
        assert "left for autovacuum to merge: must be owner" in caplog.text
    else:
        assert "left for autovacuum" not in caplog.text
    assert list_assets(session, AssetFilter(q="เก้าอี้")).total >= 0


@pytest.mark.parametrize("raw", ["เก้าอี้", "epson", '"ห้ามจอด"', "(or)", "ห้อง ๔๑", "ab", "*", "ไม่มีอยู่จริงเลย"])
def test_the_loan_request_catalogue_finds_what_the_register_finds(session, awkward, raw):
    """The request page's picker of lendable assets searches through the same index, with the same matches."""
    from lending.loans.bookings.availability import UNLENDABLE_STATUSES
    from lending.loans.queries import lendable_catalogue

    key = search_key(raw)
    session.rollback()
    expected = {
        i
        for i, t, lendable, status in session.execute(select(Asset.id, Asset.search_text, Asset.lendable, Asset.status))
        if key in t and lendable and status not in UNLENDABLE_STATUSES
    }
    rows, total = lendable_catalogue(session, raw, [], limit=100_000)
    assert total == len(expected) and {r.id for r in rows} == expected
