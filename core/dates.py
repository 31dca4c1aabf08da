"""Buddhist Era dates, Asia/Bangkok day boundaries, fiscal years and Thai digits."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

BANGKOK = ZoneInfo("Asia/Bangkok")
BE_OFFSET = 543

THAI_DIGITS = "๐๑๒๓๔๕๖๗๘๙"
_TO_ARABIC = str.maketrans(THAI_DIGITS, "0123456789")
_TO_THAI = str.maketrans("0123456789", THAI_DIGITS)

THAI_MONTHS = (
    "มกราคม",
    "กุมภาพันธ์",
    "มีนาคม",
    "เมษายน",
    "พฤษภาคม",
    "มิถุนายน",
    "กรกฎาคม",
    "สิงหาคม",
    "กันยายน",
    "ตุลาคม",
    "พฤศจิกายน",
    "ธันวาคม",
)
THAI_MONTHS_SHORT = ("ม.ค.", "ก.พ.", "มี.ค.", "เม.ย.", "พ.ค.", "มิ.ย.", "ก.ค.", "ส.ค.", "ก.ย.", "ต.ค.", "พ.ย.", "ธ.ค.")
EN_MONTHS_SHORT = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def to_arabic_digits(text: str) -> str:
    return text.translate(_TO_ARABIC)


# A code of Latin letters and digits (an ITA item "i20", "o36", "O24"; "A4"): its digits stay Arabic, since
# "o๓๖" reads as Thai zero, three, six.
_LATIN_CODE = re.compile(r"[A-Za-z]+[0-9][A-Za-z0-9]*")


def to_thai_digits(text: str) -> str:
    """Arabic digits as Thai (๐–๙), except inside codes of Latin letters and digits (i20 stays i20)."""
    out, last = [], 0
    for m in _LATIN_CODE.finditer(text):
        out.append(text[last : m.start()].translate(_TO_THAI))
        out.append(m.group())
        last = m.end()
    out.append(text[last:].translate(_TO_THAI))
    return "".join(out)


def bangkok_date(at: datetime) -> date:
    """The Asia/Bangkok calendar date of a timestamp (naive timestamps are UTC)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(BANGKOK).date()


def bangkok_today() -> date:
    """Today in the office's calendar (Asia/Bangkok): from 17:00 UTC it is already tomorrow there."""
    return datetime.now(UTC).astimezone(BANGKOK).date()


def bangkok_midnight_utc(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=BANGKOK).astimezone(UTC)


def format_date(
    value: date | datetime | None, lang: str = "th", *, long: bool = False, thai_digits: bool = False
) -> str:
    """A B.E. date: "26 พ.ย. 2569" (or the long month), "26 Nov 2569 BE" in English."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = bangkok_date(value)
    year = value.year + BE_OFFSET
    if lang == "th":
        month = (THAI_MONTHS if long else THAI_MONTHS_SHORT)[value.month - 1]
        text = f"{value.day} {month} {year}"
        return to_thai_digits(text) if thai_digits else text
    return f"{value.day} {EN_MONTHS_SHORT[value.month - 1]} {year} BE"


def format_datetime(value: datetime | None, lang: str = "th", *, thai_digits: bool = False) -> str:
    """A B.E. date with the Bangkok time of day."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    local = value.astimezone(BANGKOK)
    text = f"{format_date(local.date(), lang)} {local:%H:%M}"
    if lang == "th":
        text += " น."
    return to_thai_digits(text) if thai_digits else text


def format_numeric(value: date | None) -> str:
    """DD/MM/YYYY with a B.E. year, the form Thai offices type."""
    if value is None:
        return ""
    return f"{value.day:02d}/{value.month:02d}/{value.year + BE_OFFSET}"


_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
MIN_YEAR, MAX_YEAR = 1900, 2200  # C.E.; B.E. 2443 … 2743
_THAI = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")


def parse_date(text: str | date | datetime | None) -> date | None:
    """ISO (C.E.) or DD/MM/YYYY with a B.E. year; Thai digits allowed. Blank is None; bad raises ValueError.

    A four-digit year above 2400 is read as B.E. in either form, since no office record is dated
    after C.E. 2400 and B.E. years before 2400 are long gone.
    """
    if text is None:
        return None
    if isinstance(text, datetime):
        return text.date()
    if isinstance(text, date):
        return text
    raw = to_arabic_digits(str(text)).strip()
    if not raw:
        return None
    raw = raw.split(" ")[0] if re.match(r"^\d{4}-\d{1,2}-\d{1,2}[ T]", raw) else raw
    match = _ISO.match(raw)
    if match:
        year, month, day = (int(g) for g in match.groups())
    else:
        match = _THAI.match(raw)
        if not match:
            raise ValueError(f"not a date: {text!r} (use YYYY-MM-DD or DD/MM/YYYY in B.E.)")
        day, month, year = (int(g) for g in match.groups())
    if year > 2400:
        year -= BE_OFFSET
    if not MIN_YEAR <= year <= MAX_YEAR:
        # 0001-01-01 or 9999-12-31 is a typing error, and one a day away from overflowing a datetime
        raise ValueError(f"not a date: {text!r} (a year between {MIN_YEAR} and {MAX_YEAR} C.E.)")
    return date(year, month, day)  # raises ValueError for 31/02 and the like


def fiscal_year_of(day: date) -> int:
    """The B.E. fiscal year a date falls in (1 October – 30 September, named by its end)."""
    return day.year + BE_OFFSET + (1 if day.month >= 10 else 0)


def fiscal_year_bounds(fiscal_year_be: int) -> tuple[date, date]:
    """First and last day of a B.E. fiscal year: FY2566 = 2022-10-01 … 2023-09-30."""
    end_year = fiscal_year_be - BE_OFFSET
    return date(end_year - 1, 10, 1), date(end_year, 9, 30)
