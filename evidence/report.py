"""The annual ITA report in every format: JSON, HTML (page and file), PDF, DOCX, XLSX and CSV.

The figures are computed once, by evidence.figures.compute (reference/report-metrics.md); everything here
only lays them out. A report is built in three steps:

    report = build(session, 2566, engine=db.engine, config=app.config)   # figures, months, measures
    data, mime, filename = render(report, "pdf")                          # one format

Each document (HTML, PDF, DOCX) is made from the same `DocumentModel`: the title, the four-column table
of the sample report (measure with its indicators / what was done / responsible / outcome, with the
measure's chosen figures written into its outcome cell), the two charts, the figures appendix and the
audit chain's head. The charts are one list of drawing primitives (`Chart`), drawn as inline SVG in HTML,
as vector graphics in the PDF and as a PNG (Pillow with Raqm, so Thai is shaped) in the DOCX.

Document text is in `WORDS` and `FIGURE_LABELS`, Thai and English side by side; the Thai document may use
Thai digits (the agency's setting `thai_digits_in_documents`, or the caller's choice) for the numbers it
generates — never inside hashes, and never in the JSON, XLSX or CSV, which carry plain numbers.
"""

from __future__ import annotations

import base64
import csv
import functools
import io
import json
import math
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import date as Date  # for annotations in Formatter, whose date() hides the class
from typing import Any

from sqlalchemy import and_, func, or_, select

from audit.integrity.checkpoints import configured_fingerprint, log_path
from audit.integrity.runner import verify_in_background
from core.dates import (
    EN_MONTHS_SHORT,
    THAI_MONTHS,
    THAI_MONTHS_SHORT,
    bangkok_date,
    bangkok_midnight_utc,
    fiscal_year_bounds,
    format_date,
    format_datetime,
    to_thai_digits,
)
from core.db import Session, utcnow
from core.documents.exports import safe_cell, xlsx_fit_rows, xlsx_print_setup
from core.people.services import get_settings
from evidence import figures as fig
from evidence import submission
from evidence.models import Indicator, Measure
from evidence.submission import EvidenceLink, Signer
from lending.loans import DAMAGED, GOOD, Loan, LoanItem

FORMATS = ("json", "html", "pdf", "docx", "xlsx", "csv")
MIME = {
    "json": "application/json",
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}
SECTIONS = ("lending", "assets", "audit", "evidence", "eservice")

# --- words ---------------------------------------------------------------------------------------

WORDS: dict[str, dict[str, str]] = {
    "th": {
        "title": "รายงานผลการดำเนินการเพื่อส่งเสริมคุณธรรมและความโปร่งใสภายในหน่วยงาน",
        "year_line": "ประจำปีงบประมาณ พ.ศ. {year}",
        "intro": "{agency} ได้ดำเนินการตามมาตรการส่งเสริมคุณธรรมและความโปร่งใสภายในหน่วยงาน "
        "ประจำปีงบประมาณ พ.ศ. {year} (ตั้งแต่วันที่ {start} ถึงวันที่ {end}) ดังนี้ "
        "ตัวเลขทุกตัวในรายงานนี้คำนวณจากบันทึกในระบบ ณ วันที่จัดทำรายงาน",
        "measures": "มาตรการและผลการดำเนินการ",
        "col_measure": "มาตรการ / กิจกรรมที่ดำเนินการส่งเสริมคุณธรรมและความโปร่งใสภายในหน่วยงาน",
        "col_done": "สรุปผลการดำเนินการตามมาตรการ / กิจกรรม",
        "col_responsible": "ผู้รับผิดชอบ",
        "col_outcome": "ผลลัพธ์ / ความสำเร็จของการดำเนินการ",
        "no_measures": "ยังไม่ได้กำหนดมาตรการของปีงบประมาณนี้",
        "figures_in_row": "ผลจากระบบ:",
        "charts": "แผนภูมิ",
        "chart_activity": "คำขอยืมและการรับคืนพัสดุรายเดือน ปีงบประมาณ พ.ศ. {year}",
        "chart_overdue": "รายการค้างคืนเกินกำหนด ณ สิ้นเดือน ปีงบประมาณ พ.ศ. {year}",
        "requests": "คำขอยืม",
        "returns": "รายการที่ได้รับคืน",
        "overdue": "รายการค้างคืนเกินกำหนด",
        "month": "เดือน",
        "appendix": "ภาคผนวก ตัวเลขประกอบรายงาน",
        "item": "รายการ",
        "value": "ค่า",
        "key": "รหัส",
        "sec_requests": "คำขอยืมพัสดุ",
        "sec_returns": "การส่งมอบและการรับคืน",
        "sec_overdue": "การค้างคืนและการทวงถาม",
        "sec_other": "ทะเบียนครุภัณฑ์ หลักฐาน และบันทึกการตรวจสอบ",
        "sec_period": "ปีงบประมาณ",
        "sec_lending": "การยืมและคืนพัสดุ",
        "sec_assets": "ทะเบียนครุภัณฑ์",
        "sec_audit": "บันทึกการตรวจสอบ (audit log)",
        "sec_evidence": "หลักฐาน",
        "sec_eservice": "การให้ยืมแก่บุคคลภายนอกและบริการออนไลน์",
        "sec_measures": "มาตรการ",
        "sec_monthly": "รายเดือน",
        "period_start": "วันเริ่มปีงบประมาณ",
        "period_end": "วันสิ้นปีงบประมาณ",
        "fiscal_year": "ปีงบประมาณ (พ.ศ.)",
        "indicator": "ตัวชี้วัด {code}",
        "chain": "ความถูกต้องของบันทึกการตรวจสอบ",
        "chain_text": "บันทึกการตรวจสอบ (audit log) ของระบบเชื่อมโยงกันด้วยค่าแฮช รายการล่าสุด ณ เวลาที่จัดทำรายงาน "
        "คือลำดับที่ {seq} ค่าแฮช {hash} ผลการตรวจสอบทั้งสาย: {verdict} "
        "หากมีการแก้ไขประวัติย้อนหลัง ค่านี้จะไม่ตรงกับที่เผยแพร่ไว้",
        "fingerprint": "จุดตรวจสอบของบันทึกลงลายมือชื่อด้วยกุญแจที่มีลายนิ้วมือ (fingerprint) {fp} "
        "โปรดตรวจเทียบกับสำเนาที่ได้รับจากผู้ดูแลระบบเป็นกระดาษ",
        "intact": "ถูกต้องครบถ้วน",
        "broken": "พบความผิดปกติ",
        "made": "จัดทำรายงานเมื่อ {date}",
        "none": "–",
        "yes": "ใช่",
        "no": "ไม่ใช่",
        "district": "อำเภอ",
        "province": "จังหวัด",
        "measure_no": "ลำดับ",
        "measure_title": "มาตรการ",
        "indicators": "ตัวชี้วัด",
        "figure_keys": "ตัวเลขในแถว",
        "sheet_lending": "การยืม",
        "sheet_assets": "ครุภัณฑ์",
        "sheet_audit": "บันทึกตรวจสอบ",
        "sheet_evidence": "หลักฐาน",
        "sheet_eservice": "ผู้ยืมภายนอก",
        "sheet_measures": "มาตรการ",
        "sheet_monthly": "รายเดือน",
        "footer": "{agency} · รายงาน ITA ปีงบประมาณ {year}",
        "evidence_in_row": "หลักฐาน:",
        "internal": "ภายใน ไม่เผยแพร่",
        "evidence_col": "หลักฐาน (ลิงก์)",
        "page": "หน้า",
        "sign": "ลงชื่อ",
        "position": "ตำแหน่ง",
    },
    "en": {
        "title": "Report on the measures to promote integrity and transparency within the agency",
        "year_line": "Fiscal year {year} BE",
        "intro": "{agency} carried out its measures to promote integrity and transparency in fiscal year "
        "{year} BE ({start} to {end}) as follows. Every figure in this report is computed from the "
        "records in the system on the day the report was made.",
        "measures": "Measures and what was done",
        "col_measure": "Measure / activity to promote integrity and transparency",
        "col_done": "What was done",
        "col_responsible": "Responsible",
        "col_outcome": "Outcome",
        "no_measures": "No measures have been set for this fiscal year yet.",
        "figures_in_row": "From the records:",
        "charts": "Charts",
        "chart_activity": "Borrowing requests and returns per month, fiscal year {year} BE",
        "chart_overdue": "Items overdue at each month end, fiscal year {year} BE",
        "requests": "Requests",
        "returns": "Items returned",
        "overdue": "Items overdue",
        "month": "Month",
        "appendix": "Appendix: the figures",
        "item": "Figure",
        "value": "Value",
        "key": "Key",
        "sec_requests": "Borrowing requests",
        "sec_returns": "Hand-overs and returns",
        "sec_overdue": "Overdue items and demands",
        "sec_other": "Assets, evidence and the audit log",
        "sec_period": "Fiscal year",
        "sec_lending": "Borrowing and returns",
        "sec_assets": "Asset register",
        "sec_audit": "Audit log",
        "sec_evidence": "Evidence",
        "sec_eservice": "Lending to outsiders and the e-service",
        "sec_measures": "Measures",
        "sec_monthly": "Monthly",
        "period_start": "First day of the fiscal year",
        "period_end": "Last day of the fiscal year",
        "fiscal_year": "Fiscal year (BE)",
        "indicator": "Indicator {code}",
        "chain": "Integrity of the audit log",
        "chain_text": "The system's audit log is a hash chain. When this report was made its last entry was "
        "number {seq} with hash {hash}. Verification of the whole chain: {verdict}. "
        "If history is rewritten later, it no longer matches this published head.",
        "fingerprint": "Checkpoints of the log are signed with the key whose fingerprint is {fp}; compare "
        "it with the copy received on paper from the administrator.",
        "intact": "intact",
        "broken": "a problem was found",
        "made": "Report made on {date}",
        "none": "–",
        "yes": "yes",
        "no": "no",
        "district": "District",
        "province": "Province",
        "measure_no": "No.",
        "measure_title": "Measure",
        "indicators": "Indicators",
        "figure_keys": "Figures in the row",
        "sheet_lending": "Lending",
        "sheet_assets": "Assets",
        "sheet_audit": "Audit",
        "sheet_evidence": "Evidence",
        "sheet_eservice": "Outside borrowers",
        "sheet_measures": "Measures",
        "sheet_monthly": "Monthly",
        "footer": "{agency} · ITA report, fiscal year {year} BE",
        "evidence_in_row": "Evidence:",
        "internal": "internal, not published",
        "evidence_col": "Evidence (links)",
        "page": "Page",
        "sign": "Signed",
        "position": "Position",
    },
}

# Each figure's label and unit, per language: "ร้อยละการคืนตรงเวลา 92.3", "คำขอยืม 120 คำขอ".
FIGURE_LABELS: dict[str, dict[str, tuple[str, str]]] = {
    "th": {
        "lending.requests": ("คำขอยืมพัสดุ", "คำขอ"),
        "lending.approved": ("คำขอที่ได้รับอนุมัติ", "คำขอ"),
        "lending.rejected": ("คำขอที่ไม่อนุมัติ", "คำขอ"),
        "lending.cancelled": ("คำขอที่ยกเลิก", "คำขอ"),
        "lending.pending": ("คำขอที่รอพิจารณา", "คำขอ"),
        "lending.median_days_to_decision": ("ระยะเวลาพิจารณาคำขอ (มัธยฐาน)", "วัน"),
        "lending.loans_checked_out": ("การส่งมอบพัสดุให้ผู้ยืม", "ครั้ง"),
        "lending.items_checked_out": ("รายการพัสดุที่ส่งมอบ", "รายการ"),
        "lending.items_returned": ("รายการที่ได้รับคืน", "รายการ"),
        "lending.items_returned_on_time": ("รายการที่คืนภายในกำหนด", "รายการ"),
        "lending.items_returned_late": ("รายการที่คืนเกินกำหนด", "รายการ"),
        "lending.on_time_return_rate": ("ร้อยละการคืนตรงเวลา", ""),
        "lending.items_damaged": ("รายการที่ได้รับคืนในสภาพชำรุด", "รายการ"),
        "lending.items_lost": ("รายการที่สูญหาย", "รายการ"),
        "lending.items_out_at_year_end": ("รายการที่อยู่ระหว่างยืม ณ สิ้นปีงบประมาณ", "รายการ"),
        "lending.items_overdue_at_year_end": ("รายการที่ค้างคืนเกินกำหนด ณ สิ้นปีงบประมาณ", "รายการ"),
        "lending.overdue_items": ("รายการที่ไม่ได้คืนภายในวันครบกำหนด", "รายการ"),
        "lending.overdue_items_demanded_within_7_days": ("ทวงถามภายใน 7 วันนับจากวันครบกำหนด", "รายการ"),
        "lending.overdue_items_demanded_late": ("ทวงถามเมื่อเกิน 7 วันนับจากวันครบกำหนด", "รายการ"),
        "lending.overdue_items_not_demanded": ("ยังไม่ได้ทวงถาม", "รายการ"),
        "assets.total": ("ครุภัณฑ์ในทะเบียน ณ สิ้นปีงบประมาณ", "รายการ"),
        "assets.lendable": ("ครุภัณฑ์ที่ให้ยืมได้", "รายการ"),
        "assets.checked_in_stocktake": ("ครุภัณฑ์ที่ตรวจนับในการตรวจสอบพัสดุประจำปี", "รายการ"),
        "assets.not_found_in_stocktake": ("ครุภัณฑ์ที่ตรวจไม่พบ", "รายการ"),
        "audit.entries_in_year": ("รายการในบันทึกการตรวจสอบระหว่างปี", "รายการ"),
        "audit.chain_intact": ("ผลการตรวจสอบความถูกต้องของบันทึกทั้งสาย", ""),
        "audit.head_seq": ("ลำดับของรายการล่าสุดในบันทึก", ""),
        "audit.head_hash": ("ค่าแฮชของรายการล่าสุด", ""),
        "evidence.items": ("หลักฐานของปีงบประมาณ", "รายการ"),
        "evidence.public_items": ("หลักฐานที่เผยแพร่ต่อสาธารณะ", "รายการ"),
        "eservice.requests_staff": ("คำขอยืมของเจ้าหน้าที่", "คำขอ"),
        "eservice.requests_eservice": ("คำขอยืมทางบริการออนไลน์ (e-service)", "คำขอ"),
        "eservice.requests_counter": ("คำขอยืมของบุคคลภายนอกที่ยื่น ณ สำนักงาน", "คำขอ"),
        "eservice.requests_agency": ("คำขอยืมของหน่วยงานอื่น", "คำขอ"),
        "eservice.outside_requests": ("คำขอยืมของบุคคลภายนอกทั้งหมด", "คำขอ"),
        "eservice.outside_approved": ("คำขอของบุคคลภายนอกที่ได้รับอนุมัติ", "คำขอ"),
        "eservice.outside_rejected": ("คำขอของบุคคลภายนอกที่ไม่อนุมัติ", "คำขอ"),
        "eservice.outside_median_days_to_decision": ("ระยะเวลาพิจารณาคำขอของบุคคลภายนอก (มัธยฐาน)", "วัน"),
        "eservice.loans_by_count": ("การส่งมอบพัสดุที่ยืมตามจำนวน", "ครั้ง"),
        "eservice.items_lent_by_count": ("พัสดุที่ให้ยืมตามจำนวน", "ชิ้น"),
        "eservice.outside_items_returned": ("พัสดุที่บุคคลภายนอกส่งคืน", "ชิ้น"),
        "eservice.outside_items_returned_on_time": ("พัสดุที่บุคคลภายนอกคืนภายในกำหนด", "ชิ้น"),
        "eservice.outside_on_time_return_rate": ("ร้อยละการคืนตรงเวลาของบุคคลภายนอก", ""),
        "eservice.survey_answers": ("ผู้ตอบแบบสอบถามความพึงพอใจ", "ราย"),
        "eservice.survey_average": ("คะแนนความพึงพอใจเฉลี่ย (เต็ม 5)", ""),
    },
    "en": {
        "lending.requests": ("Borrowing requests", ""),
        "lending.approved": ("Requests approved", ""),
        "lending.rejected": ("Requests rejected", ""),
        "lending.cancelled": ("Requests cancelled", ""),
        "lending.pending": ("Requests waiting for a decision", ""),
        "lending.median_days_to_decision": ("Median time to a decision", "days"),
        "lending.loans_checked_out": ("Loans handed over", ""),
        "lending.items_checked_out": ("Items handed over", ""),
        "lending.items_returned": ("Items returned", ""),
        "lending.items_returned_on_time": ("Items returned on time", ""),
        "lending.items_returned_late": ("Items returned late", ""),
        "lending.on_time_return_rate": ("On-time return rate", "%"),
        "lending.items_damaged": ("Items returned damaged", ""),
        "lending.items_lost": ("Items lost", ""),
        "lending.items_out_at_year_end": ("Items out at the end of the year", ""),
        "lending.items_overdue_at_year_end": ("Items overdue at the end of the year", ""),
        "lending.overdue_items": ("Items not back by their due date", ""),
        "lending.overdue_items_demanded_within_7_days": ("Demanded within 7 days of the due date", ""),
        "lending.overdue_items_demanded_late": ("Demanded more than 7 days after the due date", ""),
        "lending.overdue_items_not_demanded": ("Not demanded", ""),
        "assets.total": ("Assets on the register at the end of the year", ""),
        "assets.lendable": ("Assets that may be lent", ""),
        "assets.checked_in_stocktake": ("Assets checked in the annual stock-take", ""),
        "assets.not_found_in_stocktake": ("Assets not found in the stock-take", ""),
        "audit.entries_in_year": ("Audit log entries in the year", ""),
        "audit.chain_intact": ("Verification of the whole audit chain", ""),
        "audit.head_seq": ("Sequence number of the last entry", ""),
        "audit.head_hash": ("Hash of the last entry", ""),
        "evidence.items": ("Evidence items of the year", ""),
        "evidence.public_items": ("Evidence items published", ""),
        "eservice.requests_staff": ("Requests by staff", ""),
        "eservice.requests_eservice": ("Requests on the public e-service", ""),
        "eservice.requests_counter": ("Requests of outsiders at the counter", ""),
        "eservice.requests_agency": ("Requests of other agencies", ""),
        "eservice.outside_requests": ("Requests of outside borrowers", ""),
        "eservice.outside_approved": ("Outside requests approved", ""),
        "eservice.outside_rejected": ("Outside requests rejected", ""),
        "eservice.outside_median_days_to_decision": ("Median time to decide an outside request", "days"),
        "eservice.loans_by_count": ("Loans by count handed over", ""),
        "eservice.items_lent_by_count": ("Items lent by count", ""),
        "eservice.outside_items_returned": ("Items returned by outside borrowers", ""),
        "eservice.outside_items_returned_on_time": ("Items outside borrowers returned on time", ""),
        "eservice.outside_on_time_return_rate": ("Outside borrowers' on-time return rate", "%"),
        "eservice.survey_answers": ("Satisfaction survey answers", ""),
        "eservice.survey_average": ("Average satisfaction (out of 5)", ""),
    },
}

# The figures "at the end of the fiscal year": for a year still running they are counted as at the day the
# report is made (figures.compute's period.as_of) and labelled with that day instead ("{date}" is a B.E.
# date).
TO_DATE_LABELS: dict[str, dict[str, str]] = {
    "th": {
        "lending.items_out_at_year_end": "รายการที่อยู่ระหว่างยืม ณ วันที่ {date} (ถึงปัจจุบัน)",
        "lending.items_overdue_at_year_end": "รายการที่ค้างคืนเกินกำหนด ณ วันที่ {date} (ถึงปัจจุบัน)",
        "assets.total": "ครุภัณฑ์ในทะเบียน ณ วันที่ {date} (ถึงปัจจุบัน)",
    },
    "en": {
        "lending.items_out_at_year_end": "Items out as at {date} (to date)",
        "lending.items_overdue_at_year_end": "Items overdue as at {date} (to date)",
        "assets.total": "Assets on the register as at {date} (to date)",
    },
}

SECTION_KEYS: dict[str, tuple[str, ...]] = {
    section: tuple(k.partition(".")[2] for k in FIGURE_LABELS["th"] if k.startswith(section + "."))
    for section in SECTIONS
}


def _lang(lang: str | None) -> str:
    return "en" if lang == "en" else "th"


def figure_label(key: str, lang: str = "th", figures: dict[str, Any] | None = None) -> str:
    """A figure's label; given the report's figures of a year still running, the figures "at the end of the
    year" are labelled as at the day they were counted ("to date")."""
    if key.startswith("evidence.by_indicator."):
        return WORDS[_lang(lang)]["indicator"].format(code=key.rsplit(".", 1)[1])
    as_of = ((figures or {}).get("period") or {}).get("as_of")
    if as_of and key in TO_DATE_LABELS[_lang(lang)]:
        day = date.fromisoformat(as_of)
        shown = format_date(day, "en") if _lang(lang) == "en" else format_date(day, "th", long=True)
        return TO_DATE_LABELS[_lang(lang)][key].format(date=shown)
    return FIGURE_LABELS[_lang(lang)].get(key, (key, ""))[0]


# --- the report object -----------------------------------------------------------------------------


@dataclass
class Month:
    """One month of the series. A month still to come has no values (None); the current month's are to
    date, its overdue count as at the end of today."""

    first: date
    requests: int | None = 0
    returns: int | None = 0
    overdue: int | None = 0  # items out past their due date at the end of the month (or of today)

    @property
    def to_come(self) -> bool:
        return self.requests is None

    @property
    def last(self) -> date:
        return _next_month(self.first) - timedelta(days=1)


@dataclass
class MeasureRow:
    number: int
    title: str
    indicators: list[tuple[str, str]]  # (code, Thai or English text of the year's catalogue)
    activities: str
    responsible: str
    outcome: str
    figures: list[str]  # keys
    # the evidence attached to the measure: title, codes, public URL or "" (internal); evidence.submission
    evidence: list[EvidenceLink] = field(default_factory=list)


@dataclass
class Report:
    figures: dict[str, Any]
    months: list[Month]
    measures: list[MeasureRow]
    settings: dict[str, Any]
    made_at: datetime
    lang: str = "th"
    thai_digits: bool = False
    key_fingerprint: str = ""  # of the checkpoint signing key, printed beside the chain's head

    @property
    def fiscal_year(self) -> int:
        return int(self.figures["fiscal_year"])


def _next_month(day: date) -> date:
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1)


def chain_check(engine: Any, config: Any) -> Callable[[], bool]:
    """`chain_intact` for figures.compute: the whole chain verified now, against every checkpoint.

    The verification starts at once, in a process of its own on a long chain, and runs while the figures
    are computed; `chain_intact` waits for its answer."""
    result = verify_in_background(
        engine,
        log=log_path(config),
        key_path=config.get("AUDIT_SIGNING_KEY") or None,
        mac_path=config.get("AUDIT_MAC_KEY") or None,
    )
    return lambda: bool(result().ok)


def monthly_series(session: Session, fiscal_year: int, today: date | None = None) -> list[Month]:
    """Per month of the fiscal year (October first): loans requested, items that came back (inspected good
    or damaged) and items out past their due date at the month's end — with figures.py's date rules: a
    timestamp counts on its Bangkok date; "out at the end of day D" is handed over before the next Bangkok
    midnight and neither back nor lost by it; overdue is a due date earlier than D.

    The series stops at the current month (`today`, the Bangkok date now by default): a month still to come
    has no values, and the current month's overdue count is as at the end of today, since its own end has
    not happened yet.

    The database groups the rows by Bangkok month ('YYYY-MM'); only the groups come back."""
    start, end = fiscal_year_bounds(fiscal_year)
    today = today or bangkok_date(utcnow())
    months = [Month(start)]
    while len(months) < 12:
        months.append(Month(_next_month(months[-1].first)))
    keys = [f"{m.first:%Y-%m}" for m in months]
    lo, hi = bangkok_midnight_utc(start), bangkok_midnight_utc(end + timedelta(days=1))

    def index(key: str | None) -> int:
        """The month's place in the year: -1 before it, 12 after it (or never)."""
        if key is None or key > keys[-1]:
            return 12
        return -1 if key < keys[0] else keys.index(key)

    def grouped(query: Any) -> Sequence[Any]:
        """(each column of the query's rows, how many rows) — grouped on a subquery, so that PostgreSQL
        sees the same expression in SELECT and GROUP BY."""
        rows = query.subquery()
        return session.execute(select(*rows.c, func.count()).group_by(*rows.c)).all()

    def month(at: Any, name: str) -> Any:
        return fig.sql_bangkok_month(session, at).label(name)

    for key, n in grouped(
        select(month(Loan.requested_at, "requested")).where(Loan.requested_at >= lo, Loan.requested_at < hi)
    ):
        months[index(key)].requests = n
    for key, n in grouped(
        select(month(LoanItem.returned_at, "back")).where(
            LoanItem.returned_at >= lo, LoanItem.returned_at < hi, LoanItem.condition.in_((GOOD, DAMAGED))
        )
    ):
        months[index(key)].returns = n

    # Out past due at a month's end: only items not back by the end of their due day can be, so the query
    # takes those, grouped by due date, month handed over and month back; each group counts from the first
    # month-end after both its due date and its hand-over, up to the last month-end before it came back.
    ends = [min(m.last, today) for m in months]
    overdue = [0] * 13
    for due, handed, back, n in grouped(
        select(Loan.due_on.label("due"), month(Loan.checked_out_at, "handed"), month(LoanItem.returned_at, "back"))
        .select_from(LoanItem)
        .join(Loan, Loan.id == LoanItem.loan_id)
        .where(
            Loan.checked_out_at.is_not(None),
            Loan.checked_out_at < hi,
            fig.sql_scan(session, Loan.due_on) < end,
            or_(
                fig.still_out(),
                and_(
                    LoanItem.returned_at >= bangkok_midnight_utc(months[1].first),
                    fig.sql_after_day(session, LoanItem.returned_at, Loan.due_on),
                ),
            ),
        )
    ):
        first = max(bisect_right(ends, due), index(handed))
        last = index(back) - 1  # 11 when still out or back after the year
        if first <= last:
            overdue[first] += n
            overdue[last + 1] -= n
    running = 0
    for i, m in enumerate(months):
        running += overdue[i]
        m.overdue = running
        if m.first > today:  # still to come: nothing has happened in it
            m.requests = m.returns = m.overdue = None
        elif m.first <= today < m.last:  # the current month: out past due at the end of today
            m.overdue = _overdue_at(session, today)
    return months


def _overdue_at(session: Session, day: date) -> int:
    """Items handed over by the end of `day`, neither back nor lost by then, and due before `day`."""
    cut = bangkok_midnight_utc(day + timedelta(days=1))
    return session.execute(
        select(func.count())
        .select_from(LoanItem)
        .join(Loan, Loan.id == LoanItem.loan_id)
        .where(
            Loan.checked_out_at.is_not(None),
            Loan.checked_out_at < cut,
            Loan.due_on < day,
            or_(fig.still_out(), LoanItem.returned_at >= cut),
        )
    ).scalar_one()


def measure_rows(
    session: Session, fiscal_year: int, lang: str = "th", link: Callable[[str], str] | None = None
) -> list[MeasureRow]:
    """The year's measures in their order, with the catalogue's wording of their codes and their evidence
    (`link(token)` makes a published item's URL; BASE_URL's by default)."""
    texts = {
        i.code: (i.text_en or i.text_th) if lang == "en" else i.text_th
        for i in session.execute(select(Indicator).where(Indicator.fiscal_year == fiscal_year)).scalars()
    }
    rows = list(
        session.execute(
            select(Measure).where(Measure.fiscal_year == fiscal_year).order_by(Measure.position, Measure.id)
        ).scalars()
    )
    evidence = submission.measure_evidence(session, fiscal_year, link or submission.linker()) if rows else {}
    return [
        MeasureRow(
            number=n,
            title=m.title,
            indicators=[(c, texts.get(c, "")) for c in m.indicators or []],
            activities=m.activities or "",
            responsible=m.responsible or "",
            outcome=m.outcome or "",
            figures=[k for k in m.figures or [] if k in fig.FIGURE_KEYS],
            evidence=evidence.get(m.id, []),
        )
        for n, m in enumerate(rows, 1)
    ]


def build(
    session: Session,
    fiscal_year: int,
    *,
    engine: Any,
    config: Any,
    lang: str = "th",
    thai_digits: bool | None = None,
    now: datetime | None = None,
    chain_intact: Callable[[], bool] | None = None,
) -> Report:
    """Compute the year's figures (once), its monthly series and its measure rows."""
    settings = get_settings(session)
    lang = _lang(lang)
    if thai_digits is None:
        thai_digits = bool(settings.get("thai_digits_in_documents"))
    from lending.stocktake import stocktake_figures

    # The chain's verification starts first and runs beside everything else; its answer is asked for
    # last (figures.compute asks for it after every other figure).
    check = chain_intact or chain_check(engine, config)
    made_at = now or utcnow()
    today = bangkok_date(made_at)
    months = monthly_series(session, int(fiscal_year), today)
    measures = measure_rows(session, int(fiscal_year), lang)
    figures = fig.compute(session, int(fiscal_year), chain_intact=check, stocktake=stocktake_figures, today=today)
    session.rollback()  # end the read transaction
    return Report(
        figures=figures,
        months=months,
        measures=measures,
        settings=settings,
        made_at=made_at,
        lang=lang,
        thai_digits=bool(thai_digits) and lang == "th",
        key_fingerprint=configured_fingerprint(config),
    )


# --- formatting ------------------------------------------------------------------------------------


class Formatter:
    """Numbers and dates of one document: its language and digits."""

    def __init__(self, report: Report, thai_digits: bool | None = None, glue: Callable[[str], str] | None = None):
        """`glue(text)` keeps a unit ("รายการ") in one piece where a line may break (the PDF's wrapper)."""
        self.report = report
        self.glue = glue
        self.lang = report.lang
        self.thai = report.thai_digits if thai_digits is None else bool(thai_digits) and self.lang == "th"
        self.words = WORDS[self.lang]

    def digits(self, text: Any) -> str:
        s = "" if text is None else str(text)
        return to_thai_digits(s) if self.thai else s

    def number(self, value: Any, places: int | None = None) -> str:
        if value is None:
            return self.words["none"]
        if isinstance(value, bool):
            return self.words["yes"] if value else self.words["no"]
        if isinstance(value, float):
            if places is not None:
                text = f"{value:,.{places}f}"
            else:
                text = f"{value:,.2f}".rstrip("0").rstrip(".")
        elif isinstance(value, int):
            text = f"{value:,}"
        else:
            return str(value)
        return self.digits(text)

    def value(self, key: str) -> str:
        """A figure as the documents print it, with its unit: "92.3", "1.5 วัน", "12 รายการ"."""
        value = fig.figure_value(self.report.figures, key)
        if key == "audit.chain_intact":
            return self.words["intact"] if value else self.words["broken"]
        if key == "audit.head_hash":
            return str(value)
        if key in ("lending.on_time_return_rate", "eservice.outside_on_time_return_rate"):
            text = self.number(value, 1)
        else:
            text = self.number(value)
        return self.with_unit(text, FIGURE_LABELS[self.lang].get(key, ("", ""))[1] if value is not None else "")

    def with_unit(self, text: str, unit: str) -> str:
        if not unit:
            return text
        if unit == "%":
            return text + unit
        if unit == "days" and text == "1":
            unit = "day"
        return f"{text}\u00a0{self.glue(unit) if self.glue else unit}"

    def label(self, key: str) -> str:
        """A figure's label; its own digits ("7 วัน") follow the document's."""
        return self.digits(figure_label(key, self.lang, self.report.figures))

    def line(self, key: str) -> str:
        """ "label value" for a measure's row."""
        return f"{self.label(key)} {self.value(key)}"

    def date(self, value: date | datetime, long: bool = True) -> str:
        if self.lang == "en":
            return format_date(value, "en")
        return format_date(value, "th", long=long, thai_digits=self.thai)

    def datetime(self, value: datetime) -> str:
        return format_datetime(value, self.lang, thai_digits=self.thai)

    def month(self, first: Date, with_year: bool = False) -> str:
        if self.lang == "en":
            label = EN_MONTHS_SHORT[first.month - 1]
            return f"{label} {first.year + 543}" if with_year else label
        label = THAI_MONTHS_SHORT[first.month - 1]
        return self.digits(f"{label} {(first.year + 543) % 100:02d}") if with_year else label

    def month_long(self, first: Date) -> str:
        if self.lang == "en":
            return f"{EN_MONTHS_SHORT[first.month - 1]} {first.year + 543}"
        return self.digits(f"{THAI_MONTHS[first.month - 1]} {first.year + 543}")


def agency_line(settings: dict[str, Any], lang: str = "th") -> str:
    """ "องค์การบริหารส่วนตำบล… อำเภอ… จังหวัด…" (the words added when the settings lack them)."""
    words = WORDS[_lang(lang)]
    parts = [str(settings.get("agency_name") or "").strip()]
    for key, prefixes in (
        ("district", ("อำเภอ", "เขต", "District")),
        ("province", ("จังหวัด", "กรุงเทพ", "Province")),
    ):
        value = str(settings.get(key) or "").strip()
        if not value:
            continue
        if lang == "th" and not value.startswith(prefixes):
            value = words[key] + value
        parts.append(value)
    return " ".join(p for p in parts if p)


# --- the document model ----------------------------------------------------------------------------


@dataclass
class AppendixSection:
    title: str
    rows: list[tuple[str, str, str]]  # (key, label, value)


@dataclass
class DocumentModel:
    lang: str
    thai_digits: bool
    title: list[str]
    intro: str
    measures_heading: str
    headers: list[str]
    rows: list[list[list[str]]]  # row → four cells → paragraphs
    empty_note: str
    charts_heading: str
    charts: list[tuple[str, Chart]]
    appendix_heading: str
    appendix_columns: tuple[str, str]
    appendix: list[AppendixSection]
    chain_heading: str
    chain_text: str
    chain_ok: bool
    head_seq: str
    head_hash: str
    made: str
    footer: str
    agency: str
    signers: list[Signer] = field(default_factory=list)  # ผู้รายงาน / ผู้รับรอง, from the settings
    page_word: str = ""
    sign_words: tuple[str, str] = ("", "")  # "ลงชื่อ", "ตำแหน่ง"


class LinkLine(str):
    """A paragraph of a measure's row that is an evidence item's public URL: printed as text, made a link
    on the page and in the DOCX."""

    url: str

    def __new__(cls, url: str) -> LinkLine:
        line = super().__new__(cls, url)
        line.url = url
        return line


def evidence_lines(m: MeasureRow, words: dict[str, str]) -> list[str]:
    """The evidence paragraphs of a measure's outcome cell: "- title" and its URL on a line of its own (a
    link is pasted whole), or "- title (internal, not published)"."""
    if not m.evidence:
        return []
    out = [words["evidence_in_row"]]
    for e in m.evidence:
        if e.url:
            out += [f"- {e.title}", LinkLine(e.url)]
        else:
            out.append(f"- {e.title} ({words['internal']})")
    return out


def _paragraphs(text: str) -> list[str]:
    return [p.strip() for p in (text or "").replace("\r\n", "\n").split("\n") if p.strip()]


def document_model(
    report: Report, thai_digits: bool | None = None, glue: Callable[[str], str] | None = None
) -> DocumentModel:
    f = Formatter(report, thai_digits, glue)
    w, lang, year = f.words, f.lang, report.fiscal_year
    start, end = fiscal_year_bounds(year)
    agency = agency_line(report.settings, lang)
    year_text = f.digits(year)
    rows: list[list[list[str]]] = []
    for m in report.measures:
        first = [f"{f.digits(m.number)}. {m.title}"]
        first += [f"{f.digits(code)} {text}".strip() for code, text in m.indicators]
        outcome = _paragraphs(m.outcome)
        if m.figures:
            outcome += [w["figures_in_row"]] + [f"- {f.line(k)}" for k in m.figures]
        outcome += evidence_lines(m, w)
        rows.append([first, _paragraphs(m.activities), _paragraphs(m.responsible), outcome])
    appendix = [
        AppendixSection(
            w["sec_period"],
            [
                ("fiscal_year", w["fiscal_year"], f.digits(year)),
                ("period.start", w["period_start"], f.date(start)),
                ("period.end", w["period_end"], f.date(end)),
            ],
        )
    ]
    for section in SECTIONS:
        keys = [f"{section}.{name}" for name in SECTION_KEYS[section]]
        sec_rows = [(k, f.label(k), f.value(k)) for k in keys]
        if section == "evidence":
            unit = FIGURE_LABELS[lang]["evidence.items"][1]
            for code, count in (report.figures["evidence"].get("by_indicator") or {}).items():
                key = f"evidence.by_indicator.{code}"
                sec_rows.append((key, f.label(key), f.with_unit(f.number(count), unit)))
        appendix.append(AppendixSection(w[f"sec_{section}"], sec_rows))
    audit = report.figures["audit"]
    ok = bool(audit["chain_intact"])
    charts = [
        (w["chart_activity"].format(year=year_text), activity_chart(report, f)),
        (w["chart_overdue"].format(year=year_text), overdue_chart(report, f)),
    ]
    return DocumentModel(
        lang=lang,
        thai_digits=f.thai,
        title=[w["title"], w["year_line"].format(year=year_text), agency],
        intro=w["intro"].format(
            agency=report.settings.get("agency_name") or "",
            year=year_text,
            start=f.date(start),
            end=f.date(end),
        ),
        measures_heading=w["measures"],
        headers=[w["col_measure"], w["col_done"], w["col_responsible"], w["col_outcome"]],
        rows=rows,
        empty_note=w["no_measures"],
        charts_heading=w["charts"],
        charts=charts,
        appendix_heading=w["appendix"],
        appendix_columns=(w["item"], w["value"]),
        appendix=appendix,
        chain_heading=w["chain"],
        chain_text=w["chain_text"].format(
            seq=f.number(audit["head_seq"]),
            hash=audit["head_hash"],
            verdict=w["intact"] if ok else w["broken"],
        )
        + (" " + w["fingerprint"].format(fp=report.key_fingerprint) if report.key_fingerprint else ""),
        chain_ok=ok,
        head_seq=f.number(audit["head_seq"]),
        head_hash=audit["head_hash"],
        made=w["made"].format(date=f.date(report.made_at)),
        footer=w["footer"].format(
            agency=report.settings.get("agency_short") or report.settings.get("agency_name") or "",
            year=year_text,
        ),
        agency=agency,
        signers=submission.signers(report.settings, lang),
        page_word=w["page"],
        sign_words=(w["sign"], w["position"]),
    )


# --- charts ----------------------------------------------------------------------------------------

PT = 25.4 / 72  # mm per point: chart units are millimetres
COLORS = {
    "requests": (31, 111, 139),
    "returns": (224, 142, 11),
    "overdue": (192, 57, 43),
    "axis": (90, 90, 90),
    "grid": (215, 215, 215),
    "text": (40, 40, 40),
}


@dataclass
class Chart:
    """Drawing primitives in millimetres, y downwards; text y is the baseline, sizes are points."""

    width: float
    height: float
    items: list[tuple] = field(default_factory=list)
    label: str = ""  # a text alternative (aria-label)

    def rect(self, x, y, w, h, color):
        self.items.append(("rect", x, y, w, h, color))

    def line(self, x1, y1, x2, y2, color, width=0.2):
        self.items.append(("line", x1, y1, x2, y2, color, width))

    def polyline(self, points, color, width=0.6):
        self.items.append(("polyline", list(points), color, width))

    def circle(self, cx, cy, r, color):
        self.items.append(("circle", cx, cy, r, color))

    def text(self, x, y, text, size, anchor="start", color=COLORS["text"]):
        self.items.append(("text", x, y, text, size, anchor, color))


def _nice_top(value: int) -> tuple[int, int]:
    """An axis top and step: at most five gridlines at round numbers."""
    if value <= 0:
        return 4, 1
    raw = value / 4
    power = 10 ** int(math.floor(math.log10(raw))) if raw >= 1 else 1
    step = next(s * power for s in (1, 2, 5, 10) if s * power >= raw)
    step = max(1, int(step))
    return int(math.ceil(value / step) * step), step


def _frame(
    f: Formatter, series: Sequence[tuple[str, str, Sequence[int | None]]], width: float, height: float, label: str
) -> tuple[Chart, Callable[[int], float], list[float], float, float]:
    chart = Chart(width, height, label=label)
    left, right, top, bottom = 14.0, 3.0, 10.0, 9.0
    plot_w, plot_h = width - left - right, height - top - bottom
    ymax, step = _nice_top(max((v for _, _, vals in series for v in vals if v is not None), default=0))

    def y_of(v: int) -> float:
        return top + plot_h - plot_h * v / ymax

    for tick in range(0, ymax + 1, step):
        y = y_of(tick)
        chart.line(left, y, left + plot_w, y, COLORS["grid"] if tick else COLORS["axis"], 0.15 if tick else 0.3)
        chart.text(left - 1.5, y + 1.1, f.number(tick), 8, "end")
    chart.line(left, top, left, top + plot_h, COLORS["axis"], 0.3)
    slot = plot_w / 12
    xs = [left + slot * (i + 0.5) for i in range(12)]
    for i, m in enumerate(f.report.months):
        chart.text(xs[i], top + plot_h + 4.6, f.month(m.first), 8, "middle")
    # the legend, top left
    x = left
    for key, name, _vals in series:
        chart.rect(x, 2.2, 3.2, 3.2, COLORS[key])
        chart.text(x + 4.4, 5.2, name, 9)
        x += 4.4 + len(name) * (1.45 if f.lang == "th" else 1.6) + 6
    return chart, y_of, xs, slot, top + plot_h


def activity_chart(report: Report, f: Formatter | None = None, width: float = 160.0, height: float = 62.0) -> Chart:
    """Requests and returns per month, as grouped bars with their numbers on top."""
    f = f or Formatter(report)
    w = f.words
    series = [
        ("requests", w["requests"], [m.requests for m in report.months]),
        ("returns", w["returns"], [m.returns for m in report.months]),
    ]
    label = "; ".join(
        f"{f.month(m.first)}: {w['requests']} {m.requests}, {w['returns']} {m.returns}"
        for m in report.months
        if not m.to_come
    )
    chart, y_of, xs, slot, base = _frame(f, series, width, height, label)
    bar = slot * 0.34
    for i in range(12):
        for k, (key, _name, vals) in enumerate(series):
            v = vals[i]
            x = xs[i] - bar + k * bar
            if v:
                chart.rect(x + 0.15, y_of(v), bar - 0.3, base - y_of(v), COLORS[key])
                chart.text(x + bar / 2, y_of(v) - 0.8, f.number(v), 6.5, "middle")
    return chart


def overdue_chart(report: Report, f: Formatter | None = None, width: float = 160.0, height: float = 62.0) -> Chart:
    """Items out past their due date at each month's end, as a line with its points."""
    f = f or Formatter(report)
    w = f.words
    # the line stops at the current month (a month to come has no values)
    vals = [m.overdue for m in report.months if not m.to_come and m.overdue is not None]
    label = "; ".join(f"{f.month(m.first)}: {m.overdue}" for m in report.months if not m.to_come)
    chart, y_of, xs, _slot, _base = _frame(f, [("overdue", w["overdue"], vals)], width, height, label)
    points = [(xs[i], y_of(v)) for i, v in enumerate(vals)]
    if len(points) > 1:
        chart.polyline(points, COLORS["overdue"], 0.6)
    for (x, y), v in zip(points, vals, strict=True):
        chart.circle(x, y, 0.9, COLORS["overdue"])
        chart.text(x, y - 1.8, f.number(v), 6.5, "middle")
    return chart


def _hex(color: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*color)


def chart_markup(chart: Chart) -> Any:
    """The SVG for a template: every text in it went through markupsafe.escape in chart_svg."""
    from markupsafe import Markup

    return Markup(chart_svg(chart))  # noqa: S704


def chart_svg(chart: Chart) -> str:
    """The chart as an inline SVG element (no script, no external reference)."""
    from markupsafe import escape

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {chart.width:.1f} {chart.height:.1f}" '
        f'role="img" aria-label="{escape(chart.label)}" class="kp-chart" '
        f"font-family=\"Sarabun, 'TH Sarabun New', Tahoma, sans-serif\">"
    ]
    anchors = {"start": "start", "middle": "middle", "end": "end"}
    for item in chart.items:
        kind = item[0]
        if kind == "rect":
            _, x, y, w, h, color = item
            out.append(f'<rect x="{x:.2f}" y="{y:.2f}" width="{w:.2f}" height="{h:.2f}" fill="{_hex(color)}"/>')
        elif kind == "line":
            _, x1, y1, x2, y2, color, width = item
            out.append(
                f'<line x1="{x1:.2f}" y1="{y1:.2f}" x2="{x2:.2f}" y2="{y2:.2f}" stroke="{_hex(color)}" '
                f'stroke-width="{width:.2f}"/>'
            )
        elif kind == "polyline":
            _, points, color, width = item
            pts = " ".join(f"{x:.2f},{y:.2f}" for x, y in points)
            out.append(f'<polyline points="{pts}" fill="none" stroke="{_hex(color)}" stroke-width="{width:.2f}"/>')
        elif kind == "circle":
            _, cx, cy, r, color = item
            out.append(f'<circle cx="{cx:.2f}" cy="{cy:.2f}" r="{r:.2f}" fill="{_hex(color)}"/>')
        elif kind == "text":
            _, x, y, text, size, anchor, color = item
            out.append(
                f'<text x="{x:.2f}" y="{y:.2f}" font-size="{size * PT:.2f}" text-anchor="{anchors[anchor]}" '
                f'fill="{_hex(color)}">{escape(text)}</text>'
            )
    out.append("</svg>")
    return "".join(out)


@functools.lru_cache(maxsize=16)
def _pil_font(px: int):
    from PIL import ImageFont

    from core.documents.thai import FONT_REGULAR

    layout = ImageFont.Layout.RAQM if _has_raqm() else ImageFont.Layout.BASIC
    return ImageFont.truetype(str(FONT_REGULAR), px, layout_engine=layout)


@functools.lru_cache(maxsize=1)
def _has_raqm() -> bool:
    from PIL import features

    return bool(features.check("raqm"))


def chart_png(chart: Chart, scale: float = 10.0) -> bytes:
    """The chart as a PNG, `scale` pixels per millimetre (Thai shaped by Raqm when Pillow has it)."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (round(chart.width * scale), round(chart.height * scale)), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    anchors = {"start": "ls", "middle": "ms", "end": "rs"}
    for item in chart.items:
        kind = item[0]
        if kind == "rect":
            _, x, y, w, h, color = item
            draw.rectangle([x * scale, y * scale, (x + w) * scale - 1, (y + h) * scale - 1], fill=color)
        elif kind == "line":
            _, x1, y1, x2, y2, color, width = item
            draw.line(
                [(x1 * scale, y1 * scale), (x2 * scale, y2 * scale)],
                fill=color,
                width=max(1, round(width * scale)),
            )
        elif kind == "polyline":
            _, points, color, width = item
            draw.line(
                [(x * scale, y * scale) for x, y in points],
                fill=color,
                width=max(1, round(width * scale)),
                joint="curve",
            )
        elif kind == "circle":
            _, cx, cy, r, color = item
            draw.ellipse([(cx - r) * scale, (cy - r) * scale, (cx + r) * scale, (cy + r) * scale], fill=color)
        elif kind == "text":
            _, x, y, text, size, anchor, color = item
            draw.text(
                (x * scale, y * scale),
                text,
                fill=color,
                font=_pil_font(round(size * PT * scale)),
                anchor=anchors[anchor],
            )
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def chart_pdf(doc: Any, chart: Chart) -> None:
    """Draw the chart as vectors at the current position of a core.pdf.ThaiDocument."""
    pdf = doc.pdf
    x0 = doc.x0 + (doc.width - chart.width) / 2
    doc.ensure_space(chart.height)
    y0 = doc.y
    for item in chart.items:
        kind = item[0]
        if kind == "rect":
            _, x, y, w, h, color = item
            pdf.set_fill_color(*color)
            pdf.rect(x0 + x, y0 + y, w, h, style="F")
        elif kind == "line":
            _, x1, y1, x2, y2, color, width = item
            pdf.set_draw_color(*color)
            pdf.set_line_width(width)
            pdf.line(x0 + x1, y0 + y1, x0 + x2, y0 + y2)
        elif kind == "polyline":
            _, points, color, width = item
            pdf.set_draw_color(*color)
            pdf.set_line_width(width)
            pdf.polyline([(x0 + x, y0 + y) for x, y in points], style="D")
        elif kind == "circle":
            _, cx, cy, r, color = item
            pdf.set_fill_color(*color)
            pdf.circle(x0 + cx, y0 + cy, r, style="F")
        elif kind == "text":
            _, x, y, text, size, anchor, color = item
            s = size * PT
            top = y0 + y - 1.15 * s  # core.pdf puts the baseline 1.15 em below the top of the line box
            box = 40.0
            left = {"start": x, "middle": x - box / 2, "end": x - box}[anchor]
            pdf.set_text_color(*color)
            doc._text(x0 + left, top, box, text, size, False, {"start": "L", "middle": "C", "end": "R"}[anchor])
    pdf.set_text_color(0, 0, 0)
    pdf.set_draw_color(0, 0, 0)
    pdf.set_fill_color(255, 255, 255)
    pdf.set_line_width(0.2)
    doc.y = y0 + chart.height


# --- renderers -------------------------------------------------------------------------------------


def measures_json(report: Report) -> list[dict[str, Any]]:
    """The measure rows as data: their codes with the catalogue's wording, texts, the figures chosen for the
    row (key and value) and the evidence (title, codes, public URL; null and "internal" when unpublished)."""
    return [
        {
            "number": m.number,
            "title": m.title,
            "indicators": [{"code": code, "title": text} for code, text in m.indicators],
            "activities": m.activities,
            "responsible": m.responsible,
            "outcome": m.outcome,
            "figures": [{"key": k, "value": fig.figure_value(report.figures, k)} for k in m.figures],
            "evidence": [
                {
                    "id": e.id,
                    "title": e.title,
                    "codes": list(e.codes),
                    "url": e.url or None,
                    "visibility": "public" if e.url else "internal",
                }
                for e in m.evidence
            ],
        }
        for m in report.measures
    ]


def render_json(report: Report) -> bytes:
    """The figures (reference/report-metrics.md), then the measures with their evidence."""
    data = {**report.figures, "measures": measures_json(report)}
    return (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def flat_figures(figures: dict[str, Any]) -> list[tuple[str, Any]]:
    """Every figure as (dotted key, value), in the order of the JSON object."""
    out: list[tuple[str, Any]] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        else:
            out.append((prefix, value))

    walk("", figures)
    return out


def _plain(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def render_csv(report: Report) -> bytes:
    """key,value for every figure; UTF-8 with a BOM, so Excel reads the Thai."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(["key", "value"])
    for key, value in flat_figures(report.figures):
        writer.writerow([safe_cell(key), safe_cell(_plain(value))])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def render_xlsx(report: Report) -> bytes:
    """One sheet per section (lending, assets, audit, evidence, measures, monthly), Thai headers."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill

    f = Formatter(report, thai_digits=False)
    w = f.words
    wb = Workbook()
    wb.remove(wb.worksheets[0])  # the one sheet a new workbook starts with (its active one)
    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor="E8EEF2")

    def sheet(name: str, headers: list[str], widths: list[int]):
        ws = wb.create_sheet(name)
        ws.append([f"{agency_line(report.settings, f.lang)} · {w['year_line'].format(year=report.fiscal_year)}"])
        ws["A1"].font = Font(bold=True, size=12)
        ws.append([])
        ws.append(headers)
        for cell in ws[3]:
            cell.font, cell.fill = bold, fill
        for i, width in enumerate(widths):
            ws.column_dimensions[chr(65 + i)].width = width
        ws.freeze_panes = "A4"
        return ws

    for section in SECTIONS:
        ws = sheet(w[f"sheet_{section}"], [w["item"], w["value"], w["key"]], [52, 20, 44])
        for name in SECTION_KEYS[section]:
            key = f"{section}.{name}"
            ws.append(
                [figure_label(key, f.lang, report.figures), _sheet_value(f, key, report.figures[section][name]), key]
            )
            if key == "audit.head_hash":  # the whole hash on the printed page: wrapped in its cell
                ws.cell(row=ws.max_row, column=2).alignment = Alignment(wrap_text=True, vertical="top")
        if section == "evidence":
            for code, count in (report.figures["evidence"].get("by_indicator") or {}).items():
                key = f"evidence.by_indicator.{code}"
                ws.append([figure_label(key, f.lang), count, key])
    ws = sheet(
        w["sheet_measures"],
        [
            w["measure_no"],
            w["measure_title"],
            w["indicators"],
            w["col_done"],
            w["col_responsible"],
            w["col_outcome"],
            w["figure_keys"],
            w["evidence_col"],
        ],
        [6, 28, 12, 34, 16, 34, 30, 40],
    )
    for m in report.measures:
        ws.append(
            [
                m.number,
                safe_cell(m.title),
                ", ".join(c for c, _t in m.indicators),
                safe_cell(m.activities),
                safe_cell(m.responsible),
                safe_cell(m.outcome),
                "\n".join(f.line(k) for k in m.figures),
                safe_cell("\n".join(str(line) for line in evidence_lines(m, w)[1:])),
            ]
        )
    for row in ws.iter_rows(min_row=3):
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    ws = sheet(w["sheet_monthly"], [w["month"], w["requests"], w["returns"], w["overdue"]], [18, 14, 18, 22])
    for month in report.months:
        if not month.to_come:  # the series stops at the current month
            ws.append([f.month_long(month.first), month.requests, month.returns, month.overdue])
    for ws in wb.worksheets:  # every sheet prints on the width of an A4, its header on every page
        xlsx_fit_rows(ws, first_row=3)
        xlsx_print_setup(ws, header_rows="1:3", landscape=ws.title == w["sheet_measures"])
    wb.properties.title = f"{w['title']} {w['year_line'].format(year=report.fiscal_year)}"
    wb.properties.creator = "Khruphan"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _sheet_value(f: Formatter, key: str, value: Any) -> Any:
    """A figure as a spreadsheet cell: numbers stay numbers; yes/no in words (never a literal "true"); the
    chain's verification as the documents word it."""
    if isinstance(value, bool):
        if key == "audit.chain_intact":
            return f.words["intact"] if value else f.words["broken"]
        return f.words["yes"] if value else f.words["no"]
    return safe_cell(_plain(value))


@functools.lru_cache(maxsize=1)
def _font_faces() -> str:
    """@font-face rules with Sarabun embedded, so the HTML file looks the same on any computer."""
    from core.documents.thai import FONT_BOLD, FONT_REGULAR

    rules = []
    for path, weight in ((FONT_REGULAR, 400), (FONT_BOLD, 700)):
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        rules.append(
            f"@font-face{{font-family:'Sarabun';font-weight:{weight};font-style:normal;"
            f"src:url(data:font/ttf;base64,{data}) format('truetype');}}"
        )
    return "\n".join(rules)


def render_html(report: Report, *, standalone: bool = True, thai_digits: bool | None = None) -> str:
    """The report as HTML: a whole file (fonts embedded) or, for the page, the document part only."""
    from flask import render_template
    from markupsafe import Markup

    model = document_model(report, thai_digits)
    charts = [(title, chart_markup(chart)) for title, chart in model.charts]
    template = "evidence/report_standalone.html" if standalone else "evidence/report_document.html"
    # the embedded fonts are our own files, base64-encoded: nothing from a user reaches them
    faces = Markup(_font_faces()) if standalone else ""  # noqa: S704
    return render_template(template, doc=model, charts=charts, font_faces=faces)


def render_pdf(report: Report) -> bytes:
    """A4 portrait in Sarabun, Thai shaped; the table across the text width, its header on every page."""
    import logging

    from core.documents.pdf import ThaiDocument
    from core.documents.pdf_blocks import Cell, Column, Signature
    from core.documents.thai import keep_together

    logging.getLogger("fontTools").setLevel(logging.WARNING)  # fpdf2's font subsetting chatters at INFO
    model = document_model(report, glue=keep_together)
    doc = ThaiDocument(
        lang=model.lang,
        thai_digits=model.thai_digits,
        title=" ".join(model.title[:2]),
        author=report.settings.get("agency_name") or "",
        subject="ITA",
        body_size=15,
        margins=(25.0, 18.0, 18.0, 18.0),
        footer_text=model.footer,
    )
    for i, line in enumerate(model.title):
        doc.paragraph(line, size=18 if i == 0 else 16, bold=True, align="C", space_after=0.5)
    doc.spacer(3)
    doc.paragraph(model.intro, first_line_indent=20, space_after=3)
    doc.paragraph(model.measures_heading, bold=True, size=16, space_after=1.5)
    columns = [
        Column(model.headers[0], 3.3),
        Column(model.headers[1], 3.4),
        Column(model.headers[2], 2.0),
        Column(model.headers[3], 3.3),
    ]
    rows: list[list[str | Cell]] = [["\n".join(cell) for cell in row] for row in model.rows]
    if not rows:
        rows = [[Cell(model.empty_note, align="C", colspan=4)]]
    doc.table(columns, rows, size=13, pad=1.5, space_after=4)
    for n, (title, chart) in enumerate(model.charts):
        # a heading never ends a page: it goes with the chart under it
        doc.ensure_space((doc.line_height(16) + 1.5 if n == 0 else 0) + doc.line_height(14) + chart.height + 3)
        if n == 0:
            doc.paragraph(model.charts_heading, bold=True, size=16, space_after=1.5)
        doc.paragraph(title, size=14, bold=True, align="C", space_after=0.5)
        chart_pdf(doc, chart)
        doc.spacer(3)
    doc.ensure_space(doc.line_height(16) + 4 * doc.line_height(13) + 10)
    doc.paragraph(model.appendix_heading, bold=True, size=16, space_after=1.5)
    app_rows: list[list[str | Cell]] = []
    for section in model.appendix:
        app_rows.append([Cell(section.title, bold=True, colspan=2)])
        for key, label, value in section.rows:
            if key == "audit.head_hash":
                value = value[:32] + "\n" + value[32:]
            app_rows.append([label, value])
    doc.table(
        [Column(model.appendix_columns[0], 1), Column(model.appendix_columns[1], 1, "R", fit=True)],
        app_rows,
        size=13,
        pad=1.5,
        space_after=4,
    )
    chain_text = model.chain_text.replace(model.head_hash, model.head_hash[:32] + " " + model.head_hash[32:])
    # The chain's paragraph, the date line and the signatures end the report as one block where it fits on a
    # page: no last page holds only the date line or the signatures.
    signatures = [Signature(s.role, s.name, s.position or "." * 30, "") for s in model.signers]
    sign_args: dict[str, Any] = {"per_row": 2, "gap_before": 6.0}
    lh = doc.line_height()
    closing = lh + 1 + doc.signatures_height(signatures, **sign_args)
    chain = doc.line_height(16) + 1.5 + len(doc.wrap(chain_text, doc.width, first_width=doc.width - 20)) * lh + 3
    if chain + closing <= doc.limit - doc.top:
        doc.ensure_space(chain + closing)
    else:
        doc.ensure_space(doc.line_height(16) + 3 * lh)
    doc.paragraph(model.chain_heading, bold=True, size=16, space_after=1.5)
    doc.paragraph(chain_text, first_line_indent=20, space_after=3)
    doc.ensure_space(closing)
    doc.paragraph(model.made, align="R")
    doc.signatures(signatures, **sign_args)
    return doc.output()


def render_docx(report: Report) -> bytes:
    """A Word document: Sarabun as the complex-script font of every run (w:cs, w:szCs, w:bCs), A4, a real
    table whose header row repeats, the charts as pictures. Editable in Word and LibreOffice."""
    from docx import Document
    from docx.enum.section import WD_ORIENT
    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn
    from docx.shared import Mm, Pt

    from evidence import docx_parts

    model = document_model(report)
    document = Document()
    section = document.sections[0]
    section.orientation = WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.left_margin, section.right_margin = Mm(25), Mm(18)
    section.top_margin, section.bottom_margin = Mm(18), Mm(18)
    text_width = 210 - 25 - 18

    def fonts(rpr: Any, size: float, bold: bool = False) -> None:
        """Sarabun for every script, the size for complex scripts too, Thai as the complex-script language;
        each element in the schema's order, so Word opens the file without "repairing" it."""

        def put(tag: str, **attrs: str) -> None:
            old = rpr.find(qn(tag))
            if old is not None:
                rpr.remove(old)
            el = OxmlElement(tag)
            for name, value in attrs.items():
                el.set(qn(f"w:{name}"), value)
            rpr.insert_element_before(el, *_RPR_ORDER[_RPR_ORDER.index(tag) + 1 :])

        put("w:rFonts", ascii="Sarabun", hAnsi="Sarabun", cs="Sarabun", eastAsia="Sarabun")
        for tag in ("w:b", "w:bCs"):
            if bold:
                put(tag)
            elif rpr.find(qn(tag)) is not None:
                rpr.remove(rpr.find(qn(tag)))
        half_points = str(int(round(size * 2)))
        put("w:sz", val=half_points)
        put("w:szCs", val=half_points)
        put("w:lang", val="th-TH" if model.lang == "th" else "en-US", bidi="th-TH")

    # the document's defaults name theme fonts, which Word prefers to a style's font: Sarabun there too
    defaults = document.styles.element.find(qn("w:docDefaults"))
    fonts(defaults.find(qn("w:rPrDefault")).find(qn("w:rPr")), 14)
    normal = document.styles["Normal"]
    fonts(normal.element.get_or_add_rPr(), 14)
    normal.paragraph_format.space_after = Pt(2)

    def para(
        container: Any,
        text: str,
        *,
        size: float = 14,
        bold: bool = False,
        align: Any = None,
        indent: float | None = None,
        space_after: float = 2,
    ) -> Any:
        p = container.add_paragraph()
        if align is not None:
            p.alignment = align
        if indent:
            p.paragraph_format.first_line_indent = Mm(indent)
        p.paragraph_format.space_after = Pt(space_after)
        run = p.add_run(text)
        fonts(run._element.get_or_add_rPr(), size, bold)
        return p

    for i, line in enumerate(model.title):
        para(
            document,
            line,
            size=18 if i == 0 else 16,
            bold=True,
            align=WD_ALIGN_PARAGRAPH.CENTER,
            space_after=0,
        )
    para(document, "", size=8)
    para(document, model.intro, indent=20, align=WD_ALIGN_PARAGRAPH.JUSTIFY, space_after=6)
    para(document, model.measures_heading, size=16, bold=True)

    def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], widths: Sequence[float], size: float):
        t = document.add_table(rows=1, cols=len(headers))
        t.style = "Table Grid"
        t.alignment = WD_TABLE_ALIGNMENT.CENTER
        t.autofit = False
        tr_pr = t.rows[0]._tr.get_or_add_trPr()
        repeat = OxmlElement("w:tblHeader")
        repeat.set(qn("w:val"), "true")
        tr_pr.append(repeat)
        for cell, title, width in zip(t.rows[0].cells, headers, widths, strict=True):
            cell.width = Mm(width)
            shade = OxmlElement("w:shd")
            shade.set(qn("w:val"), "clear")
            shade.set(qn("w:color"), "auto")
            shade.set(qn("w:fill"), "EBEBEB")
            cell._tc.get_or_add_tcPr().append(shade)
            run = cell.paragraphs[0].add_run(title)
            cell.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.CENTER
            fonts(run._element.get_or_add_rPr(), size, True)
        for row in rows:
            cells = t.add_row().cells
            for k, (cell, width) in enumerate(zip(cells, widths, strict=True)):
                cell.width = Mm(width)
                value = row[k] if k < len(row) else []
                spec = value if isinstance(value, dict) else {"lines": value}
                lines = spec["lines"] if isinstance(spec["lines"], list) else [spec["lines"]]
                first = True
                for line in lines or [""]:
                    p = cell.paragraphs[0] if first else cell.add_paragraph()
                    first = False
                    p.paragraph_format.space_after = Pt(1)
                    if spec.get("align") is not None:
                        p.alignment = spec["align"]
                    if isinstance(line, LinkLine):
                        docx_parts.hyperlink(p, line.url, str(line), fonts, size)
                        continue
                    run = p.add_run(line)
                    fonts(run._element.get_or_add_rPr(), size, bool(spec.get("bold")))
            if row and isinstance(row[0], dict) and row[0].get("span"):
                merged = cells[0].merge(cells[-1])
                for extra in merged.paragraphs[1:]:
                    if not extra.text:
                        extra._element.getparent().remove(extra._element)
        # the column widths for LibreOffice too (it reads the grid, Word the cells)
        grid = t._tbl.tblGrid
        for col, width in zip(grid.findall(qn("w:gridCol")), widths, strict=True):
            col.set(qn("w:w"), str(int(width / 25.4 * 1440)))
        return t

    widths = [text_width * w / 12.0 for w in (3.3, 3.4, 2.0, 3.3)]
    rows: list[list[Any]] = [list(row) for row in model.rows]
    if not rows:
        rows = [[{"lines": [model.empty_note], "span": True, "align": WD_ALIGN_PARAGRAPH.CENTER}, [], [], []]]
    table(model.headers, rows, widths, 13)
    para(document, "", size=8)
    para(document, model.charts_heading, size=16, bold=True)
    for title, chart in model.charts:
        para(document, title, size=14, bold=True, align=WD_ALIGN_PARAGRAPH.CENTER, space_after=0)
        p = document.add_paragraph()
        p.alignment = WD_ALIGN_PARAGRAPH.CENTER
        run = p.add_run()
        fonts(run._element.get_or_add_rPr(), 14)
        run.add_picture(io.BytesIO(chart_png(chart)), width=Mm(chart.width))
    para(document, model.appendix_heading, size=16, bold=True)
    app_rows: list[list[Any]] = []
    for sec in model.appendix:
        app_rows.append(
            [
                {"lines": [sec.title], "bold": True, "span": True},
                [],
            ]
        )
        for _key, label, value in sec.rows:
            app_rows.append([[label], {"lines": [value], "align": WD_ALIGN_PARAGRAPH.RIGHT}])
    app_widths = [text_width * 0.66, text_width * 0.34]
    table(list(model.appendix_columns), app_rows, app_widths, 13)
    para(document, "", size=8)
    # the chain's paragraph, the date line and the signatures stay together on the last page
    closing = [
        para(document, model.chain_heading, size=16, bold=True),
        para(document, model.chain_text, indent=20),
        para(document, model.made, align=WD_ALIGN_PARAGRAPH.RIGHT, space_after=8),
    ]
    docx_parts.keep_with_next(closing)
    docx_parts.signature_table(document, model.signers, model.lang, fonts, text_width)
    docx_parts.page_footer(section, model.footer, model.page_word, fonts, text_width)
    props = document.core_properties
    props.title = " ".join(model.title[:2])
    props.author = report.settings.get("agency_name") or ""
    props.language = "th-TH" if model.lang == "th" else "en-US"
    buf = io.BytesIO()
    document.save(buf)
    return docx_parts.embed_sarabun(buf.getvalue())


_RPR_ORDER = (
    "w:rStyle",
    "w:rFonts",
    "w:b",
    "w:bCs",
    "w:i",
    "w:iCs",
    "w:caps",
    "w:smallCaps",
    "w:strike",
    "w:dstrike",
    "w:outline",
    "w:shadow",
    "w:emboss",
    "w:imprint",
    "w:noProof",
    "w:snapToGrid",
    "w:vanish",
    "w:webHidden",
    "w:color",
    "w:spacing",
    "w:w",
    "w:kern",
    "w:position",
    "w:sz",
    "w:szCs",
    "w:highlight",
    "w:u",
    "w:effect",
    "w:bdr",
    "w:shd",
    "w:fitText",
    "w:vertAlign",
    "w:rtl",
    "w:cs",
    "w:em",
    "w:lang",
    "w:eastAsianLayout",
    "w:specVanish",
    "w:oMath",
)


def filename(report: Report, fmt: str) -> str:
    return f"ita-report-{report.fiscal_year}.{fmt}"


def render(report: Report, fmt: str) -> tuple[bytes, str, str]:
    """(bytes, MIME type, file name) of the report in one format."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    if fmt == "json":
        data = render_json(report)
    elif fmt == "csv":
        data = render_csv(report)
    elif fmt == "xlsx":
        data = render_xlsx(report)
    elif fmt == "pdf":
        data = render_pdf(report)
    elif fmt == "docx":
        data = render_docx(report)
    else:
        data = render_html(report, standalone=True).encode("utf-8")
    return data, MIME[fmt], filename(report, fmt)
