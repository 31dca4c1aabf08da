"""What the printed documents of a loan share: the regulation and its clauses, names, money, number ranges,
the office's address, and a new page in the office's layout. The documents themselves: the borrowing form
/ receipt (lending.loans.documents.receipt) and the written demand for return (lending.loans.documents.demand).

``receipt_pdf(loan, settings, lang)`` is the written evidence the regulation asks of a borrower (ใบยืมพัสดุ,
หลักฐานการยืม): form number, date, borrower, purpose, place of use, items with their value, dates, the
approvals, the hand-over, the returns and the signature lines. ``demand_letter_pdf(demand, settings, lang)``
is the letter that demands the overdue items back (หนังสือทวงถาม), in the layout of a Thai official letter.

Both are pure: they read the ORM objects and the settings dict (``core.people.services.get_settings``) and return
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
