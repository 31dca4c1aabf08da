"""The borrowing form / receipt of a loan (ใบยืมพัสดุ, หลักฐานการยืม).

``receipt_pdf(loan, settings, lang)`` is the written evidence the regulation asks of a borrower: form number,
date, borrower, purpose, place of use, items with their value, dates, the approvals, the hand-over, the
returns and the signature lines. Pure: it reads the ORM objects and the settings dict and returns PDF bytes.
The shared layout and digits rule: lending.loans.documents.common.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from core.dates import bangkok_date
from core.documents.pdf import ThaiDocument
from core.documents.pdf_blocks import Cell, Column, Signature
from core.documents.thai import keep_together
from lending.loans.documents.common import (
    CLAUSE_OFFICIAL_USE,
    CLAUSE_RETURN,
    CONDITION,
    INDENT,
    REGULATION,
    _address_lines,
    _borrower_of,
    _Fmt,
    _item_groups,
    _lang,
    _money,
    _name,
    _new_doc,
    _Outsider,
    _position,
    _s,
    number_ranges,
)

# --------------------------------------------------------------------------- the borrowing form

_RECEIPT: dict[str, dict[str, Any]] = {
    "th": {
        "title": "ใบยืมพัสดุ",
        "subtitle": "(หลักฐานการยืมพัสดุ)",
        "number": "เลขที่ {ref}",
        "date": "วันที่ {date}",
        "intro": "ข้าพเจ้า {name}{position}{department} มีความประสงค์ขอยืมพัสดุของ{agency} เพื่อใช้ในราชการ ตามรายละเอียดดังต่อไปนี้",
        "position": " ตำแหน่ง {0}",
        "department": " สังกัด {0}",
        "purpose": "วัตถุประสงค์/งานที่ใช้",
        "place": "สถานที่นำไปใช้",
        "on_premises": "ใช้ภายในสถานที่ของหน่วยงาน",
        "off_premises": "นำออกไปใช้นอกสถานที่ของหน่วยงาน",
        "period": "ระยะเวลายืม",
        "period_text": "ตั้งแต่วันที่ {start} ถึงวันที่ {due} รวม {days} วัน",
        "due": "กำหนดส่งคืน",
        "due_text": "ภายในวันที่ {due}",
        "items": "รายการพัสดุที่ยืม",
        "cols": ("ลำดับ", "หมายเลขครุภัณฑ์", "รายการ", "จำนวน", "มูลค่า (บาท)"),
        "total": "รวม {n} รายการ",
        "statement": "ข้าพเจ้าขอรับรองว่าจะนำพัสดุที่ยืมไปใช้เพื่อประโยชน์ของทางราชการเท่านั้น "
        "และจะส่งคืนในสภาพที่ใช้การได้เรียบร้อยภายในกำหนด หากพัสดุที่ยืมเกิดชำรุดเสียหาย "
        "ใช้การไม่ได้ หรือสูญหาย ข้าพเจ้ายินยอมแก้ไขซ่อมแซมให้คงสภาพเดิมโดยเสียค่าใช้จ่ายของตนเอง "
        "หรือชดใช้เป็นพัสดุประเภท ชนิด ขนาด ลักษณะและคุณภาพอย่างเดียวกัน "
        "หรือชดใช้เป็นเงินตามราคาที่เป็นอยู่ในขณะยืม ตาม{regulation} ข้อ {c1} ถึงข้อ {c2}",
        "record": "การอนุมัติและการส่งมอบ",
        "record_cols": ("ขั้นตอน", "ผู้ดำเนินการ", "วันและเวลา", "หมายเหตุ"),
        "step_request": "ยื่นคำขอยืม",
        "step_officer": "เจ้าหน้าที่พัสดุตรวจสอบ เห็นชอบ",
        "step_head": "หัวหน้าหน่วยงานอนุมัติ",
        "step_rejected": "ไม่อนุมัติ",
        "step_cancelled": "ผู้ยืมยกเลิกคำขอ",
        "step_handover": "ส่งมอบพัสดุ",
        "step_confirmed": "ผู้ยืมยืนยันการรับในระบบ",
        "pending": "รอดำเนินการ",
        "not_recorded": "ไม่ได้บันทึกไว้ในทะเบียนคุม",
        "off_premises_note": "นำออกนอกสถานที่",
        "value_note": "มูลค่าถึงเกณฑ์ที่ต้องให้หัวหน้าอนุมัติ",
        "returns": "การส่งคืน",
        "deposit": "เงินประกัน",
        "deposit_taken": "รับเงินประกัน {amount} บาท ใบเสร็จรับเงินเลขที่ {receipt} เมื่อ {at}",
        "deposit_back": "คืนเงินประกัน {amount} บาท เมื่อ {at}",
        "deposit_kept": "หักเงินประกันไว้ {amount} บาท เป็นค่าเสียหายตามกรณีเลขที่ {case}",
        "deposit_open": "ยังไม่ได้คืนเงินประกัน",
        "return_cols": ("ลำดับ", "หมายเลขครุภัณฑ์", "วันที่คืน", "สภาพ", "ผู้ตรวจรับ / หมายเหตุ"),
        "borrower": "ผู้ยืม",
        "supply_officer": "เจ้าหน้าที่พัสดุ",
        "approver": "ผู้อนุมัติ",
        "receiver": "ผู้ตรวจรับคืน",
        "unit": "1",
        "address": "ที่อยู่",
        "pieces": "{n} ชิ้น",
        "footer": "ใบยืมพัสดุ เลขที่ {ref}",
    },
    "en": {
        "title": "Borrowing Form",
        "subtitle": "(written evidence of a loan of government property)",
        "number": "No. {ref}",
        "date": "Date {date}",
        "intro": "I, {name}{position}{department}, request to borrow the following property of {agency} "
        "for official use.",
        "position": ", {0}",
        "department": ", {0}",
        "purpose": "Purpose / work",
        "place": "Place of use",
        "on_premises": "on the agency's premises",
        "off_premises": "taken off the agency's premises",
        "period": "Loan period",
        "period_text": "from {start} to {due}, {days} day{s}",
        "due": "Return by",
        "due_text": "{due}",
        "items": "Items borrowed",
        "cols": ("No.", "Asset number", "Item", "Qty", "Value (THB)"),
        "total": "Total: {n} item{s}",
        "statement": "I certify that the items are borrowed for official use only and will be returned "
        "in good working order by the due date. If an item is damaged, unusable or lost, I "
        "will repair it to its former state at my own cost, replace it with an item of the same "
        "kind, size, character and quality, or pay its value at the time of borrowing, under "
        "{regulation}, clauses {c1} to {c2}.",
        "record": "Approval and hand-over",
        "record_cols": ("Step", "By", "Date and time", "Notes"),
        "step_request": "Request made",
        "step_officer": "Checked and agreed by the supply officer",
        "step_head": "Approved by the head of agency",
        "step_rejected": "Rejected",
        "step_cancelled": "Withdrawn by the borrower",
        "step_handover": "Items handed over",
        "step_confirmed": "Receipt confirmed by the borrower in the app",
        "pending": "pending",
        "not_recorded": "not recorded in the ledger",
        "off_premises_note": "taken off the premises",
        "value_note": "value at or above the head's threshold",
        "returns": "Returns",
        "deposit": "Deposit",
        "deposit_taken": "Deposit of {amount} baht received, receipt No. {receipt}, on {at}",
        "deposit_back": "{amount} baht of the deposit handed back on {at}",
        "deposit_kept": "{amount} baht of the deposit kept toward the compensation of case No. {case}",
        "deposit_open": "The deposit has not been settled yet.",
        "return_cols": ("No.", "Asset number", "Returned on", "Condition", "Received by / notes"),
        "borrower": "Borrower",
        "supply_officer": "Supply officer",
        "approver": "Approver",
        "receiver": "Received back by",
        "unit": "1",
        "address": "Address",
        "pieces": "{n} items",
        "footer": "Borrowing form No. {ref}",
    },
}


def receipt_pdf(loan: Any, settings: dict[str, Any], lang: str = "th") -> bytes:
    """The borrowing form / receipt of ``loan`` (ใบยืมพัสดุ), printable at any stage of the loan."""
    lang = _lang(lang)
    t = _RECEIPT[lang]
    agency = keep_together(_s(settings.get("agency_name")))
    doc, f = _new_doc(settings, lang, f"{t['title']} {loan.ref}", t["footer"].format(ref=loan.ref))
    borrower = _borrower_of(loan)

    doc.heading(t["title"], space_after=0)
    doc.paragraph(t["subtitle"], align="C", space_after=0)
    if agency:
        doc.paragraph(agency, align="C", bold=True, space_after=0)
    address = " ".join(_address_lines(settings, lang))
    if address:
        doc.paragraph(address, align="C", space_after=0)
    doc.spacer(2)
    doc.columns(
        [], [f.d(t["number"].format(ref=loan.ref)), t["date"].format(date=f.date(loan.requested_at))], split=0.55
    )

    position = _s(getattr(borrower, "position", ""))
    department = _s(getattr(borrower, "department", ""))
    doc.paragraph(
        t["intro"].format(
            name=_name(borrower),
            position=t["position"].format(position) if position else "",
            department=t["department"].format(department) if department else "",
            agency=agency,
        ),
        first_line_indent=INDENT,
    )
    labels = [t[k] for k in ("purpose", "place", "period", "due", "address")]
    lw = max(doc.measure(label, bold=True) for label in labels) + 4
    if isinstance(borrower, _Outsider) and borrower.address:
        doc.field(t["address"], f.d(" ".join(_s(x) for x in borrower.address)), label_width=lw)
    doc.field(t["purpose"], _s(loan.purpose), label_width=lw)
    where = t["off_premises"] if loan.off_premises else t["on_premises"]
    doc.field(t["place"], f"{_s(loan.place)} ({where})", label_width=lw)
    days = (loan.due_on - loan.start_on).days + 1
    doc.field(
        t["period"],
        t["period_text"].format(
            start=f.date(loan.start_on), due=f.date(loan.due_on), days=f.d(days), s="" if days == 1 else "s"
        ),
        label_width=lw,
    )
    doc.field(t["due"], t["due_text"].format(due=f.date(loan.due_on)), label_width=lw)

    doc.spacer(1)
    doc.paragraph(t["items"], bold=True, space_after=0.5)
    items = list(loan.items)
    rows: list[list[str | Cell]] = []
    total = Decimal(0)
    pieces = 0
    for n, (numbers, name, count, value) in enumerate(_item_groups(loan, items), 1):
        number = keep_together(numbers) if count == 1 else numbers
        rows.append([str(n), number, name, str(count), _money(value) if value else "-"])
        total += value
        pieces += count
    total_text = t["total"].format(n=pieces, s="" if pieces == 1 else "s")
    rows.append(
        [
            Cell(total_text, bold=True, align="R", colspan=3),
            Cell(str(pieces), bold=True, align="C"),
            Cell(_money(total), bold=True, align="R"),
        ]
    )
    c = t["cols"]
    doc.table(
        [
            Column(c[0], align="C", fit=True),
            Column(c[1], fit=True),
            Column(c[2], 1.0),
            Column(c[3], align="C", fit=True),
            Column(c[4], align="R", fit=True),
        ],
        rows,
        size=14,
    )

    doc.paragraph(
        f.d(t["statement"].format(regulation=REGULATION[lang], c1=CLAUSE_OFFICIAL_USE, c2=CLAUSE_RETURN)),
        first_line_indent=INDENT,
    )

    _record_section(doc, f, t, loan)
    deposit = getattr(loan, "deposit", None)
    if deposit is not None:
        _deposit_section(doc, f, t, deposit)
    returned = [i for i in items if i.condition is not None]
    if returned:
        _returns_section(doc, f, t, items, lang)

    approver = loan.head if loan.needs_head else (loan.officer or loan.decided_by)
    approved_at = loan.head_at if loan.needs_head else loan.officer_at
    blocks = [
        Signature(t["borrower"], _name(borrower), _position(borrower), f.date(loan.requested_at)),
        Signature(
            t["supply_officer"], _name(loan.checked_out_by), _position(loan.checked_out_by), f.date(loan.checked_out_at)
        ),
        Signature(
            t["approver"], _name(approver), _position(approver), f.date(approved_at) if approver is not None else ""
        ),
    ]
    if returned:
        receiver = next((i.received_by for i in returned if i.received_by is not None), None)
        last = max((i.returned_at for i in returned if i.returned_at), default=None)
        blocks.append(Signature(t["receiver"], _name(receiver), _position(receiver), f.date(last)))
    doc.signatures(blocks, per_row=2, gap_before=8, row_gap=6)
    return doc.output()


def _record_section(doc: ThaiDocument, f: _Fmt, t: dict[str, Any], loan: Any) -> None:
    """Who did what and when: request, the officer's and the head's approval, hand-over, confirmation."""
    at = f.table_datetime
    blank = t["not_recorded"] if getattr(loan, "imported", False) else ""

    def who(user: Any) -> str:  # a loan from the paper ledger may not say who did a step
        return _name(user) or blank

    rows: list[list[str]] = [[t["step_request"], who(loan.borrower), at(loan.requested_at), "-"]]
    if loan.officer_at is not None or loan.status == "requested":
        rows.append([t["step_officer"], who(loan.officer) or "-", at(loan.officer_at) or t["pending"], "-"])
    if loan.needs_head and (loan.head_at is not None or loan.status == "requested"):
        note = t["off_premises_note"] if loan.off_premises else t["value_note"]
        rows.append([t["step_head"], who(loan.head) or "-", at(loan.head_at) or t["pending"], note])
    if loan.status == "rejected":
        rows.append(
            [t["step_rejected"], who(loan.decided_by) or "-", at(loan.decided_at), _s(loan.decision_note) or "-"]
        )
    if loan.status == "cancelled":
        canceller = getattr(loan, "cancelled_by", None) or loan.borrower
        rows.append([t["step_cancelled"], who(canceller) or "-", at(loan.cancelled_at), _s(loan.decision_note) or "-"])
    if loan.status in ("approved", "checked_out", "returned"):
        rows.append(
            [
                t["step_handover"],
                who(loan.checked_out_by) or "-",
                at(loan.checked_out_at) or t["pending"],
                _s(loan.handover_note) or "-",
            ]
        )
    if loan.receipt_confirmed_at is not None:
        rows.append([t["step_confirmed"], who(loan.borrower), at(loan.receipt_confirmed_at), "-"])
    doc.spacer(1)
    doc.paragraph(t["record"], bold=True, space_after=0.5)
    c = t["record_cols"]
    doc.table(
        [Column(c[0], 1.3), Column(c[1], 1.1), Column(c[2], align="C", fit=True), Column(c[3], 1.2)], rows, size=14
    )


def _deposit_section(doc: ThaiDocument, f: _Fmt, t: dict[str, Any], deposit: Any) -> None:
    """The deposit an outside borrower left at the hand-over, and how it ended."""
    doc.spacer(1)
    doc.paragraph(t["deposit"], bold=True, space_after=0.5)
    lines = [
        t["deposit_taken"].format(
            amount=f.d(_money(deposit.amount)), receipt=_s(deposit.receipt_no), at=f.date(deposit.taken_at)
        )
    ]
    if deposit.settled_at is None:
        lines.append(t["deposit_open"])
    else:
        lines.append(
            t["deposit_back"].format(amount=f.d(_money(deposit.returned_amount)), at=f.date(deposit.settled_at))
        )
        if deposit.kept_amount:
            lines.append(
                t["deposit_kept"].format(amount=_money(deposit.kept_amount), case=f.d(str(deposit.incident_id)))
            )
    for line in lines:
        doc.paragraph(line, space_after=0)


def _returns_section(doc: ThaiDocument, f: _Fmt, t: dict[str, Any], items: list[Any], lang: str) -> None:
    doc.spacer(1)
    doc.paragraph(t["returns"], bold=True, space_after=0.5)
    rows: list[list[str]] = []
    good_of_line: dict[tuple[Any, Any], list[Any]] = {}

    def day(at: Any) -> Any:
        return bangkok_date(at) if at else None

    for item in items:
        if getattr(item, "line_id", None) is not None and item.condition == "good":
            good_of_line.setdefault((item.line_id, day(item.returned_at)), []).append(item)
    shown: set[int] = set()
    for item in items:
        if id(item) in shown:
            continue
        together = good_of_line.get((getattr(item, "line_id", None), day(item.returned_at)))
        if item.condition == "good" and together and len(together) > 1:
            shown.update(id(i) for i in together)
            # the run of numbers goes in the wide note column; the number column says how many
            number = t["pieces"].format(n=len(together))
            note = "; ".join(
                x for x in (number_ranges([_s(i.asset.asset_number) for i in together]), _name(item.received_by)) if x
            )
            cond = CONDITION[lang].get("good", "good")
        else:
            shown.add(id(item))
            note = "; ".join(x for x in (_name(item.received_by), _s(item.return_note)) if x) or "-"
            number = keep_together(_s(item.asset.asset_number))
            cond = CONDITION[lang].get(item.condition, _s(item.condition))
        rows.append([str(len(rows) + 1), number, f.table_date(item.returned_at) or "-", cond, note])
    c = t["return_cols"]
    doc.table(
        [
            Column(c[0], align="C", fit=True),
            Column(c[1], fit=True),
            Column(c[2], align="C", fit=True),
            Column(c[3], align="C", fit=True),
            Column(c[4], 1.0),
        ],
        rows,
        size=14,
    )
