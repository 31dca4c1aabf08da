"""The report an office submits as it is: the evidence of each measure (title and public link, or internal)
in every format, the signature block from the settings, the closing lines kept together, the print setup
of the XLSX, Sarabun embedded in the DOCX with its page numbers, and the export of the year's public links
by catalogue item. One small year of its own (2693, which no other test uses); the report is built once.

`test_libreoffice_opens_the_report_files_and_they_render_in_sarabun` needs LibreOffice (`soffice`): it is
marked `libreoffice` and skipped when soffice is not installed.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from openpyxl import load_workbook

from core.db import db
from core.documents.docx_fonts import obfuscate
from core.documents.thai import FONT_REGULAR
from core.files import FileStore
from core.people import services as core_services
from core.web import context
from evidence import report as reports
from evidence.bundle import submission
from evidence.items import services
from evidence.items.models import EvidenceItem
from evidence.measures import services as measure_services
from tests.conftest import PASSWORD, sign_in, unique
from tests.integration.test_catalogues import HEADER, _import, pdf

YEAR = 2693  # above every year whose catalogue another test copies from "the latest earlier year"
MB = 1024 * 1024
# in no natural order, on purpose: the export follows the catalogue's (natural) order
CATALOGUE = HEADER + (
    "o12,OIT,9,การเผยแพร่ข้อมูลข่าวสาร สิบสอง,,,,\n"
    "e12,EIT,6,การรับรู้ของผู้รับบริการ สิบสอง,,,,\n"
    "i20,IIT,4,การขออนุญาตยืมทรัพย์สินของราชการ,,,,\n"
    "o43,OIT,10,การดำเนินการตามมาตรการส่งเสริมคุณธรรม,,,measures_report,\n"
    "e2,EIT,6,การรับรู้ของผู้รับบริการ สอง,,,,\n"
    "o2,OIT,9,การเผยแพร่ข้อมูลข่าวสาร สอง,,,,\n"
)
SIGNERS = {
    "report_reporter_name": "นายรายงาน ครบถ้วน",
    "report_reporter_position": "ปลัดองค์การบริหารส่วนตำบล",
    "report_certifier_name": "นายรับรอง ถูกต้อง",
    "report_certifier_position": "นายกองค์การบริหารส่วนตำบล",
}


@pytest.fixture(scope="module")
def year_2693(app):
    """A catalogue of six items; a measure with a published photo and an internal register; published items
    for o12 and o2; the report built once (Thai) with the signers' names."""
    with app.app_context():
        context.set_origin("127.0.0.1", "pytest report submission")
        session = db.session
        admin = core_services.create_user(session, None, unique("a693"), "ผู้ดูแล ส่งรายงาน", {"admin"}, PASSWORD)
        _import(session, YEAR, CATALOGUE)
        store = FileStore(app.config["EVIDENCE_DIR"])
        measure = measure_services.save_measure(
            session,
            admin,
            YEAR,
            {
                "title": "มาตรการการใช้ทรัพย์สินของทางราชการ",
                "indicators": ["i20", "o43"],
                "activities": "ยืมและคืนผ่านระบบ",
                "responsible": "งานพัสดุ",
                "outcome": "ครบถ้วน",
                "figures": ["lending.requests"],
            },
        )

        def upload(title: str, codes: list[str], public: bool, measure_id: int | None = None) -> int:
            item = services.upload_evidence(
                session,
                admin,
                store,
                pdf(),
                f"{unique('f')}.pdf",
                fiscal_year=YEAR,
                title=title,
                indicators=codes,
                max_bytes=25 * MB,
                measure_id=measure_id,
            )
            if public:
                item = services.set_visibility(session, admin, item.id, True)
            return item.id

        ids = {
            "photo": upload("ภาพการส่งมอบพัสดุ", ["i20"], True, measure.id),
            "register": upload("ทะเบียนคุมการยืม", ["i20"], False, measure.id),
            "o12": upload("ประกาศเผยแพร่ข้อมูล", ["o12", "o2"], True),
            "o2": upload("รายงานการเผยแพร่", ["o2"], True),
        }
        built = reports.build(session, YEAR, engine=db.engine, config=app.config, lang="th", chain_intact=lambda: True)
        built.settings = {**built.settings, **SIGNERS}
        tokens = {k: session.get(EvidenceItem, v).public_token for k, v in ids.items()}
        admin_id = admin.id
        db.session.remove()
    links = {k: f"http://kp.test/public/e/{t}" if t else "" for k, t in tokens.items()}
    return {"report": built, "ids": ids, "links": links, "admin_id": admin_id}


def _pages(data: bytes) -> list[str]:
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(data)
    try:
        return [page.get_textpage().get_text_range().replace("\xa0", " ") for page in document]
    finally:
        document.close()


def _squash(text: str) -> str:
    return "".join(text.split())


def _printed(url: str, pages: list[str]) -> bool:
    """Whether a URL is printed on the pages. It wraps in the narrow column, and where it breaks at a "-" or
    "_" of its random token a text extractor reads that character as a hyphenation: it drops it, or gives
    U+0002 in its place. So compare the letters and digits only, in order."""

    def letters(text: str) -> str:
        return re.sub(r"[^A-Za-z0-9]", "", text)

    return letters(url) in letters("".join(pages))


# --- the measure rows and their evidence -------------------------------------------------------------------


def test_each_measure_row_lists_its_evidence_with_its_public_link_or_internal(year_2693):
    built, links = year_2693["report"], year_2693["links"]
    (row,) = built.measures
    assert [(e.title, e.codes, e.url) for e in row.evidence] == [
        ("ภาพการส่งมอบพัสดุ", ("i20",), links["photo"]),
        ("ทะเบียนคุมการยืม", ("i20",), ""),
    ]
    outcome = reports.document_model(built).rows[0][3]
    at = outcome.index("หลักฐาน:")
    assert outcome[at:] == ["หลักฐาน:", "- ภาพการส่งมอบพัสดุ", links["photo"], "- ทะเบียนคุมการยืม (ภายใน ไม่เผยแพร่)"]
    assert isinstance(outcome[at + 2], reports.LinkLine) and outcome[at + 2].url == links["photo"]

    data = json.loads(reports.render_json(built))
    assert data["lending"]["requests"] == 0 and data["fiscal_year"] == YEAR, "the figures stay where they were"
    (measure,) = data["measures"]
    assert [i["code"] for i in measure["indicators"]] == ["i20", "o43"]
    assert measure["figures"] == [{"key": "lending.requests", "value": 0}]
    assert measure["evidence"] == [
        {
            "id": year_2693["ids"]["photo"],
            "title": "ภาพการส่งมอบพัสดุ",
            "codes": ["i20"],
            "url": links["photo"],
            "visibility": "public",
        },
        {
            "id": year_2693["ids"]["register"],
            "title": "ทะเบียนคุมการยืม",
            "codes": ["i20"],
            "url": None,
            "visibility": "internal",
        },
    ]


def test_the_report_page_links_the_evidence_and_offers_the_links_export(client, admin, year_2693):
    page = sign_in(client, admin).get(f"/report?year={YEAR}").get_data(as_text=True)
    link = year_2693["links"]["photo"]
    assert f'<a href="{link}">{link}</a>' in page
    assert "ทะเบียนคุมการยืม (internal, not published)" in page, "the page in the reader's language (English)"
    assert f'href="/report/links?year={YEAR}&amp;format=csv"' in page
    assert f'href="/report/links?year={YEAR}&amp;format=xlsx"' in page


# --- PDF and DOCX: links, the signature block, the closing kept together --------------------------------


def test_the_pdf_prints_the_links_and_ends_with_the_chain_date_and_signatures_on_one_page(year_2693):
    pages = _pages(reports.render_pdf(year_2693["report"]))
    everything = _squash("".join(pages))
    assert _printed(year_2693["links"]["photo"], pages)
    assert _squash("ทะเบียนคุมการยืม (ภายใน ไม่เผยแพร่)") in everything
    last = _squash(pages[-1])
    for words in (
        "ความถูกต้องของบันทึกการตรวจสอบ",
        "จัดทำรายงานเมื่อ",
        "ผู้รายงาน",
        "(นายรายงาน ครบถ้วน)",
        "ตำแหน่งปลัดองค์การบริหารส่วนตำบล",
        "ผู้รับรอง",
        "(นายรับรอง ถูกต้อง)",
    ):
        assert _squash(words) in last, words
    for page in pages[:-1]:
        assert "จัดทำรายงานเมื่อ" not in page and "ผู้รับรอง" not in page


def test_the_docx_embeds_sarabun_numbers_its_pages_and_links_the_evidence(year_2693):
    import docx

    data = reports.render_docx(year_2693["report"])
    archive = zipfile.ZipFile(io.BytesIO(data))
    table = archive.read("word/fontTable.xml").decode()
    assert "<w:embedTrueTypeFonts/>" in archive.read("word/settings.xml").decode()
    assert "odttf" in archive.read("[Content_Types].xml").decode()
    rels = archive.read("word/_rels/fontTable.xml.rels").decode()
    key, rid = re.search(r'<w:embedRegular r:id="([^"]+)" w:fontKey="(\{[0-9A-F-]+\})"', table).group(2, 1)
    target = re.search(rf'Id="{rid}"[^>]*Target="([^"]+)"', rels) or re.search(
        rf'Target="([^"]+)"[^>]*Id="{rid}"', rels
    )
    font = archive.read("word/" + target.group(1))
    assert font != FONT_REGULAR.read_bytes() and obfuscate(font, key) == FONT_REGULAR.read_bytes()
    assert "w:embedBold" in table

    document = docx.Document(io.BytesIO(data))
    footer = document.sections[0].footer._element.xml
    assert re.search(r"<w:instrText[^>]*> PAGE </w:instrText>", footer)
    assert re.search(r"<w:instrText[^>]*> NUMPAGES </w:instrText>", footer)
    assert year_2693["links"]["photo"] in [r.target_ref for r in document.part.rels.values() if r.is_external]
    signatures = document.tables[-1]
    texts = [c.text for c in signatures.rows[0].cells]
    assert "(นายรายงาน ครบถ้วน)" in texts[0] and "ผู้รายงาน" in texts[0]
    assert "(นายรับรอง ถูกต้อง)" in texts[1] and "นายกองค์การบริหารส่วนตำบล" in texts[1]
    assert "w:cantSplit" in signatures.rows[0]._tr.xml
    made = next(p for p in document.paragraphs if p.text.startswith("จัดทำรายงานเมื่อ"))
    assert made.paragraph_format.keep_with_next


# --- XLSX print setup ---------------------------------------------------------------------------------------


def test_every_sheet_of_the_xlsx_prints_fitted_to_the_width_with_its_header_and_no_literal_true(year_2693):
    wb = load_workbook(io.BytesIO(reports.render_xlsx(year_2693["report"])))
    for ws in wb.worksheets:
        assert ws.print_area, ws.title
        assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.page_setup.fitToWidth == 1, ws.title
        assert ws.page_setup.fitToHeight == 0 and int(ws.page_setup.paperSize) == 9, ws.title  # A4
        assert ws.print_title_rows == "$1:$3", ws.title
        values = [c.value for row in ws.iter_rows() for c in row]
        assert not any(v is True or v is False or v in ("true", "false", "True", "False") for v in values), ws.title
    audit = wb["บันทึกตรวจสอบ"]
    chain = [r[1] for r in audit.iter_rows(min_row=4, values_only=True) if r[2] == "audit.chain_intact"]
    assert chain == ["ถูกต้องครบถ้วน"]
    measures = wb["มาตรการ"]
    assert measures.page_setup.orientation == "landscape"
    evidence = measures.cell(row=4, column=8).value
    assert year_2693["links"]["photo"] in evidence and "ทะเบียนคุมการยืม (ภายใน ไม่เผยแพร่)" in evidence


# --- the export of public links --------------------------------------------------------------------------


def test_the_links_export_lists_every_public_link_by_catalogue_item_in_natural_order(client, admin, year_2693):
    sign_in(client, admin)
    links = year_2693["links"]
    resp = client.get(f"/report/links?year={YEAR}&format=csv&lang=th")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert f"ita-links-{YEAR}.csv" in resp.headers["Content-Disposition"]
    raw = resp.get_data()
    assert raw.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == ["รหัส", "เครื่องมือ", "ข้อการประเมิน", "หลักฐาน", "ลิงก์ (URL)", "วันที่เผยแพร่"]
    body = [(r[0], r[3], r[4]) for r in rows[1:]]
    none = "ยังไม่มีหลักฐานที่เผยแพร่"
    assert body == [
        ("i20", "ภาพการส่งมอบพัสดุ", links["photo"]),
        ("o2", "ประกาศเผยแพร่ข้อมูล", links["o12"]),
        ("o2", "รายงานการเผยแพร่", links["o2"]),
        ("o12", "ประกาศเผยแพร่ข้อมูล", links["o12"]),
        ("o43", none, ""),
    ], "internal items never; an OIT item without links still has its line"
    assert all(r[5] for r in rows[1:] if r[4]), "each link with its B.E. publication date"

    resp = client.get(f"/report/links?year={YEAR}&format=xlsx&lang=th")
    assert resp.status_code == 200 and f"ita-links-{YEAR}.xlsx" in resp.headers["Content-Disposition"]
    ws = load_workbook(io.BytesIO(resp.get_data())).active
    assert [(r[0], r[4] or "") for r in ws.iter_rows(min_row=4, values_only=True)] == [(c, u) for c, _t, u in body]
    assert ws.cell(row=4, column=5).hyperlink.target == links["photo"]
    assert ws.print_title_rows == "$3:$3" and ws.page_setup.fitToWidth == 1 and ws.print_area
    english = client.get(f"/report/links?year={YEAR}&format=csv&lang=en").get_data().decode("utf-8-sig")
    assert english.startswith("Code,Instrument,Item,Evidence,Link (URL),Published on")
    assert client.get(f"/report/links?year={YEAR}&format=pdf").status_code == 404


def test_a_published_report_is_a_link_of_the_measures_report_item_in_the_export(app, client, admin):
    year = 2694
    with app.app_context():
        context.set_origin("127.0.0.1", "pytest")
        _import(db.session, year, HEADER + "i20,IIT,4,การยืม,,,,\no9,OIT,10,รายงานผลตามมาตรการ,,,measures_report,\n")
        db.session.remove()
    sign_in(client, admin)
    assert client.post(f"/report/publish?year={year}").status_code == 302
    rows = list(
        csv.reader(
            io.StringIO(client.get(f"/report/links?year={year}&format=csv&lang=th").get_data().decode("utf-8-sig"))
        )
    )[1:]
    assert [(r[0], r[3][:28]) for r in rows] == [("o9", "รายงานผลการดำเนินการตามมาตรก")], "i20: no link, no line"
    assert rows[0][4].startswith("http://kp.test/public/e/")
    published = client.get(rows[0][4].removeprefix("http://kp.test"))
    assert published.status_code == 200 and published.get_data().startswith(b"%PDF")
    published.close()


# --- the signature block in the settings --------------------------------------------------------------


def test_the_admin_sets_who_reports_and_who_certifies_and_the_report_takes_them(app, client, admin):
    with app.app_context():
        before = {k: v for k, v in core_services.get_settings(db.session).items() if k in SIGNERS}
        db.session.remove()
    try:
        sign_in(client, admin)
        page = client.get("/admin/settings").get_data(as_text=True)
        for name in SIGNERS:
            assert f'name="{name}"' in page, name
        with app.app_context():
            form = {
                k: ("y" if v is True else v)
                for k, v in core_services.get_settings(db.session).items()
                if v is not False
            }
            db.session.remove()
        resp = client.post("/admin/settings", data={**form, **SIGNERS})
        assert resp.status_code == 302
        with app.app_context():
            settings = core_services.get_settings(db.session)
            db.session.remove()
        assert submission.signers(settings) == [
            submission.Signer("ผู้รายงาน", "นายรายงาน ครบถ้วน", "ปลัดองค์การบริหารส่วนตำบล"),
            submission.Signer("ผู้รับรอง", "นายรับรอง ถูกต้อง", "นายกองค์การบริหารส่วนตำบล"),
        ]
        assert "นายรายงาน ครบถ้วน" in client.get("/admin/settings").get_data(as_text=True)
    finally:
        with app.app_context():
            core_services.update_settings(db.session, None, before)
            db.session.remove()


# --- LibreOffice -------------------------------------------------------------------------------------


def _fontconfig_with_sarabun(directory) -> dict[str, str]:
    """The environment for soffice: a profile of its own, and fontconfig seeing Sarabun's folder besides the
    system's fonts (an XLSX names fonts without carrying them; a CI machine may have no Thai font)."""
    conf = directory / "fonts.conf"
    conf.write_text(
        '<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd"><fontconfig>'
        '<include ignore_missing="yes">/etc/fonts/fonts.conf</include>'
        f"<dir>{FONT_REGULAR.parent}</dir><cachedir>{directory / 'fc-cache'}</cachedir></fontconfig>",
        encoding="utf-8",
    )
    return {**os.environ, "FONTCONFIG_FILE": str(conf), "HOME": str(directory)}


@pytest.mark.libreoffice
def test_libreoffice_opens_the_report_files_and_they_render_in_sarabun(year_2693, tmp_path):
    """soffice converts the DOCX and the XLSX to PDF without error: the DOCX in its embedded Sarabun (no Thai
    font needs to be installed), the XLSX in Sarabun found by fontconfig, on a few pages (it was 15 before its
    print setup). The report's own PDF goes through LibreOffice too where Draw (its PDF import) is installed;
    without it, pdfium opens and draws it."""
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        pytest.skip("LibreOffice is not installed (apt-get install libreoffice-writer-nogui libreoffice-calc-nogui)")
    import pypdfium2 as pdfium

    built = year_2693["report"]
    formats = ["docx", "xlsx"]
    if (Path(soffice).resolve().parent / "libsdlo.so").exists():  # libreoffice-draw: it opens a PDF
        formats.append("pdf")
    env = _fontconfig_with_sarabun(tmp_path)
    texts, pages = {}, {}
    for fmt in formats:
        source = tmp_path / fmt / f"report.{fmt}"
        source.parent.mkdir()
        source.write_bytes(reports.render(built, fmt)[0])
        target = tmp_path / "out" / fmt
        run = subprocess.run(
            [
                soffice,
                f"-env:UserInstallation=file://{tmp_path / 'profile'}",
                "--headless",
                "--norestore",
                "--convert-to",
                "pdf",
                "--outdir",
                str(target),
                str(source),
            ],
            capture_output=True,
            text=True,
            timeout=240,
            env=env,
            check=False,
        )
        assert run.returncode == 0 and (target / "report.pdf").exists(), (fmt, run.stdout, run.stderr)
        data = (target / "report.pdf").read_bytes()
        assert b"Sarabun" in data, f"{fmt}: drawn in Sarabun"
        texts[fmt] = _pages(data)
        pages[fmt] = len(texts[fmt])
    docx_pages = texts["docx"]
    assert "รายงานผลการดำเนินการเพื่อส่งเสริมคุณธรรม" in _squash(docx_pages[0])
    assert _printed(year_2693["links"]["photo"], docx_pages)
    assert "(นายรับรองถูกต้อง)" in _squash(docx_pages[-1]) and f"1/{len(docx_pages)}" in _squash(docx_pages[0])
    assert pages["xlsx"] <= 8, "six sheets, each on the width of a page"
    assert "ครุภัณฑ์" in "".join(texts["xlsx"])
    ours = reports.render_pdf(built)
    if "pdf" in pages:
        assert pages["pdf"] == len(_pages(ours))
    document = pdfium.PdfDocument(ours)
    try:
        image = document[0].render(scale=0.5).to_pil()
        assert image.width > 200 and image.getextrema() != ((255, 255),) * 3
    finally:
        document.close()
