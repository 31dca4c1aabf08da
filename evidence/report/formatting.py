"""How a document writes the report's numbers and dates: its language, its digits (Thai digits in the Thai
document where the agency asks for them, never inside hashes), units beside values, and plain cell values
for the data formats."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from datetime import date as Date  # for annotations in Formatter, whose date() hides the class
from typing import Any

from core.dates import (
    EN_MONTHS_SHORT,
    THAI_MONTHS,
    THAI_MONTHS_SHORT,
    format_date,
    format_datetime,
    to_thai_digits,
)
from evidence.report import figures as fig
from evidence.report.compute import Report
from evidence.report.words import FIGURE_LABELS, WORDS, figure_label, lang_of

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
    words = WORDS[lang_of(lang)]
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


def plain(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value
