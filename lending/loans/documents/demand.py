"""The written demand for the return of overdue items (หนังสือทวงถาม), in the layout of a Thai official letter.

``demand_letter_pdf(demand, settings, lang)`` is pure: it reads the ORM objects and the settings dict and
returns PDF bytes. The shared layout and digits rule: lending.loans.documents.common.
"""

from __future__ import annotations

from typing import Any

from core.documents.pdf_blocks import Column, Signature
from core.documents.thai import keep_together
from lending.loans.documents.common import (
    CLAUSE_DEMAND,
    CLAUSE_RETURN,
    INDENT,
    LETTER_SIZE,
    REGULATION,
    RETURN_WITHIN_DAYS,
    _address_lines,
    _borrower_of,
    _item_groups,
    _lang,
    _money,
    _name,
    _new_doc,
    _Outsider,
    _position,
    _s,
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
