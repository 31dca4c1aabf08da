"""The stock-take round's report: รายงานผลการตรวจสอบพัสดุประจำปี as PDF (core/pdf) and XLSX (openpyxl).

The report is an official Thai document; it is written in Thai whatever the interface language.
"""

from __future__ import annotations

import io
from typing import Any

from core.dates import format_date
from core.db import Session
from core.documents.exports import safe_cell
from core.documents.pdf import ThaiDocument
from core.documents.pdf_blocks import Column, Signature
from core.documents.thai import NBSP, keep_together
from core.people.services import get_settings
from lending.stocktake.models import (
    DAMAGED,
    ELSEWHERE,
    FOUND,
    NOT_FOUND,
    ON_LOAN,
    UNEXPECTED,
    StocktakeRound,
)
from lending.stocktake.queries import all_entry_rows, reconcile

TITLE = "รายงานผลการตรวจสอบพัสดุประจำปี"
RESULT_TH = {
    FOUND: "พบ",
    ELSEWHERE: "พบต่างสถานที่",
    ON_LOAN: "อยู่ระหว่างการยืม",
    NOT_FOUND: "ไม่พบ",
    UNEXPECTED: "นอกขอบเขต/จำหน่ายแล้ว",
    None: "ยังไม่ตรวจ",
}
CONDITION_TH = {"good": "ดี", DAMAGED: "ชำรุด", None: ""}


def report_filename(rnd: StocktakeRound, ext: str) -> str:
    return f"stocktake-{rnd.fiscal_year}-{rnd.id}.{ext}"


def _result(row: Any, closed: bool) -> str | None:
    if row.result:
        return row.result
    if not row.in_scope:
        return UNEXPECTED
    if row.found_at is not None:
        return ELSEWHERE if (row.found_location or "") != (row.expected_location or "") else FOUND
    return NOT_FOUND if closed else None


def round_pdf(session: Session, rnd: StocktakeRound, lang: str = "th") -> bytes:
    """The round's result as an A4 PDF with a signature line for every committee member."""
    settings = get_settings(session)
    doc = ThaiDocument(
        lang="th",
        thai_digits=bool(settings.get("thai_digits_in_documents")),
        title=TITLE,
        author=str(settings.get("agency_name") or "Khruphan"),
    )
    d = doc.digits
    recon = reconcile(session, rnd)
    doc.heading(TITLE, space_after=0)
    doc.paragraph(d(f"ประจำปีงบประมาณ พ.ศ. {rnd.fiscal_year}"), align="C", space_after=0)
    doc.paragraph(str(settings.get("agency_name") or ""), align="C", bold=True, space_after=2)
    labels = ("ชื่อรอบการตรวจ", "ตรวจนับพัสดุคงเหลือ ณ", "วันที่ตรวจสอบ", "ขอบเขต", "คณะกรรมการ")
    lw = max(doc.measure(label, bold=True) for label in labels) + 4
    doc.field("ชื่อรอบการตรวจ", d(rnd.title), label_width=lw)
    doc.field("ตรวจนับพัสดุคงเหลือ ณ", d(format_date(rnd.count_on, "th", long=True)).replace(" ", NBSP), label_width=lw)
    period = d(format_date(rnd.opened_at, "th", long=True))
    if rnd.closed_at:
        period += " ถึง " + d(format_date(rnd.closed_at, "th", long=True))
    doc.field("วันที่ตรวจสอบ", period, label_width=lw)
    scope = "ทุกรายการในทะเบียนพัสดุ"
    if rnd.scope_department or rnd.scope_location:
        scope = " ".join(
            p
            for p in (
                f"หน่วยงาน {rnd.scope_department}" if rnd.scope_department else "",
                f"สถานที่ {rnd.scope_location}" if rnd.scope_location else "",
            )
            if p
        )
    doc.field("ขอบเขต", scope, label_width=lw)
    doc.field("คณะกรรมการ", ", ".join(keep_together(m.user.name) for m in rnd.members), label_width=lw)
    doc.spacer(1)
    doc.paragraph("สรุปผลการตรวจสอบ", bold=True, space_after=0.5)
    summary = [
        ("พัสดุที่ต้องตรวจ (ตามทะเบียน)", recon.total),
        ("พบ ณ ที่ตั้งตามทะเบียน", recon.found),
        ("พบต่างสถานที่", recon.elsewhere),
        ("อยู่ระหว่างการยืม (มีหลักฐานการยืม)", recon.on_loan),
        ("ไม่พบ" if not rnd.is_open else "ยังไม่พบ (ยังไม่ปิดรอบการตรวจ)", recon.not_found),
        ("สภาพดี", recon.good),
        ("ชำรุด", recon.damaged),
        ("พบนอกขอบเขตหรือจำหน่ายแล้ว", recon.unexpected),
    ]
    doc.table([Column("รายการ", 4), Column("จำนวน", 1, "R")], [[k, d(f"{v:,}")] for k, v in summary], size=14)
    problems = [
        r
        for r in all_entry_rows(session, rnd.id)
        if _result(r, not rnd.is_open) in (NOT_FOUND, ELSEWHERE, UNEXPECTED) or r.condition == DAMAGED
    ]
    doc.paragraph("รายการที่ไม่พบ ชำรุด พบต่างสถานที่ หรือนอกขอบเขต", bold=True, space_after=0.5)
    if problems:
        rows = []
        for i, r in enumerate(problems, 1):
            res = _result(r, not rnd.is_open)
            note = r.note or ""
            if res == ELSEWHERE:
                note = f"พบที่ {r.found_location}" + (f" ({note})" if note else "")
            rows.append(
                [
                    d(i),
                    r.asset_number,
                    r.name,
                    r.expected_location or "–",
                    RESULT_TH[res] + (" / ชำรุด" if r.condition == DAMAGED else ""),
                    note,
                ]
            )
        doc.table(
            [
                Column("ที่", align="C", fit=True),
                Column("หมายเลขครุภัณฑ์", fit=True),
                Column("รายการ", 2),
                Column("ที่ตั้งตามทะเบียน", 1.4),
                Column("ผล", 1.2),
                Column("หมายเหตุ", 1.6),
            ],
            rows,
            size=13,
        )
    else:
        doc.paragraph("ไม่มี", space_after=1)
    doc.paragraph("พัสดุที่ไม่พบหรือชำรุดเสนอให้คณะกรรมการสอบหาข้อเท็จจริงดำเนินการต่อไป เว้นแต่เป็นการเสื่อมสภาพตามปกติ", space_after=1)
    doc.signatures(
        [
            Signature("กรรมการ", keep_together(m.user.name), keep_together(m.user.position or ""), "")
            for m in rnd.members
        ],
        per_row=2,
        gap_before=8,
        row_gap=4,
    )
    return doc.output()


def round_xlsx(session: Session, rnd: StocktakeRound) -> bytes:
    """A summary sheet and one sheet of every asset in the round with its result."""
    from openpyxl import Workbook  # imported when used, not at every start-up
    from openpyxl.styles import Font
    from openpyxl.worksheet.worksheet import Worksheet

    recon = reconcile(session, rnd)
    wb = Workbook()
    ws = wb.active
    if not isinstance(ws, Worksheet):  # a new workbook's one sheet is one; what follows would fail otherwise
        raise TypeError("a new workbook without a worksheet")
    ws.title = "สรุป"
    bold = Font(bold=True)
    ws.append([TITLE])
    ws["A1"].font = bold
    ws.append(["ปีงบประมาณ", rnd.fiscal_year])
    ws.append(["ชื่อรอบ", safe_cell(rnd.title)])
    ws.append(["ตรวจนับ ณ", format_date(rnd.count_on, "th", long=True)])
    ws.append(["สถานะ", "ปิดแล้ว" if not rnd.is_open else "กำลังตรวจ"])
    ws.append(["คณะกรรมการ", safe_cell(", ".join(m.user.name for m in rnd.members))])
    ws.append([])
    for label, key in (
        ("พัสดุที่ต้องตรวจ", "total"),
        ("พบ", "found"),
        ("พบต่างสถานที่", "elsewhere"),
        ("อยู่ระหว่างการยืม", "on_loan"),
        ("ไม่พบ", "not_found"),
        ("สภาพดี", "good"),
        ("ชำรุด", "damaged"),
        ("นอกขอบเขต/จำหน่ายแล้ว", "unexpected"),
    ):
        ws.append([label, getattr(recon, key)])
    ws.column_dimensions["A"].width = 28
    ws.column_dimensions["B"].width = 40
    items = wb.create_sheet("รายการ")
    items.append(["หมายเลขครุภัณฑ์", "รายการ", "ประเภท", "หน่วยงาน", "ที่ตั้งตามทะเบียน", "พบที่", "สภาพ", "ผล", "หมายเหตุ"])
    for cell in items[1]:
        cell.font = bold
    for r in all_entry_rows(session, rnd.id):
        items.append(
            [
                safe_cell(v)
                for v in (
                    r.asset_number,
                    r.name,
                    r.category,
                    r.department,
                    r.expected_location,
                    r.found_location,
                    CONDITION_TH.get(r.condition, ""),
                    RESULT_TH[_result(r, not rnd.is_open)],
                    r.note,
                )
            ]
        )
    for col, width in zip("ABCDEFGHI", (18, 30, 14, 18, 20, 20, 8, 18, 30), strict=True):
        items.column_dimensions[col].width = width
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
