"""The ITA catalogue of each assessment year as data: the shipped files and their loading by the
migrations, `ita catalogue import` (all or nothing), natural order, retiring an item, the roles through
which the manual, the stock-take and the report find their codes, and codes printed in Latin digits.

The database is shared by the session: the shipped years (2566–2570) are only read here; every test that
changes a catalogue uses a year of its own (262x).
"""

from __future__ import annotations

import io
import json
from datetime import datetime

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select, text

from audit.models import AuditEntry
from core.db import db
from core.files import FileStore
from core.models import User
from core.web import context
from evidence.items import services
from evidence.items.models import EvidenceItem
from evidence.measures import catalogue
from evidence.measures import queries as measure_queries
from evidence.measures import services as measure_services
from lending.loans.documents import filing
from tests.conftest import sign_in, unique

MB = 1024 * 1024
HEADER = "code,instrument,group,title_th,title_en,period,role,to_confirm\n"


def pdf() -> bytes:
    return b"%PDF-1.4\n% " + unique("page").encode() + b"\n%%EOF\n"


def _entries(session, action: str, subject_id: str | None = None) -> list[dict]:
    stmt = select(AuditEntry.data).where(AuditEntry.action == action)
    if subject_id is not None:
        stmt = stmt.where(AuditEntry.subject_id == subject_id)
    return [
        json.loads(d) if isinstance(d, str) else d for d in session.execute(stmt.order_by(AuditEntry.seq)).scalars()
    ]


def in_app(app, fn):
    """Run fn(session) in an app context of its own (tests that also drive the test client must not hold
    one open: a request would share it)."""
    with app.app_context():
        context.set_origin("127.0.0.1", "pytest")
        try:
            return fn(db.session)
        finally:
            db.session.remove()


def _import(session, year: int, csv_text: str, *, actor=None, dry_run: bool = False):
    return measure_services.import_catalogue(
        session, actor, year, csv_text.encode("utf-8"), f"{year}.csv", dry_run=dry_run
    )


# --- the shipped catalogues ---------------------------------------------------------------------------


@pytest.mark.parametrize("year", [2566, 2567, 2568, 2569, 2570])
def test_every_shipped_catalogue_passes_the_checks_and_was_loaded_by_the_migrations(session, year):
    parsed = catalogue.shipped(year)
    assert parsed.problems == []
    assert len(parsed.rows) >= 30
    rows = measure_queries.indicators_of(session, year)
    assert [i.code for i in rows] == [r.code for r in parsed.rows], "loaded as shipped, in the file's order"
    assert all(i.period in catalogue.PERIODS for i in rows if i.instrument == "OIT")
    for role in catalogue.FILED_ROLES[:2]:  # the manual and the stock-take have an item in every year
        assert measure_queries.role_targets(session, role, year), (year, role)
    assert [(i.text_th, i.instrument, i.group, i.period, i.roles, i.to_confirm) for i in rows] == [
        (r.title_th, r.instrument, r.group, r.period, r.roles, r.to_confirm) for r in parsed.rows
    ]


def test_the_shipped_years_say_what_is_known_and_mark_the_rest_to_be_confirmed(session):
    codes = {y: {i.code: i for i in measure_queries.indicators_of(session, y)} for y in catalogue.shipped_years()}
    fy2566 = codes[2566]
    for code in ("i20", "i21", "i24", "o19", "o22", "o36", "o37", "o38", "o42", "o43"):
        assert not fy2566[code].to_confirm, code
    assert fy2566["o43"].roles == [catalogue.MEASURES_REPORT]
    assert fy2566["o37"].period == catalogue.FIRST_HALF
    assert codes[2568]["o1"].text_th == "โครงสร้าง" and not codes[2568]["o1"].to_confirm
    assert 33 <= sum(1 for i in codes[2568].values() if i.instrument == "OIT") <= 37
    fy2569 = {r: c for c, i in codes[2569].items() for r in i.roles}
    assert fy2569[catalogue.MEASURES_REPORT] == "o26" and fy2569[catalogue.ANTI_CORRUPTION_REPORT] == "o24"
    assert codes[2569]["o26"].period == codes[2569]["o24"].period == catalogue.PREVIOUS
    assert codes[2569]["o26"].to_confirm, "near o26, not certain"
    assert all(i.to_confirm for i in codes[2567].values())


def test_lending_names_the_same_roles_as_the_catalogues():
    assert filing.BORROWING_MANUAL == catalogue.BORROWING_MANUAL
    assert filing.STOCKTAKE_RESULT == catalogue.STOCKTAKE_RESULT
    assert filing.OUTSIDERS_MANUAL == catalogue.OUTSIDERS_MANUAL


def test_the_migration_keeps_a_year_the_database_has_and_loads_the_others(tmp_path):
    from flask_migrate import upgrade

    from tests.integration.audit_instances import separate_instance

    with separate_instance("catalogue_migration", tmp_path, migrate=False) as app:
        with app.app_context():
            upgrade(revision="0005_asset_search_index")
            db.session.execute(
                text(
                    'INSERT INTO indicators (fiscal_year, code, instrument, "group", text_th, text_en) VALUES '
                    "(2566, 'o12', 'OIT', 9, 'ข้อสิบสอง', ''), (2566, 'o2', 'OIT', 9, 'ข้อสอง', ''), "
                    "(2566, 'i20', 'IIT', 4, 'การยืม', '')"
                )
            )
            db.session.commit()
            upgrade()
            kept = [(i.code, i.position) for i in measure_queries.indicators_of(db.session, 2566)]
            loaded = {y: len(measure_queries.indicators_of(db.session, y)) for y in (2567, 2568, 2569, 2570)}
            entries = db.session.execute(select(func.count()).select_from(AuditEntry)).scalar_one()
            db.session.remove()
        result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert kept == [("i20", 1), ("o2", 2), ("o12", 3)], "the year's own rows, numbered in natural order"
    assert loaded == {y: len(catalogue.shipped(y).rows) for y in loaded}
    assert entries == 0, "a migration writes no audit entry: the chain starts empty"
    assert result.exit_code == 0, result.output


# --- importing a year ---------------------------------------------------------------------------------


def test_a_catalogue_file_with_bad_rows_changes_nothing_and_names_row_column_and_reason(app, tmp_path):
    bad = (
        HEADER + "o1,OIT,9,โครงสร้าง,,current,,0\n"
        "x12,OIT,9,ผิด,,,,0\n"
        "i3,OIT,9,ผิดเครื่องมือ,,,,0\n"
        "o4,OIT,11,กลุ่มผิด,,sometimes,measures_reportx,maybe\n"
        "o1,OIT,9,ซ้ำ,,,,\n"
    )
    path = tmp_path / "2626.csv"
    path.write_text(bad, encoding="utf-8")
    with app.app_context():
        before = db.session.execute(select(func.count()).select_from(AuditEntry)).scalar_one()
        db.session.remove()

    result = app.test_cli_runner().invoke(args=["ita", "catalogue", "import", str(path), "--year", "2626"])

    assert result.exit_code != 0
    out = result.output
    assert "row 3, column code: a code is a letter i, e or o and a number" in out
    assert "row 4, column instrument: i3 is not an OIT code" in out
    assert "row 5, column group: a number from 1 to 10" in out
    assert "row 5, column period:" in out and "row 5, column role: unknown role measures_reportx" in out
    assert "row 5, column to_confirm:" in out and "row 6, column code: o1 is also on row 2" in out
    assert "4 bad rows; nothing was imported" in out
    with app.app_context():
        assert measure_queries.indicators_of(db.session, 2626) == []
        assert db.session.execute(select(func.count()).select_from(AuditEntry)).scalar_one() == before
        db.session.remove()


def test_importing_a_year_adds_changes_and_retires_all_at_once_and_is_audited(app, tmp_path):
    first = HEADER + (
        "o1,OIT,9,โครงสร้าง,Structure,current,,1\no2,OIT,9,ข้อมูลผู้บริหาร,,,,1\ni20,IIT,4,การยืม,,,borrowing_manual,0\n"
    )
    path = tmp_path / "catalogue.csv"
    path.write_text(first, encoding="utf-8-sig")
    runner = app.test_cli_runner()

    dry = runner.invoke(args=["ita", "catalogue", "import", str(path), "--year", "2627", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "would add: o1 o2 i20" in dry.output, "in the file's order"
    with app.app_context():
        assert measure_queries.indicators_of(db.session, 2627) == []
        db.session.remove()

    done = runner.invoke(args=["ita", "catalogue", "import", str(path), "--year", "2627"])
    assert done.exit_code == 0, done.output
    assert "fiscal year 2627: add 3, change 0, retire 0, unchanged 0" in done.output
    again = runner.invoke(args=["ita", "catalogue", "import", str(path), "--year", "2627"])
    assert "add 0, change 0, retire 0, unchanged 3" in again.output

    # the corrected list: o2 renamed and confirmed, o1 dropped (retired, not deleted), o35 added
    book = Workbook()
    sheet = book.active
    sheet.append(["code", "instrument", "group", "title_th", "title_en", "period", "role", "to_confirm"])
    sheet.append(["i20", "IIT", 4, "การยืม", "", "", "borrowing_manual", 0])
    sheet.append(["O2", "OIT", 9, "ข้อมูลผู้บริหารสูงสุด", "", "current", "", 0])
    sheet.append(["o35", "OIT", 10, "การดำเนินการตามมาตรการ", "", "previous", "measures_report", 1])
    xlsx = tmp_path / "catalogue.xlsx"
    book.save(xlsx)
    fixed = runner.invoke(args=["ita", "catalogue", "import", str(xlsx), "--year", "2627"])
    assert fixed.exit_code == 0, fixed.output
    assert "add 1, change 1, retire 1, unchanged 1" in fixed.output
    with app.app_context():
        rows = {i.code: i for i in measure_queries.indicators_of(db.session, 2627)}
        assert rows["o2"].text_th == "ข้อมูลผู้บริหารสูงสุด" and not rows["o2"].to_confirm
        assert rows["o1"].retired and not rows["o35"].retired and rows["o35"].period == "previous"
        assert [i.code for i in measure_queries.active_indicators(db.session, 2627)] == ["i20", "o2", "o35"]
        imported = _entries(db.session, "catalogue.imported", "2627")
        assert len(imported) == 2, "a run that changes nothing records nothing"
        assert imported[-1]["created"] == ["o35"] and imported[-1]["retired"] == ["o1"]
        assert [u["code"] for u in imported[-1]["updated"]] == ["o2"]
        assert imported[-1]["updated"][0]["after"]["text_th"] == "ข้อมูลผู้บริหารสูงสุด"
        db.session.remove()


# --- natural order --------------------------------------------------------------------------------------


def test_codes_sort_naturally_iit_eit_oit_then_by_number():
    codes = ["o12", "e12", "o2", "e2", "i30", "i3", "o100"]
    assert catalogue.natural(codes) == ["i3", "i30", "e2", "e12", "o2", "o12", "o100"]


def test_the_indicators_page_and_an_items_codes_are_in_natural_order(app, client, admin):
    year = 2628
    in_app(
        app,
        lambda s: _import(
            s,
            year,
            HEADER + "o12,OIT,9,สิบสอง,,,,\ne12,EIT,6,อีสิบสอง,,,,\no2,OIT,9,สอง,,,,\n"
            "e2,EIT,6,อีสอง,,,,\ni3,IIT,4,ไอสาม,,,,\n",
        ),
    )
    page = sign_in(client, admin).get(f"/evidence/indicators?year={year}").get_data(as_text=True)
    places = [page.index(f'id="code-{c}"') for c in ("i3", "e2", "e12", "o2", "o12")]
    assert places == sorted(places), "natural order, whatever the file's order"

    def upload(s):
        item = services.upload_evidence(
            s,
            s.get(User, admin.id),
            FileStore(app.config["EVIDENCE_DIR"]),
            pdf(),
            "x.pdf",
            fiscal_year=year,
            title="เรียงรหัส",
            indicators=["o12", "e12", "o2", "e2"],
            max_bytes=25 * MB,
        )
        return item.indicator_codes

    assert in_app(app, upload) == ["e2", "e12", "o2", "o12"]

    # an admin moves o12 above o2 (audited); the page follows the admin's order
    resp = client.post(f"/evidence/indicators/move?year={year}", data={"code": "o12", "step": "-1"})
    assert resp.status_code == 302
    page = client.get(f"/evidence/indicators?year={year}").get_data(as_text=True)
    assert page.index('id="code-o12"') < page.index('id="code-o2"')
    assert in_app(app, lambda s: _entries(s, "indicator.moved")[-1]["order"]) == ["o12", "o2"]

    # the bundle's folders come in the catalogue's order too
    import zipfile

    from evidence.bundle import archive as bundles

    def folders(s):
        made = bundles.prepare(s, year, engine=db.engine, config=app.config, actor=s.get(User, admin.id))
        with zipfile.ZipFile(io.BytesIO(b"".join(bundles.iter_bundle(made)))) as zf:
            names = [n.split("/")[1] for n in zf.namelist() if n.startswith("evidence/")]
        return list(dict.fromkeys(names))

    assert in_app(app, folders) == ["e2", "e12", "o12", "o2"]


# --- retiring ---------------------------------------------------------------------------------------------


def test_a_retired_code_is_hidden_for_new_evidence_and_old_evidence_still_shows_it(app, client, admin):
    year = 2629
    store = FileStore(app.config["EVIDENCE_DIR"])

    def setup(s):
        _import(s, year, HEADER + "i20,IIT,4,การยืม,,,,\no7,OIT,9,ข้อเก่า,,,,\n")
        return services.upload_evidence(
            s,
            s.get(User, admin.id),
            store,
            pdf(),
            "old.pdf",
            fiscal_year=year,
            title="หลักฐานเดิม",
            indicators=["o7"],
            max_bytes=25 * MB,
        ).id

    old_id = in_app(app, setup)
    sign_in(client, admin)

    assert client.post(f"/evidence/indicators/retire?year={year}", data={"code": "o7"}).status_code == 302

    assert in_app(app, lambda s: _entries(s, "indicator.retired")[-1]["code"]) == "o7"
    upload_page = client.get(f"/evidence/new?year={year}").get_data(as_text=True)
    assert 'value="o7"' not in upload_page and 'value="i20"' in upload_page

    def new_upload(s):
        with pytest.raises(Exception, match="Not an indicator of fiscal year 2629: o7"):
            services.upload_evidence(
                s,
                s.get(User, admin.id),
                store,
                pdf(),
                "new.pdf",
                fiscal_year=year,
                title="ใหม่",
                indicators=["o7"],
                max_bytes=25 * MB,
            )

    in_app(app, new_upload)
    item_page = client.get(f"/evidence/{old_id}").get_data(as_text=True)
    assert ">o7<" in item_page and "ข้อเก่า" in item_page and "retired" in item_page
    with client.get(f"/evidence/{old_id}/file") as resp:
        resp.get_data()
        assert resp.status_code == 200

    def edit_and_bundle(s):
        # the old item keeps its retired code when edited, and the bundle still has it in o7's folder
        from evidence.bundle import archive as bundles

        services.update_evidence(
            s, s.get(User, admin.id), old_id, title="หลักฐานเดิม แก้ชื่อ", description="", indicators=["o7", "i20"]
        )
        return [f.indicators for f in bundles.evidence_files(s, year) if f.evidence_id == old_id]

    assert in_app(app, edit_and_bundle) == [["i20", "o7"]]

    assert client.post(f"/evidence/indicators/restore?year={year}", data={"code": "o7"}).status_code == 302
    assert 'value="o7"' in client.get(f"/evidence/new?year={year}").get_data(as_text=True)


# --- roles: the automatic filings -------------------------------------------------------------------------


def _publish_manual(app, admin, on: datetime):
    from lending.manual.services import publish_manual

    with app.app_context():
        context.set_origin("127.0.0.1", "pytest")
        version = publish_manual(
            db.session, db.session.get(User, admin.id), FileStore(app.config["EVIDENCE_DIR"]), now=on
        )
        number = version.number
        db.session.remove()
    return f"manual:{number}"


def _filed(session, source: str) -> list[tuple[int, list[str], str]]:
    session.rollback()  # a new read: what the other sessions committed
    return [
        (i.fiscal_year, i.indicator_codes, i.role)
        for i in session.execute(
            select(EvidenceItem).where(EvidenceItem.source == source).order_by(EvidenceItem.id)
        ).scalars()
    ]


def test_the_manual_is_filed_under_the_codes_each_years_catalogue_gives_the_borrowing_manual(app, admin, session):
    _import(session, 2620, HEADER + "i20,IIT,4,การยืม,,,,\no7,OIT,9,คู่มือการปฏิบัติงาน,,,borrowing_manual,\n")

    in_2566 = _publish_manual(app, admin, datetime(2023, 1, 10, 3, 0))  # FY2566
    in_2569 = _publish_manual(app, admin, datetime(2026, 1, 10, 3, 0))  # FY2569
    in_2620 = _publish_manual(app, admin, datetime(2077, 1, 10, 3, 0))  # FY2620

    assert _filed(session, in_2566) == [(2566, ["i20", "i23"], "borrowing_manual")]
    assert _filed(session, in_2569) == [(2569, ["i20", "i23"], "borrowing_manual")]
    assert _filed(session, in_2620) == [(2620, ["o7"], "borrowing_manual")]


def _close_round(app, people, year: int, make_asset) -> str:
    from lending.stocktake import services as st

    dept = unique("dept")
    make_asset(department=dept)
    with app.app_context():
        context.set_origin("127.0.0.1", "pytest")
        s = db.session
        rnd = st.open_round(
            s, s.get(User, people["head"].id), fiscal_year=year, committee=[people["member"].id], department=dept
        )
        st.close_round(s, s.get(User, people["head"].id), rnd.id, store=FileStore(app.config["EVIDENCE_DIR"]))
        source = f"stocktake:{rnd.id}"
        db.session.remove()
    return source


@pytest.fixture
def people(make_user):
    return {"admin": make_user(["admin"]), "head": make_user(["head"]), "member": make_user(["staff"])}


def test_the_stocktake_result_follows_the_role_and_an_item_for_the_previous_year(app, people, make_asset, session):
    # FY2623 asks, in o3, for the stock-take of the year before: FY2622's round is filed there
    _import(
        session,
        2623,
        HEADER + "i24,IIT,4,การกำกับดูแล,,,,\no3,OIT,9,ผลการตรวจสอบพัสดุปีที่ผ่านมา,,previous,stocktake_result,1\n",
    )
    assert _filed(session, _close_round(app, people, 2622, make_asset)) == [(2623, ["o3"], "stocktake_result")]
    # a shipped year: i24
    assert _filed(session, _close_round(app, people, 2569, make_asset)) == [(2569, ["i24"], "stocktake_result")]


def test_a_year_without_a_code_for_a_role_files_the_document_waiting_and_the_report_page_says_so(
    app, client, people, make_asset
):
    year = 2625
    in_app(app, lambda s: _import(s, year, HEADER + "i20,IIT,4,การยืม,,,borrowing_manual,\ni24,IIT,4,การกำกับดูแล,,,,\n"))

    source = _close_round(app, people, year, make_asset)

    assert in_app(app, lambda s: _filed(s, source)) == [(year, [], "stocktake_result")]
    filed = [d for d in in_app(app, lambda s: _entries(s, "evidence.filed")) if d["source"] == source]
    assert filed[-1]["waiting"] is True and filed[-1]["role"] == "stocktake_result"
    gaps = in_app(app, lambda s: {g.role: g.waiting for g in measure_services.role_gaps(s, year)})
    assert gaps[catalogue.STOCKTAKE_RESULT] == 1 and catalogue.BORROWING_MANUAL not in gaps
    page = sign_in(client, people["admin"]).get(f"/report?year={year}").get_data(as_text=True)
    assert "No item of the catalogues takes “The stock-take result” for fiscal year 2625" in page
    assert "(1 waiting)" in page

    # the admin gives the role to i24: the waiting document is attached to it, and the notice goes
    in_app(
        app,
        lambda s: measure_services.save_indicator(
            s, s.get(User, people["admin"].id), year, "i24", "IIT", 4, "การกำกับดูแล", roles=[catalogue.STOCKTAKE_RESULT]
        ),
    )
    assert in_app(app, lambda s: _filed(s, source)) == [(year, ["i24"], "stocktake_result")]
    attached = in_app(app, lambda s: _entries(s, "evidence.attached")[-1])
    assert attached["after"]["indicators"] == ["i24"] and attached["role"] == "stocktake_result"
    assert catalogue.STOCKTAKE_RESULT not in in_app(
        app, lambda s: {g.role for g in measure_services.role_gaps(s, year)}
    )
    page = client.get(f"/report?year={year}").get_data(as_text=True)
    assert "takes “The stock-take result”" not in page


# --- the report uses the year's codes, printed in Latin digits --------------------------------------------


def _measure(session, admin, year: int, codes: list[str]) -> str:
    title = unique("มาตรการ ")
    measure_services.save_measure(session, session.get(User, admin.id), year, {"title": title, "indicators": codes})
    return title


def test_a_years_report_names_that_years_codes_and_their_wording(app, admin, session):
    from evidence import report as reports

    def row(year: int, title: str):
        return next(r for r in reports.measure_rows(session, year) if r.title == title)

    in_2566 = _measure(session, admin, 2566, ["o43"])
    in_2569 = _measure(session, admin, 2569, ["o26"])
    wording = "การดำเนินการตามมาตรการส่งเสริมคุณธรรมและความโปร่งใสภายในหน่วยงาน"
    assert row(2566, in_2566).indicators == [("o43", wording)]
    assert row(2569, in_2569).indicators == [("o26", wording)]
    with pytest.raises(Exception, match="Not an indicator of fiscal year 2569: o43"):
        _measure(session, admin, 2569, ["o43"])


def _measure_year(app, admin, year: int) -> None:
    with app.app_context():
        context.set_origin("127.0.0.1", "pytest")
        _import(
            db.session,
            year,
            HEADER + "i20,IIT,4,การยืม,,,,\no36,OIT,10,แผนปฏิบัติการป้องกันการทุจริต,,,,\n"
            "o43,OIT,10,การดำเนินการตามมาตรการ,,,measures_report,\n",
        )
        _measure(db.session, admin, year, ["i20", "o36", "o43"])
        db.session.remove()


def test_codes_keep_latin_digits_in_the_thai_digit_pdf_and_docx(app, admin, tmp_path):
    import docx
    import pypdfium2 as pdfium

    year = 2630
    _measure_year(app, admin, year)
    runner = app.test_cli_runner()
    texts = {}
    for fmt in ("pdf", "docx"):
        out = tmp_path / f"report.{fmt}"
        result = runner.invoke(
            args=["report", "ita", "--year", str(year), "--format", fmt, "--out", str(out), "--thai-digits"]
        )
        assert result.exit_code == 0, result.output
        if fmt == "pdf":
            document = pdfium.PdfDocument(out.read_bytes())
            try:
                texts[fmt] = "\n".join(page.get_textpage().get_text_range() for page in document)
            finally:
                document.close()
        else:
            document = docx.Document(io.BytesIO(out.read_bytes()))
            texts[fmt] = "\n".join(
                [p.text for p in document.paragraphs]
                + [c.text for t in document.tables for r in t.rows for c in r.cells]
            )
    for fmt, content in texts.items():
        assert "๒๖๓๐" in content, f"{fmt}: the year in Thai digits"
        for code in ("i20", "o36", "o43"):
            assert code in content, (fmt, code)
        for thai in ("i๒๐", "o๓๖", "o๔๓"):
            assert thai not in content, (fmt, thai)


def test_thai_digits_leave_latin_codes_alone():
    from core.dates import to_thai_digits

    assert to_thai_digits("ตัวชี้วัด i20 และ o36 ปี 2566 หน้า 1/2") == "ตัวชี้วัด i20 และ o36 ปี ๒๕๖๖ หน้า ๑/๒"


def test_opening_the_indicators_page_of_a_shipped_year_writes_nothing(app, client, admin):
    def count(s):
        return s.execute(select(func.count()).select_from(AuditEntry)).scalar_one()

    sign_in(client, admin)
    before = in_app(app, count)
    page = client.get("/evidence/indicators?year=2569").get_data(as_text=True)
    assert 'id="code-o26"' in page and "to be confirmed" in page
    form = client.get("/evidence/indicators?year=2569&edit=o26").get_data(as_text=True)
    assert "Change indicator o26" in form and 'id="role-measures_report" checked' in form
    assert '<option selected value="previous">' in form or 'value="previous" selected' in form
    assert in_app(app, count) == before


# --- the report, once published, is evidence of the measures-report item ----------------------------------


def _published(app, year: int) -> list[tuple[int, list[str], str, bool]]:
    def read(s):
        return [
            (i.fiscal_year, i.indicator_codes, i.role, bool(i.public_token))
            for i in s.execute(
                select(EvidenceItem)
                .where(EvidenceItem.source == f"report:{year}", EvidenceItem.visibility == "public")
                .order_by(EvidenceItem.id)
            ).scalars()
        ]

    return in_app(app, read)


def test_publishing_a_years_report_files_it_under_the_measures_report_item_that_asks_for_that_year(app, client, admin):
    sign_in(client, admin)
    before = {y: len(_published(app, y)) for y in (2566, 2569)}

    first = client.post("/report/publish?year=2566", follow_redirects=True).get_data(as_text=True)
    assert "The report is published as evidence of o43, fiscal year 2566" in first
    later = client.post("/report/publish?year=2569", follow_redirects=True).get_data(as_text=True)
    assert "The report is published as evidence of o26, fiscal year 2570" in later, "FY2570 asks for FY2569's"

    assert _published(app, 2566)[before[2566] :] == [(2566, ["o43"], "measures_report", True)]
    assert _published(app, 2569)[before[2569] :] == [(2570, ["o26"], "measures_report", True)]
    published = in_app(app, lambda s: _entries(s, "report.published", "2569")[-1])
    assert published["filed_under"] == {"2570": ["o26"]}
    public_page = client.get("/public/evidence/2570").get_data(as_text=True)
    assert "ปีงบประมาณ 2569" in public_page and 'id="indicator-o26"' in public_page


@pytest.fixture
def signed_in_then_csrf(app, client, admin):
    """The admin signed in, then CSRF checked as in production."""
    sign_in(client, admin)
    app.config["WTF_CSRF_ENABLED"] = True
    yield client
    app.config["WTF_CSRF_ENABLED"] = False


def test_the_catalogue_actions_need_the_forms_csrf_token(app, signed_in_then_csrf):
    year, client = 2624, signed_in_then_csrf
    in_app(app, lambda s: _import(s, year, HEADER + "i20,IIT,4,การยืม,,,,\ni21,IIT,4,การขออนุญาต,,,,\n"))

    for path, data in (("retire", {"code": "i20"}), ("move", {"code": "i21", "step": "-1"}), ("start", {})):
        assert client.post(f"/evidence/indicators/{path}?year={year}", data=data).status_code == 400, path
    rows = in_app(app, lambda s: [(i.code, i.retired) for i in measure_queries.indicators_of(s, year)])
    assert rows == [("i20", False), ("i21", False)]

    page = client.get(f"/evidence/indicators?year={year}").get_data(as_text=True)
    from tests.conftest import csrf_token_from

    token = csrf_token_from(page)
    client.post(f"/evidence/indicators/retire?year={year}", data={"code": "i20", "csrf_token": token})
    assert in_app(app, lambda s: [i.code for i in measure_queries.active_indicators(s, year)]) == ["i21"]
