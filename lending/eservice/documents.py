"""The printable request form (แบบคำขอยืมพัสดุ) of the public e-service, in the layout of the paper one.

``request_form_pdf(sheet, settings, lang)`` draws one request as filled in on the e-service, or, with
``sheet=None``, the blank form that a person fills in by hand at the counter. The layout is the paper
form's: the title, "เขียนที่ / วันที่", เรื่อง / เรียน, the borrower's paragraph (name, address with หมู่ที่,
phone), the purpose, place and dates, the table of items (ลำดับ, รายการ, จำนวน, หน่วยนับ, หมายเหตุ), the
promise to return in good order or compensate, the borrower's signature, and the office's part (the supply
officer's check, the approval, the hand-over and the return). A filled form carries its reference and a QR
code of the tracking page.

Pure: takes a :class:`RequestSheet` of plain values and the settings dict, returns PDF bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from core.dates import format_date
from core.documents.pdf import ThaiDocument
from core.documents.pdf_blocks import Column, Signature
from core.documents.thai import NBSP, keep_together
from lending.register.labels.tags import qr_matrix

CLAUSE_RETURN = "209"  # the regulation's clause on return and compensation (see lending.loans.documents)
BLANK_ROWS = 6
# The counting word (ลักษณนาม) of the register's usual categories, for the form's หน่วยนับ column.
UNITS = {
    "เต็นท์": "หลัง",
    "เก้าอี้": "ตัว",
    "โต๊ะ": "ตัว",
    "เครื่องฉายภาพ": "เครื่อง",
    "คอมพิวเตอร์": "เครื่อง",
    "กล้อง": "ตัว",
    "เครื่องเสียง": "ชุด",
    "ยานพาหนะ": "คัน",
}


def unit_of(category: str) -> str:
    return UNITS.get((category or "").strip(), "")


@dataclass(frozen=True)
class SheetLine:
    name: str
    count: int
    unit: str = ""
    note: str = ""


@dataclass(frozen=True)
class RequestSheet:
    """What one request says, as plain values (built by the e-service from the lending model)."""

    ref: str
    submitted_on: date
    kind: str  # person, group, agency
    name: str
    contact_person: str = ""
    letter_no: str = ""
    phone: str = ""
    email: str = ""
    address_lines: tuple[str, ...] = ()
    purpose: str = ""
    place: str = ""
    start_on: date | None = None
    end_on: date | None = None
    lines: tuple[SheetLine, ...] = field(default_factory=tuple)
    track_url: str = ""


_T: dict[str, dict[str, Any]] = {
    "th": {
        "title": "แบบคำขอยืมพัสดุ",
        "subtitle": "(สำหรับประชาชน กลุ่มองค์กรชุมชน และหน่วยงานอื่น)",
        "ref": "เลขที่คำขอ {ref}",
        "written_at": "เขียนที่ {where}",
        "online": "ระบบ e-service",
        "date": "วันที่ {date}",
        "blank_date": "วันที่ ........ เดือน .................... พ.ศ. ..........",
        "subject": "เรื่อง",
        "subject_text": "ขอยืมพัสดุ",
        "to": "เรียน",
        "me": "ข้าพเจ้า {name}",
        "me_blank": "ข้าพเจ้า (ชื่อ-นามสกุล) ..........................................................................",
        "on_behalf": "ในนามของ{kind} {name}",
        "on_behalf_blank": "ในนามของ (กลุ่ม/หน่วยงาน ถ้ามี) ..........................................................",
        "group": "กลุ่ม/องค์กรชุมชน",
        "agency": "หน่วยงาน",
        "letter": "ตามหนังสือที่ {no}",
        "live_at": "ที่อยู่ {address}",
        "live_blank": "อยู่บ้านเลขที่ .......... หมู่ที่ ....... หมู่บ้าน ........................ ตำบล ........................ "
        "อำเภอ ........................ จังหวัด ........................",
        "phone": "โทรศัพท์ {phone}",
        "phone_blank": "โทรศัพท์ ................................ อีเมล (ถ้ามี) ................................",
        "email": "อีเมล {email}",
        "wish": "มีความประสงค์ขอยืมพัสดุของ{agency} เพื่อใช้ในงาน {purpose} ณ {place} "
        "ตั้งแต่วันที่ {start} ถึงวันที่ {end} รวม {days} วัน ดังรายการต่อไปนี้",
        "wish_blank": "มีความประสงค์ขอยืมพัสดุของ{agency} เพื่อใช้ในงาน .............................................."
        "...................... ณ (สถานที่) ............................................................ "
        "ตั้งแต่วันที่ ................................ ถึงวันที่ ................................ "
        "ดังรายการต่อไปนี้",
        "cols": ("ลำดับ", "รายการ", "จำนวน", "หน่วยนับ", "หมายเหตุ"),
        "promise": "ข้าพเจ้าจะดูแลรักษาพัสดุที่ยืมเป็นอย่างดี ใช้เฉพาะในงานที่ระบุข้างต้น และจะส่งคืนภายในกำหนด "
        "หากพัสดุชำรุดเสียหายหรือสูญหาย ข้าพเจ้ายินยอมซ่อมแซมให้คงสภาพเดิมด้วยค่าใช้จ่ายของตนเอง "
        "หรือชดใช้เป็นพัสดุประเภท ชนิด ขนาด ลักษณะและคุณภาพอย่างเดียวกัน "
        "หรือชดใช้เป็นเงินตามราคาที่เป็นอยู่ในขณะยืม",
        "borrower": "ผู้ขอยืม",
        "office": "สำหรับเจ้าหน้าที่",
        "handover": "การส่งมอบ",
        "return": "การส่งคืน",
        "check": "ความเห็นเจ้าหน้าที่พัสดุ",
        "enough": "มีพัสดุพร้อมให้ยืมตามรายการ",
        "short": "มีไม่พอ ........................",
        "officer": "เจ้าหน้าที่พัสดุ",
        "decision": "คำสั่ง",
        "allow": "อนุญาต",
        "deny": "ไม่อนุญาต เพราะ ..........................................",
        "approver": "ผู้อนุมัติ",
        "handed": "ผู้ยืมได้รับพัสดุตามรายการด้านหน้าครบถ้วน สภาพใช้การได้ เมื่อวันที่ ........................",
        "receiver": "ผู้รับพัสดุ",
        "giver": "ผู้ส่งมอบ",
        "returned": "ได้รับคืนพัสดุเมื่อวันที่ ........................",
        "complete": "ครบถ้วน สภาพใช้การได้",
        "damaged": "ชำรุด/สูญหาย (ระบุ) ......................................",
        "returner": "ผู้ส่งคืน",
        "inspector": "ผู้ตรวจรับคืน",
        "track": "ติดตามคำขอด้วยเลขที่คำขอและหมายเลขโทรศัพท์",
        "footer": "แบบคำขอยืมพัสดุ {ref}",
        "footer_blank": "แบบคำขอยืมพัสดุ",
    },
    "en": {
        "title": "Request to borrow equipment",
        "subtitle": "(for residents, community groups and other agencies)",
        "ref": "Request {ref}",
        "written_at": "Written at {where}",
        "online": "the online e-service",
        "date": "Date {date}",
        "blank_date": "Date ........ / .................... / ..........",
        "subject": "Subject",
        "subject_text": "Request to borrow equipment",
        "to": "To",
        "me": "I, {name},",
        "me_blank": "I (full name) ..........................................................................",
        "on_behalf": "on behalf of the {kind} {name}",
        "on_behalf_blank": "on behalf of (group or agency, if any) ................................................",
        "group": "community group",
        "agency": "agency",
        "letter": "by letter no. {no}",
        "live_at": "address: {address}",
        "live_blank": "address: house no. .......... village no. ....... village ........................ "
        "subdistrict ........................ district ........................ "
        "province ........................",
        "phone": "phone {phone}",
        "phone_blank": "phone ................................ e-mail (if any) ................................",
        "email": "e-mail {email}",
        "wish": "ask to borrow from {agency} for {purpose}, at {place}, from {start} to {end} ({days} days), the "
        "following items:",
        "wish_blank": "ask to borrow from {agency} for ........................................................ "
        "at (place) ............................................................ from "
        "................................ to ................................ the following items:",
        "cols": ("No.", "Item", "Count", "Unit", "Note"),
        "promise": "I will take good care of the items, use them only for the work stated above and return them "
        "on time. If an item is damaged or lost I will have it repaired to its former state at my own "
        "cost, replace it with one of the same kind, size, character and quality, or pay its value at "
        "the time of borrowing.",
        "borrower": "Borrower",
        "office": "For the office",
        "handover": "Hand-over",
        "return": "Return",
        "check": "The supply officer's check",
        "enough": "The items are available",
        "short": "Not enough ........................",
        "officer": "Supply officer",
        "decision": "Decision",
        "allow": "Approved",
        "deny": "Not approved, because ..........................................",
        "approver": "Approver",
        "handed": "The borrower received the items overleaf, complete and in working order, on ..................",
        "receiver": "Received by",
        "giver": "Handed over by",
        "returned": "Items returned on ........................",
        "complete": "Complete and in working order",
        "damaged": "Damaged / lost (which) ......................................",
        "returner": "Returned by",
        "inspector": "Inspected by",
        "track": "Follow the request with its reference and your phone number",
        "footer": "Request to borrow equipment {ref}",
        "footer_blank": "Request to borrow equipment",
    },
}


def addressee(agency_name: str, lang: str) -> str:
    """To whom the request is addressed: the chief executive of the agency."""
    name = (agency_name or "").strip()
    if lang == "en":
        return f"The Chief Executive, {name}" if name else "The Chief Executive"
    if name.startswith("เทศบาล"):
        return "นายกเทศมนตรี" + name[len("เทศบาล") :]
    if name.startswith("องค์การบริหารส่วน"):
        return "นายก" + name
    return f"หัวหน้า{name}" if name else "หัวหน้าหน่วยงาน"


def _qr(doc: ThaiDocument, url: str, x: float, y: float, size: float) -> None:
    """The QR of ``url`` as vector squares, ``size`` mm wide, its top left at (x, y)."""
    rows = qr_matrix(url)
    n = len(rows)
    m = size / n
    pdf = doc.pdf
    pdf.set_fill_color(0, 0, 0)
    for j, row in enumerate(rows):
        i = 0
        while i < n:
            if row[i]:
                start = i
                while i < n and row[i]:
                    i += 1
                pdf.rect(x + start * m, y + j * m, (i - start) * m + 0.01, m + 0.01, style="F")
            else:
                i += 1


def _boxes(doc: ThaiDocument, options: list[str], *, indent: float = 10.0, size: float | None = None) -> None:
    """Tick boxes side by side, each followed by its text, as on the paper form."""
    size = size or doc.body_size
    lh = doc.line_height(size)
    box = size * 0.22
    doc.ensure_space(lh)
    x = doc.x0 + indent
    for text in options:
        w = doc.measure(text, size) + box + 8
        if x + w > doc.x0 + doc.width and x > doc.x0 + indent:
            doc.y += lh
            doc.ensure_space(lh)
            x = doc.x0 + indent
        doc.pdf.rect(x, doc.y + (lh - box) / 2, box, box)
        doc._text(x + box + 1.5, doc.y, w, text, size, False)
        x += w
    doc.y += lh + 0.5


def _column_boxes(doc: ThaiDocument, blocks: list[tuple[str, list[str]]], size: float) -> None:
    """Blocks side by side (a title, then its tick boxes one under another), as the office's part of
    the paper form has them: the officer's check on the left, the decision on the right."""
    lh = doc.line_height(size)
    box = size * 0.22
    col_w = doc.width / len(blocks)
    laid = []
    for title, options in blocks:
        rows: list[tuple[bool, bool, str]] = [(True, False, ln) for ln in doc.wrap(title, col_w - 3, size, True)]
        for text in options:
            rows += [(False, i == 0, ln) for i, ln in enumerate(doc.wrap(text, col_w - box - 9, size))]
        laid.append(rows)
    n = max(len(rows) for rows in laid)
    doc.ensure_space(n * lh)
    for k, rows in enumerate(laid):
        x = doc.x0 + k * col_w
        for i, (is_title, boxed, line) in enumerate(rows):
            y = doc.y + i * lh
            if is_title:
                doc._text(x, y, col_w - 3, line, size, True)
                continue
            if boxed:
                doc.pdf.rect(x + 4, y + (lh - box) / 2, box, box)
            doc._text(x + 4 + box + 1.5, y, col_w - box - 9, line, size, False)
    doc.y += n * lh + 0.5


def _days(sheet: RequestSheet) -> int:
    if sheet.start_on and sheet.end_on:
        return (sheet.end_on - sheet.start_on).days + 1
    return 0


def request_form_pdf(sheet: RequestSheet | None, settings: dict, lang: str = "th") -> bytes:
    """The request form: filled in from ``sheet``, or blank for writing by hand when it is None."""
    lang = "en" if lang == "en" else "th"
    t = _T[lang]
    agency = str(settings.get("agency_name") or "")
    doc = ThaiDocument(
        lang=lang,
        thai_digits=lang == "th" and bool(settings.get("thai_digits_in_documents")),
        title=t["title"],
        author=agency or "Khruphan",
        margins=(25.0, 15.0, 18.0, 15.0),
        body_size=14.0,
    )
    d = doc.digits

    def long_date(value: date | None) -> str:
        return format_date(value, lang, long=True, thai_digits=doc.thai_digits).replace(" ", NBSP) if value else ""

    doc.footer_text = t["footer"].format(ref=sheet.ref) if sheet else t["footer_blank"]  # the ref keeps its digits
    top = doc.y
    if sheet and sheet.track_url:
        qr_size = 22.0
        _qr(doc, sheet.track_url, doc.x0 + doc.width - qr_size, top, qr_size)
    doc.heading(t["title"], size=20, space_after=0)
    doc.paragraph(t["subtitle"], align="C", space_after=2)
    right = [t["ref"].format(ref=sheet.ref)] if sheet else []  # a code: its own digits
    right.append(t["written_at"].format(where=t["online"] if sheet else "." * 40))
    right.append(d(t["date"].format(date=long_date(sheet.submitted_on))) if sheet else t["blank_date"])
    doc.columns([], right, split=0.55)
    label_width = 18 if lang == "th" else 22
    doc.field(t["subject"], t["subject_text"], label_width=label_width)
    doc.field(t["to"], addressee(agency, lang), label_width=label_width, space_after=2)

    indent = 20.0
    if sheet is None:
        for key in ("me_blank", "on_behalf_blank", "live_blank", "phone_blank"):
            doc.paragraph(t[key], first_line_indent=indent if key == "me_blank" else 0, space_after=0.3)
        doc.paragraph(t["wish_blank"].format(agency=agency), space_after=2)
    else:
        person = sheet.contact_person if sheet.kind != "person" and sheet.contact_person else sheet.name
        parts = [t["me"].format(name=keep_together(person))]
        if sheet.kind != "person":
            parts.append(
                t["on_behalf"].format(kind=t["group"] if sheet.kind == "group" else t["agency"], name=sheet.name)
            )
            if sheet.letter_no:
                parts.append(t["letter"].format(no=sheet.letter_no))
        if sheet.address_lines:
            parts.append(t["live_at"].format(address=" ".join(sheet.address_lines)))
        if sheet.phone:
            parts.append(t["phone"].format(phone=sheet.phone))
        if sheet.email:
            parts.append(t["email"].format(email=sheet.email))
        doc.paragraph(" ".join(parts), first_line_indent=indent, space_after=0.3)
        doc.paragraph(
            t["wish"].format(
                agency=agency,
                purpose=sheet.purpose,
                place=sheet.place,
                start=long_date(sheet.start_on),
                end=long_date(sheet.end_on),
                days=d(_days(sheet)) if lang == "th" else f"{_days(sheet)} day" + ("s" if _days(sheet) != 1 else ""),
            ),
            space_after=2,
        )
    c = t["cols"]
    columns = [
        Column(c[0], fit=True, align="C"),
        Column(c[1], 5),
        Column(c[2], fit=True, align="R"),
        Column(c[3], 1.2, align="C"),
        Column(c[4], 2),
    ]
    if sheet is None:
        rows = [[str(i), "", "", "", ""] for i in range(1, BLANK_ROWS + 1)]
    else:
        rows = [[str(i), ln.name, f"{ln.count:,}", ln.unit, ln.note] for i, ln in enumerate(sheet.lines, 1)]
    doc.table(columns, rows, size=14)
    doc.paragraph(t["promise"], first_line_indent=indent, space_after=0)
    doc.signatures(
        [Signature(t["borrower"], person if sheet else "", "", "")],
        per_row=2,
        align="right",
        gap_before=6,
        show_date=False,
        position_label=False,
    )

    if sheet and sheet.track_url:
        doc.spacer(1)
        doc.paragraph(f"{t['track']}: {sheet.track_url}", size=12, space_after=0)

    # the office's part: the back of the sheet, as on the paper form (printed on both sides, one sheet)
    doc.new_page()
    doc.heading(t["office"], size=17, space_after=0)
    if sheet:
        doc.paragraph(t["ref"].format(ref=sheet.ref), align="C", space_after=3)
    else:
        doc.paragraph(t["ref"].format(ref="." * 25), align="C", space_after=3)
    size = doc.body_size
    _column_boxes(doc, [(t["check"], [t["enough"], t["short"]]), (t["decision"], [t["allow"], t["deny"]])], size)
    doc.signatures(
        [Signature(t["officer"]), Signature(t["approver"])], per_row=2, gap_before=8, position_label=False, dotted=40
    )
    doc.spacer(6)
    doc.rule(1)
    doc.paragraph(t["handover"], bold=True, space_after=0.5)
    doc.paragraph(t["handed"], first_line_indent=indent, space_after=0)
    doc.signatures([Signature(t["receiver"]), Signature(t["giver"])], per_row=2, gap_before=8, dotted=40)
    doc.spacer(6)
    doc.rule(1)
    doc.paragraph(t["return"], bold=True, space_after=0.5)
    doc.paragraph(t["returned"], first_line_indent=indent, space_after=0)
    _boxes(doc, [t["complete"], t["damaged"]])
    doc.signatures([Signature(t["returner"]), Signature(t["inspector"])], per_row=2, gap_before=8, dotted=40)
    return doc.output()
