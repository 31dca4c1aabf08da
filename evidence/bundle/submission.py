"""What an office hands in beside the report's figures: the evidence of each measure (its title and public
link, or "internal"), every public link of the year by catalogue item for pasting into the ITA system (CSV
with a BOM and XLSX, in the catalogue's order), and the report's signature block from the settings.

The report (evidence.report) takes the measures' evidence and the signature block from here; the links
export is a page of its own (evidence.bundle.views). Nothing here writes.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select

from core.dates import bangkok_date, format_date
from core.db import Session
from core.documents.exports import safe_cell, xlsx_fit_rows, xlsx_print_setup
from evidence.items.models import PUBLIC, EvidenceIndicator, EvidenceItem
from evidence.measures.catalogue import code_key
from evidence.measures.models import Measure
from evidence.measures.queries import indicators_of

# --- links -----------------------------------------------------------------------------------------


def linker() -> Callable[[str], str]:
    """token → the item's stable public URL, built from BASE_URL (never a request's Host), with or without a
    request (a job, the command line)."""
    from contextlib import nullcontext

    from flask import current_app, has_request_context, url_for

    from core.web.routes import external_url

    ctx = (
        nullcontext()
        if has_request_context()
        else current_app.test_request_context("/", base_url=current_app.config["BASE_URL"])
    )
    with ctx:  # the route's URL once, with a placeholder for the token (urlsafe, so never escaped)
        mark = "TOKEN"
        head, _, tail = external_url(url_for("evidence.public_file", token=mark)).rpartition(mark)
    return lambda token: f"{head}{token}{tail}"


@dataclass(frozen=True)
class EvidenceLink:
    """One evidence item as a report row lists it: its title, codes, and public URL ("" when internal)."""

    id: int
    title: str
    codes: tuple[str, ...]
    url: str = ""

    @property
    def public(self) -> bool:
        return bool(self.url)


def _codes_of(session: Session, ids: Iterable[int]) -> dict[int, tuple[str, ...]]:
    ids = list(ids)
    out: dict[int, list[str]] = defaultdict(list)
    if ids:
        for evidence_id, code in session.execute(
            select(EvidenceIndicator.evidence_id, EvidenceIndicator.code).where(EvidenceIndicator.evidence_id.in_(ids))
        ):
            out[evidence_id].append(code)
    return {k: tuple(sorted(v, key=code_key)) for k, v in out.items()}


def measure_evidence(session: Session, fiscal_year: int, link: Callable[[str], str]) -> dict[int, list[EvidenceLink]]:
    """The evidence attached to each measure of the year, oldest first: published items with their public
    URL, the others internal."""
    rows = session.execute(
        select(
            EvidenceItem.id,
            EvidenceItem.measure_id,
            EvidenceItem.title,
            EvidenceItem.visibility,
            EvidenceItem.public_token,
        )
        .join(Measure, Measure.id == EvidenceItem.measure_id)
        .where(Measure.fiscal_year == fiscal_year)
        .order_by(EvidenceItem.uploaded_at, EvidenceItem.id)
    ).all()
    codes = _codes_of(session, (r.id for r in rows))
    out: dict[int, list[EvidenceLink]] = defaultdict(list)
    for r in rows:
        url = link(r.public_token) if r.visibility == PUBLIC and r.public_token else ""
        out[r.measure_id].append(EvidenceLink(r.id, r.title, codes.get(r.id, ()), url))
    return dict(out)


# --- every public link of the year, by catalogue item ----------------------------------------------------


@dataclass(frozen=True)
class LinkRow:
    """A line of the export: a catalogue item and one public link of it (an OIT item without any has one
    line with neither title nor URL, so the gaps show)."""

    code: str
    instrument: str
    item: str
    title: str = ""
    url: str = ""
    published_on: date | None = None


def public_links(session: Session, fiscal_year: int, link: Callable[[str], str], lang: str = "th") -> list[LinkRow]:
    """Every published item of the year under each catalogue item it supports, in the catalogue's order
    (IIT, EIT, OIT, then the admin's order, else the natural order of codes: o2 before o12). An OIT item
    without a link has a line of its own, since the ITA system asks each for its links; IIT and EIT items
    (questionnaires) appear only where evidence was published for them, retired items only where they
    still hold a link; codes outside the catalogue come last."""
    items = session.execute(
        select(EvidenceIndicator.code, EvidenceItem.title, EvidenceItem.public_token, EvidenceItem.published_at)
        .join(EvidenceItem, EvidenceItem.id == EvidenceIndicator.evidence_id)
        .where(
            EvidenceItem.fiscal_year == fiscal_year,
            EvidenceItem.visibility == PUBLIC,
            EvidenceItem.public_token.is_not(None),
        )
        .order_by(EvidenceItem.published_at, EvidenceItem.id)
    ).all()
    by_code: dict[str, list[Any]] = defaultdict(list)
    for r in items:
        by_code[r.code].append(r)
    out: list[LinkRow] = []
    seen: set[str] = set()
    for ind in indicators_of(session, fiscal_year):
        seen.add(ind.code)
        wording = (ind.text_en or ind.text_th) if lang == "en" else ind.text_th
        published = by_code.get(ind.code, [])
        if not published:
            if not ind.retired and ind.instrument == "OIT":
                out.append(LinkRow(ind.code, ind.instrument, wording))
            continue
        for r in published:
            out.append(
                LinkRow(
                    ind.code,
                    ind.instrument,
                    wording,
                    r.title,
                    link(r.public_token),
                    bangkok_date(r.published_at) if isinstance(r.published_at, datetime) else None,
                )
            )
    for code in sorted(set(by_code) - seen, key=code_key):
        for r in by_code[code]:
            out.append(
                LinkRow(
                    code,
                    "",
                    "",
                    r.title,
                    link(r.public_token),
                    bangkok_date(r.published_at) if isinstance(r.published_at, datetime) else None,
                )
            )
    return out


LINK_WORDS: dict[str, dict[str, Any]] = {
    "th": {
        "columns": ("รหัส", "เครื่องมือ", "ข้อการประเมิน", "หลักฐาน", "ลิงก์ (URL)", "วันที่เผยแพร่"),
        "sheet": "ลิงก์หลักฐาน",
        "title": "ลิงก์หลักฐานที่เผยแพร่ เพื่อกรอกในระบบ ITA ปีงบประมาณ พ.ศ. {year}",
        "none": "ยังไม่มีหลักฐานที่เผยแพร่",
    },
    "en": {
        "columns": ("Code", "Instrument", "Item", "Evidence", "Link (URL)", "Published on"),
        "sheet": "Evidence links",
        "title": "Published evidence links for the ITA system, fiscal year {year} BE",
        "none": "nothing published yet",
    },
}


def links_filename(fiscal_year: int, fmt: str) -> str:
    return f"ita-links-{fiscal_year}.{fmt}"


def _cells(row: LinkRow, lang: str) -> list[Any]:
    words = LINK_WORDS["en" if lang == "en" else "th"]
    return [
        row.code,
        row.instrument,
        row.item,
        row.title or (words["none"] if not row.url else ""),
        row.url,
        format_date(row.published_on, lang) if row.published_on else "",
    ]


def links_csv(rows: list[LinkRow], lang: str = "th") -> bytes:
    """The export as CSV: UTF-8 with a BOM (Excel reads the Thai), one line per link, formulas defused."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(LINK_WORDS["en" if lang == "en" else "th"]["columns"])
    for row in rows:
        writer.writerow([safe_cell(v) for v in _cells(row, lang)])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def links_xlsx(rows: list[LinkRow], fiscal_year: int, agency: str, lang: str = "th") -> bytes:
    """The export as one sheet: the links clickable, the header repeated on every printed page, fitted to
    the width of a landscape A4."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.worksheet.worksheet import Worksheet

    words = LINK_WORDS["en" if lang == "en" else "th"]
    wb = Workbook()
    ws = wb.active
    if not isinstance(ws, Worksheet):  # a new workbook's one sheet is one; what follows would fail otherwise
        raise TypeError("a new workbook without a worksheet")
    ws.title = words["sheet"]
    ws.append([safe_cell(f"{agency} · {words['title'].format(year=fiscal_year)}")])
    ws["A1"].font = Font(bold=True, size=12)
    ws.append([])
    ws.append(list(words["columns"]))
    for cell in ws[3]:
        cell.font, cell.fill = Font(bold=True), PatternFill("solid", fgColor="E8EEF2")
    for row in rows:
        ws.append([safe_cell(v) for v in _cells(row, lang)])
        if row.url:
            cell = ws.cell(row=ws.max_row, column=5)
            cell.hyperlink = row.url
            cell.font = Font(color="0563C1", underline="single")
    for letter, width in zip("ABCDEF", (8, 11, 48, 40, 44, 16), strict=True):
        ws.column_dimensions[letter].width = width
    for cells in ws.iter_rows(min_row=4):
        for cell in cells:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    ws.freeze_panes = "A4"
    xlsx_fit_rows(ws, first_row=3)
    xlsx_print_setup(ws, header_rows="3:3", landscape=True)
    wb.properties.title = words["title"].format(year=fiscal_year)
    wb.properties.creator = "Khruphan"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# --- the signature block ------------------------------------------------------------------------------

# The settings the admin fills in (Settings page): who reports and who certifies the report.
SIGNATURE_SETTINGS = (
    "report_reporter_name",
    "report_reporter_position",
    "report_certifier_name",
    "report_certifier_position",
)
SIGNATURE_ROLES = {"th": ("ผู้รายงาน", "ผู้รับรอง"), "en": ("Reported by", "Certified by")}


@dataclass(frozen=True)
class Signer:
    role: str
    name: str
    position: str


def signers(settings: dict[str, Any], lang: str = "th") -> list[Signer]:
    """ผู้รายงาน and ผู้รับรอง with their names and positions from the settings; a blank name or position
    prints as a line to fill in by hand."""
    roles = SIGNATURE_ROLES["en" if lang == "en" else "th"]
    return [
        Signer(
            roles[0],
            str(settings.get("report_reporter_name") or "").strip(),
            str(settings.get("report_reporter_position") or "").strip(),
        ),
        Signer(
            roles[1],
            str(settings.get("report_certifier_name") or "").strip(),
            str(settings.get("report_certifier_position") or "").strip(),
        ),
    ]
