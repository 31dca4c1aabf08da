"""The report in every format, for a year with data (fiscal year 2557, which no other test uses; every item
goes out and comes back inside that year, so nothing leaks into another year's figures)."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import date

import pytest

from audit import record
from core.dates import to_thai_digits
from core.db import begin_write, db
from core.people import services as core_services
from core.web import context
from evidence.measures import services as measure_services
from lending.loans.models import GOOD, REJECTED, RETURNED, Loan, LoanItem
from tests.conftest import PASSWORD, login, unique
from tests.integration.test_report_figures import _asset, bkk
from tests.jobs import follow_job

YEAR = 2557  # 2013-10-01 … 2014-09-30


@pytest.fixture(scope="module")
def fy2557(app):
    """Four loans (three returned on time, one late), one rejected; two measures with figures in their
    rows."""
    with app.app_context():
        context.set_origin("127.0.0.1", "pytest report formats")
        session = db.session
        admin = core_services.create_user(session, None, unique("a557"), "ผู้ดูแล รายงาน", {"admin"}, PASSWORD)
        officer = core_services.create_user(
            session, None, unique("o557"), "เจ้าหน้าที่ รายงาน", {"supply_officer"}, PASSWORD
        )
        borrower = core_services.create_user(session, None, unique("b557"), "ผู้ยืม รายงาน", {"staff"}, PASSWORD)
        begin_write(session)
        for n, (month, late) in enumerate(((11, 0), (1, 0), (3, 0), (6, 3))):
            asset = _asset(session, name="เก้าอี้พลาสติก สีน้ำเงิน")
            year = 2013 if month >= 10 else 2014
            loan = Loan(
                ref=unique(f"R557-{n}-"),
                borrower_id=borrower.id,
                purpose="ประชุม",
                place="อบต.",
                start_on=date(year, month, 2),
                due_on=date(year, month, 5),
                status=RETURNED,
                requested_at=bkk(year, month, 1),
                decided_at=bkk(year, month, 1, 15),
                decided_by_id=officer.id,
                checked_out_at=bkk(year, month, 2, 9),
                returned_at=bkk(year, month, 5 + late, 16),
            )
            loan.items = [
                LoanItem(
                    asset_id=asset.id,
                    value=asset.price,
                    condition=GOOD,
                    returned_at=bkk(year, month, 5 + late, 16),
                )
            ]
            session.add(loan)
        session.add(
            Loan(
                ref=unique("R557-rej-"),
                borrower_id=borrower.id,
                purpose="ส่วนตัว",
                place="บ้าน",
                start_on=date(2014, 2, 2),
                due_on=date(2014, 2, 4),
                status=REJECTED,
                requested_at=bkk(2014, 2, 1),
                decided_at=bkk(2014, 2, 3),
                decided_by_id=officer.id,
                items=[LoanItem(asset_id=_asset(session).id)],
            )
        )
        record(session, None, "test.report_formats_loans", ("test", "fy2557"), {})
        session.commit()
        measure_services.ensure_indicators(session, admin, YEAR)
        measure_services.save_measure(
            session,
            admin,
            YEAR,
            {
                "title": "มาตรการการใช้ทรัพย์สินของทางราชการ",
                "indicators": ["i20", "i21"],
                "activities": "จัดทำคู่มือการยืมพัสดุ\nยืมและคืนผ่านระบบทุกครั้ง",
                "responsible": "สำนักปลัด งานพัสดุ",
                "outcome": "เจ้าหน้าที่ขออนุญาตยืมอย่างถูกต้อง",
                "figures": [
                    "lending.requests",
                    "lending.on_time_return_rate",
                    "lending.median_days_to_decision",
                ],
            },
        )
        measure_services.save_measure(
            session,
            admin,
            YEAR,
            {
                "title": "มาตรการป้องกันการทุจริต",
                "indicators": ["o36"],
                "activities": "เผยแพร่แผน",
                "responsible": "หน่วยตรวจสอบภายใน",
                "outcome": "เผยแพร่ครบ",
                "figures": ["audit.chain_intact"],
            },
        )
        settings = core_services.get_settings(session)
        officer_name = officer.username
        db.session.remove()
    return {"agency": settings["agency_name"], "officer": officer_name}


def _render(app, fmt: str, tmp_path, *extra: str) -> bytes:
    out = tmp_path / f"report.{fmt}"
    result = app.test_cli_runner().invoke(
        args=["report", "ita", "--year", str(YEAR), "--format", fmt, "--out", str(out), *extra]
    )
    assert result.exit_code == 0, result.output
    return out.read_bytes()


def _figures(app) -> dict:
    result = app.test_cli_runner().invoke(args=["report", "ita", "--year", str(YEAR), "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_the_year_has_the_figures_the_documents_show(app, fy2557):
    lending = _figures(app)["lending"]
    assert (lending["requests"], lending["approved"], lending["rejected"]) == (5, 4, 1)
    assert (lending["items_returned"], lending["items_returned_on_time"], lending["on_time_return_rate"]) == (
        4,
        3,
        75.0,
    )
    assert lending["median_days_to_decision"] == 0.0  # 0, 0, 0, 0 (same day) and 2 (the rejection)


def _pdf_text(data: bytes) -> tuple[str, list[tuple[float, float]]]:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(data)
    try:
        texts, sizes = [], []
        for page in pdf:
            sizes.append(page.get_size())
            texts.append(page.get_textpage().get_text_range())
        return "\n".join(texts), sizes
    finally:
        pdf.close()


def test_the_pdf_is_a4_in_thai_with_the_agency_and_the_figures(app, fy2557, tmp_path):
    data = _render(app, "pdf", tmp_path, "--thai-digits")
    assert data.startswith(b"%PDF-")
    text, sizes = _pdf_text(data)
    assert all(abs(w - 595.28) < 1 and abs(h - 841.89) < 1 for w, h in sizes)
    flat = "".join(text.split())  # lines wrap anywhere in Thai: compare without white space

    def has(phrase: str) -> bool:
        return "".join(phrase.split()) in flat

    assert has(fy2557["agency"])
    assert has("รายงานผลการดำเนินการเพื่อส่งเสริมคุณธรรมและความโปร่งใสภายในหน่วยงาน")
    assert has(f"ประจำปีงบประมาณ พ.ศ. {to_thai_digits(str(YEAR))}")
    assert has("ร้อยละการคืนตรงเวลา ๗๕.๐")  # the figure written into its measure's row
    assert has("คำขอยืมพัสดุ ๕")
    assert has("ผู้รับผิดชอบ") and has("ผลลัพธ์ / ความสำเร็จของการดำเนินการ")
    assert has("ภาคผนวก") and has("ต.ค.")  # the appendix, the charts' months
    assert has(_figures(app)["audit"]["head_hash"])


def test_arabic_digits_and_english_on_request(app, fy2557, tmp_path):
    text, _sizes = _pdf_text(_render(app, "pdf", tmp_path, "--arabic-digits"))
    assert "ร้อยละการคืนตรงเวลา75.0" in "".join(text.split())
    text, _sizes = _pdf_text(_render(app, "pdf", tmp_path, "--lang", "en"))
    flat = "".join(text.split())
    assert "On-timereturnrate75.0%" in flat and f"Fiscalyear{YEAR}BE" in flat


def test_the_docx_has_the_four_column_table_and_thai_complex_script_fonts(app, fy2557, tmp_path):
    import docx
    from docx.oxml.ns import qn

    data = _render(app, "docx", tmp_path, "--thai-digits")
    document = docx.Document(io.BytesIO(data))
    table = document.tables[0]
    assert len(table.columns) == 4
    assert [c.text for c in table.rows[0].cells] == [
        "มาตรการ / กิจกรรมที่ดำเนินการส่งเสริมคุณธรรมและความโปร่งใสภายในหน่วยงาน",
        "สรุปผลการดำเนินการตามมาตรการ / กิจกรรม",
        "ผู้รับผิดชอบ",
        "ผลลัพธ์ / ความสำเร็จของการดำเนินการ",
    ]
    assert table.rows[0]._tr.trPr.find(qn("w:tblHeader")) is not None  # repeats on each page
    assert len(table.rows) == 3  # the header and two measures
    first = table.rows[1].cells
    assert first[0].text.startswith("๑. มาตรการการใช้ทรัพย์สินของทางราชการ") and "i20" in first[0].text
    assert "i๒๐" not in first[0].text, "an ITA code keeps its Latin digits in a Thai-digit document"
    assert "ร้อยละการคืนตรงเวลา ๗๕.๐" in first[3].text
    runs = [r for p in document.paragraphs for r in p.runs] + [
        r for row in table.rows for cell in row.cells for p in cell.paragraphs for r in p.runs
    ]
    assert runs
    for run in runs:
        rpr = run._element.rPr
        fonts = rpr.find(qn("w:rFonts"))
        assert fonts.get(qn("w:cs")) == "Sarabun" and fonts.get(qn("w:ascii")) == "Sarabun"
        assert rpr.find(qn("w:szCs")) is not None
    assert fy2557["agency"] in "\n".join(p.text for p in document.paragraphs)
    section = document.sections[0]
    assert abs(section.page_width.mm - 210) < 0.5 and abs(section.page_height.mm - 297) < 0.5
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert sum(n.startswith("word/media/") and n.endswith(".png") for n in z.namelist()) == 2  # the charts
        styles = z.read("word/styles.xml").decode("utf-8")
    assert "minorHAnsi" not in styles.split("</w:docDefaults>")[0]  # no theme font over Sarabun


def test_the_xlsx_has_one_sheet_per_section_with_the_same_numbers(app, fy2557, tmp_path):
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(_render(app, "xlsx", tmp_path)))
    assert book.sheetnames == ["การยืม", "ครุภัณฑ์", "บันทึกตรวจสอบ", "หลักฐาน", "ผู้ยืมภายนอก", "มาตรการ", "รายเดือน"]
    figures = _figures(app)
    lending = {row[2]: row[1] for row in book["การยืม"].iter_rows(min_row=4, values_only=True)}
    assert lending["lending.requests"] == 5 and lending["lending.on_time_return_rate"] == 75.0
    assert lending["lending.median_days_to_decision"] == 0.0
    assert book["การยืม"]["A3"].value == "รายการ"  # Thai headers
    audit = {row[2]: row[1] for row in book["บันทึกตรวจสอบ"].iter_rows(min_row=4, values_only=True)}
    assert audit["audit.head_hash"] == figures["audit"]["head_hash"]
    months = list(book["รายเดือน"].iter_rows(min_row=4, values_only=True))
    assert len(months) == 12 and months[0][0] == "ตุลาคม 2556" and sum(m[1] for m in months) == 5
    measures = list(book["มาตรการ"].iter_rows(min_row=4, values_only=True))
    assert measures[0][1] == "มาตรการการใช้ทรัพย์สินของทางราชการ" and "75.0" in measures[0][6]


def test_the_csv_has_a_bom_and_every_figure(app, fy2557, tmp_path):
    data = _render(app, "csv", tmp_path)
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == ["key", "value"]
    values = dict(rows[1:])
    figures = _figures(app)
    assert values["fiscal_year"] == str(YEAR) and values["period.start"] == "2013-10-01"
    for section in ("lending", "assets", "audit"):
        for key, value in figures[section].items():
            expected = "" if value is None else ("true" if value is True else "false" if value is False else str(value))
            assert values[f"{section}.{key}"] == expected, key
    assert values["evidence.items"] == str(figures["evidence"]["items"])


def test_the_html_file_stands_alone(app, fy2557, tmp_path):
    html = _render(app, "html", tmp_path).decode("utf-8")
    assert html.startswith("<!doctype html>") and "<script" not in html
    assert "@font-face{font-family:'Sarabun'" in html  # the font travels with the file
    assert html.count("<svg") == 2 and fy2557["agency"] in html
    assert 'data-key="lending.on_time_return_rate"' in html


def test_the_report_page_downloads_and_dashboard(app, fy2557, client):
    assert login(client, fy2557["officer"]).status_code == 302
    page = client.get(f"/report?year={YEAR}")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "ร้อยละการคืนตรงเวลา 75.0" in body and body.count('class="kp-chart"') == 2
    for fmt, magic in (
        ("pdf", b"%PDF-"),
        ("docx", b"PK"),
        ("xlsx", b"PK"),
        ("csv", b"\xef\xbb\xbf"),
        ("json", b"{"),
        ("html", b"<!doctype"),
    ):
        resp = follow_job(app, client, client.post(f"/report/download?year={YEAR}&format={fmt}"))
        assert resp.status_code == 200, fmt
        assert resp.data.startswith(magic), fmt
        assert f"ita-report-{YEAR}.{fmt}" in resp.headers["Content-Disposition"]
    json_file = follow_job(app, client, client.post(f"/report/download?year={YEAR}&format=json"))
    assert json.loads(json_file.data)["lending"]["requests"] == 5
    assert client.get(f"/report/download?year={YEAR}&format=exe").status_code == 404
    assert client.post(f"/report/download?year={YEAR}&format=exe").status_code == 404
    assert client.get("/report?year=abc").status_code == 404
    dash = client.get(f"/dashboard?year={YEAR}")
    assert dash.status_code == 200
    html = dash.get_data(as_text=True)
    assert 'data-key="lending.on_time_return_rate"' in html and "75.0" in html and html.count('class="kp-chart"') == 2


def test_the_page_is_refused_to_staff(app, fy2557, make_user, login_as):
    client = login_as(make_user(roles=["staff"]))
    assert client.get(f"/report?year={YEAR}").status_code == 403
    assert client.get(f"/dashboard?year={YEAR}").status_code == 403
    assert client.post(f"/report/bundle?year={YEAR}").status_code == 403


def test_a_year_still_running_stops_its_series_at_this_month_and_labels_year_end_figures_to_date(app, fy2557):
    """Made on 15 March 2557 (B.E.), FY2557 is still running: no month after March has values, and the
    figures "at the end of the fiscal year" are labelled as at that day, in every format."""
    from datetime import UTC, datetime

    from openpyxl import load_workbook

    from evidence import report as reports

    made = datetime(2014, 3, 15, 5, 0, tzinfo=UTC)  # noon in Bangkok
    with app.app_context():
        built = reports.build(
            db.session, YEAR, engine=db.engine, config=app.config, now=made, chain_intact=lambda: True
        )
        data = {fmt: reports.render(built, fmt)[0] for fmt in reports.FORMATS if fmt != "html"}
        html = reports.render_html(built)
        db.session.remove()
    assert built.figures["period"]["as_of"] == "2014-03-15"
    assert [m.to_come for m in built.months] == [False] * 6 + [True] * 6
    assert all(m.overdue is None and m.requests is None for m in built.months[6:])
    book = load_workbook(io.BytesIO(data["xlsx"]))
    months = list(book["รายเดือน"].iter_rows(min_row=4, values_only=True))
    assert [m[0] for m in months][-1] == "มีนาคม 2557" and len(months) == 6
    labels = {row[2]: row[0] for row in book["การยืม"].iter_rows(min_row=4, values_only=True)}
    assert labels["lending.items_out_at_year_end"].startswith("รายการที่อยู่ระหว่างยืม ณ วันที่ 15 มีนาคม 2557")
    assert "สิ้นปีงบประมาณ" not in labels["lending.items_overdue_at_year_end"]
    assert to_thai_digits("ณ วันที่ 15 มีนาคม 2557") in html and "ต.ค." in html  # the agency prints Thai digits
    assert json.loads(data["json"])["period"]["as_of"] == "2014-03-15"
    assert data["pdf"].startswith(b"%PDF") and data["docx"].startswith(b"PK")
    # the overdue chart's line and its points stop at March: six points, no seventh month
    chart = reports.overdue_chart(built)
    assert sum(1 for item in chart.items if item[0] == "circle") == 6
