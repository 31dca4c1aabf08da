"""The report's words, Thai and English side by side: the document's text (`WORDS`), each figure's label and
unit (`FIGURE_LABELS`; the figures "at the end of the year" of a year still running are labelled as at the
day they were counted, `TO_DATE_LABELS`), and the sections the figures are grouped in."""

from __future__ import annotations

from datetime import date
from typing import Any

from core.dates import (
    format_date,
)

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


def lang_of(lang: str | None) -> str:
    return "en" if lang == "en" else "th"


def figure_label(key: str, lang: str = "th", figures: dict[str, Any] | None = None) -> str:
    """A figure's label; given the report's figures of a year still running, the figures "at the end of the
    year" are labelled as at the day they were counted ("to date")."""
    if key.startswith("evidence.by_indicator."):
        return WORDS[lang_of(lang)]["indicator"].format(code=key.rsplit(".", 1)[1])
    as_of = ((figures or {}).get("period") or {}).get("as_of")
    if as_of and key in TO_DATE_LABELS[lang_of(lang)]:
        day = date.fromisoformat(as_of)
        shown = format_date(day, "en") if lang_of(lang) == "en" else format_date(day, "th", long=True)
        return TO_DATE_LABELS[lang_of(lang)][key].format(date=shown)
    return FIGURE_LABELS[lang_of(lang)].get(key, (key, ""))[0]
