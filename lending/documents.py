"""The printed documents of a loan: the borrowing form / receipt and the written demand for return.

``receipt_pdf(loan, settings, lang)`` is the written evidence the regulation asks of a borrower (ใบยืมพัสดุ,
หลักฐานการยืม): form number, date, borrower, purpose, place of use, items with their value, dates, the
approvals, the hand-over, the returns and the signature lines. ``demand_letter_pdf(demand, settings, lang)``
is the letter that demands the overdue items back (หนังสือทวงถาม), in the layout of a Thai official letter.

Both are pure: they read the ORM objects and the settings dict (``core.services.get_settings``) and return
PDF bytes; nothing is written or committed. English versions (``lang="en"``) have the same layout.

Digits: with ``settings["thai_digits_in_documents"]`` a Thai document prints Thai digits (๐–๙) in the
text it generates — dates, the form and letter numbers, counts, day counts, the regulation's year and
clauses, page numbers. Tables keep Arabic digits (asset numbers, money, quantities, dates in a table), as
the regulation notes allow, and what people typed (purpose, place, names) is printed as typed.
"""

from __future__ import annotations

from datetime import date, datetime
from datetime import date as Date  # for annotations in _Fmt, whose date() hides the class
from decimal import Decimal
from typing import Any

from core.dates import BE_OFFSET, bangkok_date, format_date, format_datetime
from core.documents.pdf import ThaiDocument
from core.documents.pdf_blocks import Cell, Column, Signature
from core.documents.thai import NBSP, keep_together

# The regulation and its clauses, kept in one place (the clause numbers are still "to confirm", see
# shared/reference/regulation-notes.md).
REGULATION = {
    "th": "ระเบียบกระทรวงการคลังว่าด้วยการจัดซื้อจัดจ้างและการบริหารพัสดุภาครัฐ พ.ศ. 2560",
    "en": "the Ministry of Finance Regulation on Public Procurement and Supplies Management B.E. 2560",
}
CLAUSE_OFFICIAL_USE = "207"
CLAUSE_RETURN = "209"
CLAUSE_DEMAND = "211"
#: Days the borrower is given to return the items after receiving the demand.
RETURN_WITHIN_DAYS = 7

LETTER_SIZE = 14.0  # the demand letter's body text, points
INDENT = 25.0  # first-line indent of a paragraph in a Thai official document, mm

EN_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

CONDITION = {
    "th": {"good": "ใช้การได้ดี", "damaged": "ชำรุด", "lost": "สูญหาย", None: "ยังไม่ส่งคืน"},
    "en": {"good": "good", "damaged": "damaged", "lost": "lost", None: "not returned"},
}


def _lang(lang: str) -> str:
    return "en" if lang == "en" else "th"


def _s(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _money(value: Decimal | float | int | None) -> str:
    if value is None:
        return "-"
    return f"{Decimal(value):,.2f}"


def _name(user: Any) -> str:
    """A person's name, broken across lines only between its words."""
    return keep_together(_s(getattr(user, "name", ""))) if user is not None else ""


def _position(user: Any) -> str:
    return keep_together(_s(getattr(user, "position", ""))) if user is not None else ""


class _Outsider:
    """An outside borrower where a document expects a user: name, no position, the postal address."""

    def __init__(self, party: Any) -> None:
        self.name = party.display_name
        self.position = ""
        self.department = ""
        self.address = party.postal_lines()


def _borrower_of(loan: Any) -> Any:
    return loan.borrower if loan.borrower is not None or loan.party is None else _Outsider(loan.party)


def number_ranges(numbers: list[str]) -> str:
    """Asset numbers with runs shortened: 416-59-0001, 0002, 0003, 0007 → "416-59-0001–0003, 416-59-0007"."""
    import re

    out: list[str] = []
    run: list[tuple[str, int, str]] = []

    def flush() -> None:
        if run:
            first, last = run[0], run[-1]
            out.append(first[2] if len(run) == 1 else f"{first[2]}–{last[2][len(last[0]) :]}")
            run.clear()

    for number in sorted(numbers):
        m = re.fullmatch(r"(.*?)(\d+)", number)
        if m is None:
            flush()
            out.append(number)
            continue
        prefix, n = m.group(1), int(m.group(2))
        if run and run[-1][0] == prefix and run[-1][1] == n - 1 and len(m.group(2)) == len(run[-1][2]) - len(prefix):
            run.append((prefix, n, number))
        else:
            flush()
            run.append((prefix, n, number))
    flush()
    return ", ".join(out)


def _item_groups(loan: Any, items: list[Any]) -> list[tuple[str, str, int, Decimal]]:
    """(numbers, name, count, value) per row: one row per numbered item, one per line of a request by count
    (its picked assets' numbers shortened to ranges; before the hand-over, the count asked for)."""
    rows: list[tuple[str, str, int, Decimal]] = []
    by_line: dict[int, list[Any]] = {}
    for item in items:
        if getattr(item, "line_id", None) is not None:
            by_line.setdefault(item.line_id, []).append(item)
    for line in getattr(loan, "lines", []) or []:
        picked = by_line.pop(line.id, [])
        if picked:
            rows.append(
                (
                    number_ranges([_s(i.asset.asset_number) for i in picked]),
                    _s(line.group.name),
                    len(picked),
                    sum((Decimal(i.value or 0) for i in picked), Decimal(0)),
                )
            )
        elif not items or line.handed_count is None:
            rows.append(("-", _s(line.group.name), line.count, Decimal(0)))
    for item in items:
        if getattr(item, "line_id", None) is None:
            rows.append((_s(item.asset.asset_number), _s(item.asset.name), 1, Decimal(item.value or 0)))
    return rows


class _Fmt:
    """Dates and numbers of one document, in its language and digits."""

    def __init__(self, doc: ThaiDocument, lang: str):
        self.doc, self.lang = doc, lang

    def d(self, text: Any) -> str:
        return self.doc.digits(text)

    def date(self, value: date | datetime | None) -> str:
        """The long date of running text: "26 พฤศจิกายน 2569", "26 November 2569 BE" (kept on one line)."""
        if value is None:
            return ""
        if self.lang == "en":
            if isinstance(value, datetime):
                value = bangkok_date(value)
            return _nb(f"{value.day} {EN_MONTHS[value.month - 1]} {value.year + BE_OFFSET} BE")
        return _nb(format_date(value, "th", long=True, thai_digits=self.doc.thai_digits))

    def table_date(self, value: Date | datetime | None) -> str:
        return _nb(format_date(value, self.lang))

    def table_datetime(self, value: datetime | None) -> str:
        """A date and time in a table cell: Arabic digits, the time on its own line."""
        if value is None:
            return ""
        text = format_datetime(value, self.lang)
        day, _, clock = text.rpartition(" ")
        if self.lang == "th":  # "26 พ.ย. 2569 09:30 น."
            day, _, hhmm = day.rpartition(" ")
            clock = f"{hhmm} {clock}"
        return f"{_nb(day)}\n{_nb(clock)}"


def _nb(text: str) -> str:
    return text.replace(" ", NBSP)


_DISTRICT_PREFIXES = ("อำเภอ", "อ.", "เขต")
_PROVINCE_PREFIXES = ("จังหวัด", "จ.")


def _bare(name: str, prefixes: tuple[str, ...]) -> str:
    """A district or province without its word ("อำเภอโนนสูง" → "โนนสูง")."""
    for prefix in prefixes:
        if name.startswith(prefix):
            return name[len(prefix) :].strip()
    return name.strip()


def _address_lines(settings: dict[str, Any], lang: str) -> list[str]:
    """The agency's address: the street line, then "อำเภอ… จังหวัด…" (blank parts left out).

    A district or province the street line already names ("… อำเภอโนนสูง จังหวัดนครราชสีมา 30160", or
    "อ.โนนสูง") is not printed a second time."""
    address, district, province = (_s(settings.get(k)) for k in ("address", "district", "province"))
    if district and _bare(district, _DISTRICT_PREFIXES) and _bare(district, _DISTRICT_PREFIXES) in address:
        district = ""
    if province and _bare(province, _PROVINCE_PREFIXES) and _bare(province, _PROVINCE_PREFIXES) in address:
        province = ""
    area: list[str] = []
    if lang == "th":
        if district:
            area.append(district if district.startswith(("อำเภอ", "อ.", "เขต")) else f"อำเภอ{district}")
        if province:
            area.append(
                province if province.startswith(("จังหวัด", "จ.")) or province == "กรุงเทพมหานคร" else f"จังหวัด{province}"
            )
        area_line = " ".join(area)
    else:
        area_line = ", ".join(p for p in (district, province) if p)
    return [line for line in (address, area_line) if line]


def _new_doc(
    settings: dict[str, Any], lang: str, title: str, footer: str, body_size: float = 16.0
) -> tuple[ThaiDocument, _Fmt]:
    doc = ThaiDocument(
        lang=lang,
        thai_digits=lang == "th" and bool(settings.get("thai_digits_in_documents")),
        title=title,
        author=_s(settings.get("agency_name")) or "Khruphan",
        footer_text="",
        body_size=body_size,
    )
    fmt = _Fmt(doc, lang)
    doc.footer_text = fmt.d(footer)
    return doc, fmt


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


# --------------------------------------------------------------------------- the demand letter

_DEMAND: dict[str, dict[str, Any]] = {
    "th": {
        "title": "หนังสือทวงถามให้ส่งคืนพัสดุ",
        "ref": "ที่ {ref}",
        "subject_label": "เรื่อง",
        "subject": "ขอให้ส่งคืนพัสดุที่ยืม",
        "to_label": "เรียน",
        "cite_label": "อ้างถึง",
        "cite": "ใบยืมพัสดุ เลขที่ {ref} ลงวันที่ {date}",
        "p1": "ตามที่ท่านได้ยืมพัสดุของ{agency} ตามใบยืมพัสดุที่อ้างถึง เพื่อใช้ในราชการ ({purpose}) "
        "ณ {place} โดยมีกำหนดส่งคืนภายในวันที่ {due} นั้น",
        "p2": "บัดนี้ได้พ้นกำหนดส่งคืนแล้ว ปรากฏว่าท่านยังมิได้ส่งคืนพัสดุ ดังรายการต่อไปนี้ (ข้อมูล ณ วันที่ {today})",
        "cols": ("ลำดับ", "หมายเลขครุภัณฑ์", "รายการ", "มูลค่า (บาท)", "เกินกำหนด (วัน)"),
        "p3": "จึงขอให้ท่านส่งคืนพัสดุดังกล่าวในสภาพที่ใช้การได้เรียบร้อย ณ {unit} ภายใน {days} วัน "
        "นับแต่วันที่ได้รับหนังสือฉบับนี้ หากพัสดุดังกล่าวชำรุดเสียหาย ใช้การไม่ได้ หรือสูญหาย "
        "ท่านต้องแก้ไขซ่อมแซมให้คงสภาพเดิมโดยเสียค่าใช้จ่ายของตนเอง หรือชดใช้เป็นพัสดุประเภท ชนิด ขนาด "
        "ลักษณะและคุณภาพอย่างเดียวกัน หรือชดใช้เป็นเงินตามราคาที่เป็นอยู่ในขณะยืม "
        "ตาม{regulation} ข้อ {c_return} และข้อ {c_demand}",
        "p4": "จึงเรียนมาเพื่อโปรดดำเนินการ",
        "closing": "ขอแสดงความนับถือ",
        "officer": "เจ้าหน้าที่พัสดุ",
        "phone": "โทร. {phone}",
        "footer": "หนังสือทวงถาม ที่ {ref}",
    },
    "en": {
        "title": "Demand for the return of borrowed property",
        "ref": "Ref. {ref}",
        "subject_label": "Subject:",
        "subject": "Return of borrowed property",
        "to_label": "To:",
        "cite_label": "Reference:",
        "cite": "Borrowing form No. {ref} dated {date}",
        "p1": "You borrowed property of {agency} under the borrowing form referred to above, for official "
        "use ({purpose}) at {place}, to be returned by {due}.",
        "p2": "The return date has passed and the following items have not been returned (as of {today}):",
        "cols": ("No.", "Asset number", "Item", "Value (THB)", "Days overdue"),
        "p3": "Please return these items in good working order to {unit} within {days} days of receiving "
        "this letter. If an item is damaged, unusable or lost, you must repair it to its former state "
        "at your own cost, replace it with an item of the same kind, size, character and quality, or "
        "pay its value at the time of borrowing, under {regulation}, clauses {c_return} and "
        "{c_demand}.",
        "p4": "Please act accordingly.",
        "closing": "Yours sincerely,",
        "officer": "Supply officer",
        "phone": "Tel. {phone}",
        "footer": "Demand letter Ref. {ref}",
    },
}


def demand_reference(demand: Any) -> str:
    """The letter's number: the loan's form number and the demand's, e.g. "2569/00012/ทวง5"."""
    return f"{demand.loan.ref}/ทวง{demand.id}"


def _signer(demand: Any, loan: Any) -> Any:
    """Who signs: the officer who issued the demand, else the one who handed the items over."""
    user = getattr(demand, "issued_by", None)
    if user is None and demand.issued_by_id is not None:
        from sqlalchemy.orm import object_session

        from core.models import User

        session = object_session(demand)
        if session is not None:
            user = session.get(User, demand.issued_by_id)
    return user or loan.checked_out_by or loan.officer


def demand_letter_pdf(demand: Any, settings: dict[str, Any], lang: str = "th", *, signer: Any = None) -> bytes:
    """The written demand for return (หนังสือทวงถาม) of the items ``demand`` covers.

    The items are those listed in ``demand.item_ids`` (every item still out when the demand was made),
    each with its days overdue as of ``demand.demanded_on``. ``signer`` overrides who signs.
    """
    lang = _lang(lang)
    t = _DEMAND[lang]
    loan = demand.loan
    borrower = _borrower_of(loan)
    agency = keep_together(_s(settings.get("agency_name")))
    ref = demand_reference(demand)
    # Sarabun at 14 pt reads like the 16 pt of the TH Sarabun of official letters (a smaller face): a
    # demand for a few items fits on one page, its signature with it.
    doc, f = _new_doc(settings, lang, f"{t['title']} {ref}", t["footer"].format(ref=ref), body_size=LETTER_SIZE)

    right = ([agency] if agency else []) + _address_lines(settings, lang)
    doc.spacer(2)
    doc.columns([f.d(t["ref"].format(ref=ref))], right, split=0.4)
    doc.paragraph(f.date(demand.demanded_on), indent=doc.width * 0.45, space_after=3)

    labels = [t[k] for k in ("subject_label", "to_label", "cite_label")]
    lw = max(doc.measure(label) for label in labels) + 5
    doc.field(t["subject_label"], t["subject"], label_width=lw, label_bold=False)
    to = _name(borrower)
    if _position(borrower):
        to += f" ({_position(borrower)})"
    doc.field(t["to_label"], to, label_width=lw, label_bold=False)
    if isinstance(borrower, _Outsider):  # the letter goes by post to the outside borrower's address
        for line in borrower.address:
            doc.field("", _s(line), label_width=lw, label_bold=False, space_after=0)
    doc.field(
        t["cite_label"],
        t["cite"].format(ref=f.d(loan.ref), date=f.date(loan.requested_at)),
        label_width=lw,
        label_bold=False,
        space_after=3,
    )

    doc.paragraph(
        t["p1"].format(agency=agency, purpose=_s(loan.purpose), place=_s(loan.place), due=f.date(loan.due_on)),
        first_line_indent=INDENT,
    )
    doc.paragraph(t["p2"].format(today=f.date(demand.demanded_on)), first_line_indent=INDENT)

    # The items the demand covers, as recorded when it was made (a letter printed again later lists the
    # same items, whatever has come back since).
    wanted = set(demand.item_ids or [])
    items = [i for i in loan.items if i.id in wanted]
    overdue = max(0, (demand.demanded_on - loan.due_on).days)
    rows = [
        [
            str(n),
            keep_together(numbers) if count == 1 else numbers,
            _s(name) if count == 1 else f"{_s(name)} × {count}",
            _money(value),
            str(overdue),
        ]
        for n, (numbers, name, count, value) in enumerate(_item_groups(loan, items), 1)
    ]
    c = t["cols"]
    doc.table(
        [
            Column(c[0], align="C", fit=True),
            Column(c[1], fit=True),
            Column(c[2], 1.0),
            Column(c[3], align="R", fit=True),
            Column(c[4], align="C", fit=True),
        ],
        rows,
        size=14,
    )

    unit = _s(settings.get("supply_unit")) or t["officer"]
    days = settings.get("demand_return_days") or RETURN_WITHIN_DAYS
    p3 = t["p3"].format(
        unit=unit, days=days, regulation=REGULATION[lang], c_return=CLAUSE_RETURN, c_demand=CLAUSE_DEMAND
    )
    doc.paragraph(f.d(p3), first_line_indent=INDENT)

    signer = signer or _signer(demand, loan)
    position = _position(signer) or t["officer"]
    signature = [Signature("", _name(signer), position, "")]
    sign_args: dict[str, Any] = {
        "per_row": 2,
        "align": "right",
        "gap_before": 7,
        "sign_label": "",
        "show_date": False,
        "position_label": False,
    }
    contact = [unit]
    if _s(settings.get("phone")):
        contact.append(f.d(t["phone"].format(phone=_s(settings.get("phone")))))
    # The last line of the text, the closing, the signature and the contact lines stay together: they move to
    # a new page as one block, never the signature without words above it nor the contact without it.
    lh = doc.line_height()
    last_lines = len(doc.wrap(t["p4"], doc.width, first_width=doc.width - INDENT))
    closing_lines = len(doc.wrap(t["closing"], doc.width / 2))
    doc.ensure_space(
        (last_lines + closing_lines + len(contact)) * lh + 1 + 3 + 4 + doc.signatures_height(signature, **sign_args)
    )
    doc.paragraph(t["p4"], first_line_indent=INDENT)
    doc.spacer(3)
    doc.paragraph(t["closing"], indent=doc.width / 2, align="C", space_after=0)
    doc.signatures(signature, **sign_args)
    doc.spacer(4)
    for line in contact:
        doc.paragraph(line, space_after=0)
    return doc.output()
