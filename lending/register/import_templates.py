"""Empty lists to fill in, with Thai headers: the asset list and the paper ledger, as CSV and XLSX.

The CSV holds the header row only (Excel opens it as UTF-8 through its BOM); the workbook's first sheet
holds the header row too — the import reads only the first sheet — and a second sheet shows example rows
and what each column takes, so an example can never be imported by mistake.
"""

from __future__ import annotations

import csv
import io

from core.files import XLSX
from lending.loans.ledger import columns as ledger
from lending.register import importing

ASSET_EXAMPLES = [
    [
        "416-59-0001",
        "เต็นท์ผ้าใบ ขนาด 4x8 เมตร",
        "เต็นท์",
        "",
        "",
        "",
        "15/06/2559",
        "12,500.00",
        "ห้องเก็บของ สำนักปลัด",
        "สำนักปลัด",
        "ได้",
        "เต็นท์ขนาด 4x8 เมตร",
    ],
    [
        "474-62-0003",
        "เครื่องฉายภาพ (โปรเจคเตอร์)",
        "เครื่องฉายภาพ",
        "Epson",
        "EB-X51",
        "X5KH2301",
        "2019-03-01",
        "18900",
        "ห้องประชุมสภา",
        "กองการศึกษา",
        "ไม่ได้",
        "",
    ],
]
ASSET_NOTES = [
    "จำเป็น",
    "จำเป็น",
    "จำเป็น",
    "",
    "",
    "",
    "วว/ดด/ปปปป (พ.ศ.) หรือ YYYY-MM-DD",
    "บาท",
    "",
    "",
    "ได้ / ไม่ได้",
    "ชื่อกลุ่มที่ให้ยืมตามจำนวน ประเภทเดียวกัน (ยังไม่มีจะตั้งให้) เว้นว่างได้",
]

LEDGER_EXAMPLES = [
    [
        "66/041",
        "416-59-0001",
        "somchai",
        "จัดงานวันเด็กแห่งชาติ",
        "05/01/2566",
        "อนุมัติ",
        "supply1",
        "06/01/2566",
        "12/01/2566",
        "16/01/2566",
        "16/01/2566",
        "ปกติ",
        "",
    ],
    [
        "66/041",
        "416-59-0002",
        "somchai",
        "จัดงานวันเด็กแห่งชาติ",
        "05/01/2566",
        "อนุมัติ",
        "supply1",
        "06/01/2566",
        "12/01/2566",
        "16/01/2566",
        "20/01/2566",
        "ชำรุด",
        "18/01/2566",
    ],
]
LEDGER_NOTES = [
    "แถวที่เลขเดียวกันคือการยืมครั้งเดียวกัน",
    "จำเป็น",
    "ชื่อผู้ใช้ในระบบ (จำเป็น)",
    "จำเป็น",
    "จำเป็น",
    "อนุมัติ / ไม่อนุมัติ / ยกเลิก",
    "ชื่อผู้ใช้ในระบบ",
    "",
    "",
    "",
    "",
    "ปกติ / ชำรุด / สูญหาย",
    "",
]

TEMPLATES = ("assets.csv", "assets.xlsx", "ledger.csv", "ledger.xlsx")
FILENAMES = {"assets": "แบบรายการครุภัณฑ์", "ledger": "แบบทะเบียนคุมการยืม"}


def headers(kind: str) -> list[str]:
    """The Thai header row of the list: the first Thai name of each column, in the import's order."""
    if kind == "assets":
        return [importing.HEADERS[key][1] for key in importing.HEADERS]
    return [ledger.THAI_HEADERS[column][0] for column in ledger.COLUMNS]


def template(name: str) -> tuple[bytes, str, str]:
    """(content, mime, filename) of one of TEMPLATES; KeyError for any other name."""
    if name not in TEMPLATES:
        raise KeyError(name)
    kind, ext = name.split(".")
    row = headers(kind)
    filename = f"{FILENAMES[kind]}.{ext}"
    if ext == "csv":
        out = io.StringIO()
        csv.writer(out, lineterminator="\r\n").writerow(row)
        return ("\ufeff" + out.getvalue()).encode("utf-8"), "text/csv; charset=utf-8", filename
    examples, notes = (ASSET_EXAMPLES, ASSET_NOTES) if kind == "assets" else (LEDGER_EXAMPLES, LEDGER_NOTES)
    return _workbook(row, examples, notes), XLSX, filename


def _workbook(row: list[str], examples: list[list[str]], notes: list[str]) -> bytes:
    from openpyxl import Workbook  # imported when used, not at every start-up
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.worksheet import Worksheet

    wb = Workbook()
    sheet = wb.active
    if not isinstance(sheet, Worksheet):  # a new workbook's one sheet is one; what follows would fail otherwise
        raise TypeError("a new workbook without a worksheet")
    sheet.title = "รายการ"
    sheet.append(row)
    sample = wb.create_sheet("ตัวอย่าง")
    sample.append(row)
    sample.append(notes)
    for example in examples:
        sample.append(example)
    for ws in (sheet, sample):
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for index, title in enumerate(row, start=1):
            column = ws.column_dimensions[get_column_letter(index)]
            column.width = max(14, len(title) + 6)
            column.number_format = "@"  # text, so Excel keeps 416-59-0001 and 05/01/2566 as typed
        ws.freeze_panes = "A2"
    for cell in sample[2]:
        cell.font = Font(italic=True, color="666666")
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
