"""The paper ledger's file: its columns (English or Thai headers), the words it uses, and the shapes a
plan is made of (rows, loans, missing dates, the plan). The whole import is described in lending.loans.ledger.plan."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from core.dates import BANGKOK, to_arabic_digits
from core.db import N_
from lending.loans.models import (
    APPROVED,
    CANCELLED,
    CHECKED_OUT,
    DAMAGED,
    GOOD,
    LOST,
    REJECTED,
    REQUESTED,
    RETURNED,
)
from lending.register.importing import ImportFileError, RowError, uses_thai_headers

REF_PREFIX = "L-"
COLUMNS = (
    "ref",
    "asset_number",
    "borrower",
    "purpose",
    "requested_on",
    "decision",
    "decided_by",
    "decided_on",
    "checked_out_on",
    "due_on",
    "returned_on",
    "condition",
    "demanded_on",
)
REQUIRED = ("ref", "asset_number", "borrower", "purpose", "requested_on")
# Each column's Thai headers (the first is the one the downloadable template uses).
THAI_HEADERS: dict[str, tuple[str, ...]] = {
    "ref": ("เลขที่ใบยืม", "เลขที่", "เลขที่ยืม"),
    "asset_number": ("หมายเลขครุภัณฑ์", "เลขครุภัณฑ์", "รหัสครุภัณฑ์"),
    "borrower": ("ผู้ยืม (ชื่อผู้ใช้)", "ผู้ยืม"),
    "purpose": ("วัตถุประสงค์", "เพื่อใช้ในงาน"),
    "requested_on": ("วันที่ยืม", "วันที่ขอยืม"),
    "decision": ("ผลการพิจารณา", "การอนุมัติ"),
    "decided_by": ("ผู้พิจารณา (ชื่อผู้ใช้)", "ผู้พิจารณา", "ผู้อนุมัติ"),
    "decided_on": ("วันที่พิจารณา", "วันที่อนุมัติ"),
    "checked_out_on": ("วันที่ส่งมอบ", "วันที่รับของ"),
    "due_on": ("กำหนดส่งคืน", "วันครบกำหนด"),
    "returned_on": ("วันที่ส่งคืน", "วันที่คืน"),
    "condition": ("สภาพเมื่อส่งคืน", "สภาพ"),
    "demanded_on": ("วันที่ทวงคืน",),
}
_THAI_LOOKUP = {
    unicodedata.normalize("NFC", name).strip().lower(): column
    for column, names in THAI_HEADERS.items()
    for name in names
}

# The columns that describe the loan rather than the item: every row of one ref must agree on them.
LOAN_COLUMNS = (
    "borrower",
    "purpose",
    "requested_on",
    "decision",
    "decided_by",
    "decided_on",
    "checked_out_on",
    "due_on",
)
DATE_COLUMNS = ("requested_on", "decided_on", "checked_out_on", "due_on", "returned_on", "demanded_on")
# The columns a loan's holding of its assets is computed from.
HOLD_COLUMNS = frozenset(
    {
        "ref",
        "asset_number",
        "requested_on",
        "decision",
        "decided_on",
        "checked_out_on",
        "due_on",
        "returned_on",
        "condition",
    }
)

DECISIONS = {
    "approved": APPROVED,
    "rejected": REJECTED,
    "cancelled": CANCELLED,
    "canceled": CANCELLED,
    "อนุมัติ": APPROVED,
    "ไม่อนุมัติ": REJECTED,
    "ยกเลิก": CANCELLED,
}
CONDITION_WORDS = {
    "good": GOOD,
    "damaged": DAMAGED,
    "lost": LOST,
    "ปกติ": GOOD,
    "ดี": GOOD,
    "ชำรุด": DAMAGED,
    "สูญหาย": LOST,
}

MAX_REF = 40 - len(REF_PREFIX)
MAX_PURPOSE = 2000
EARLIEST, LATEST = date(1950, 1, 1), date(2200, 1, 1)
OPEN = date.max.toordinal() + 1  # the end of a holding that has not ended
CHUNK = 2000
IN_CHUNK = 900  # ids per IN (...) list, under SQLite's old 999-variable limit

_SPACES = re.compile(r"\s+")


class LedgerFileError(ImportFileError):
    """The ledger as a whole cannot be read (headers)."""


@dataclass(slots=True)
class _Row:
    row: int
    ref: str = ""
    asset_number: str = ""
    asset_id: int | None = None
    value: Decimal | None = None  # the asset's price: its value at the time of borrowing
    borrower: str = ""
    borrower_id: int | None = None
    purpose: str = ""
    requested_on: date | None = None
    decision: str = ""
    decided_by: str = ""
    decided_by_id: int | None = None
    decided_on: date | None = None
    checked_out_on: date | None = None
    due_on: date | None = None
    returned_on: date | None = None
    condition: str = ""
    demanded_on: date | None = None
    bad: set[str] = field(default_factory=set)  # columns with an error

    @property
    def status(self) -> str:
        if not self.decision:
            return REQUESTED
        if self.decision != APPROVED:
            return self.decision
        return APPROVED if self.checked_out_on is None else CHECKED_OUT


@dataclass
class LedgerLoan:
    """One loan to create: the rows of one ref."""

    ref: str  # as stored, with the prefix
    rows: list[_Row]

    @property
    def first(self) -> _Row:
        return self.rows[0]

    @property
    def status(self) -> str:
        status = self.first.status
        if status == CHECKED_OUT and all(r.condition for r in self.rows):
            return RETURNED
        return status


@dataclass(frozen=True)
class MissingDate:
    """A row accepted without a date that figures of the annual report use: those figures leave it out."""

    row: int
    ref: str  # as in the file
    column: str
    figures: tuple[str, ...]  # the report's keys, e.g. ("lending.median_days_to_decision",)


# The figures of reference/report-metrics.md that need a date a ledger may leave blank ("not recorded").
NEEDS_DECIDED_ON = ("lending.median_days_to_decision",)
_UNKNOWN_BACK = (
    "lending.items_out_at_year_end",
    "lending.items_overdue_at_year_end",
    "lending.overdue_items",
    "lending.overdue_items_demanded_within_7_days",
    "lending.overdue_items_demanded_late",
    "lending.overdue_items_not_demanded",
)
NEEDS_RETURNED_ON = {
    GOOD: (
        "lending.items_returned",
        "lending.items_returned_on_time",
        "lending.items_returned_late",
        "lending.on_time_return_rate",
        *_UNKNOWN_BACK,
    ),
    DAMAGED: (
        "lending.items_returned",
        "lending.items_returned_on_time",
        "lending.items_returned_late",
        "lending.on_time_return_rate",
        "lending.items_damaged",
        *_UNKNOWN_BACK,
    ),
    LOST: ("lending.items_lost", *_UNKNOWN_BACK),
}


@dataclass
class LedgerPlan:
    sha256: str
    rows: int = 0
    loans: list[LedgerLoan] = field(default_factory=list)
    skipped_refs: int = 0  # already imported
    skipped_rows: int = 0
    errors: list[RowError] = field(default_factory=list)
    missing: list[MissingDate] = field(default_factory=list)  # accepted, but left out of a figure
    # asset → (day, status left) of its latest hand-over or return already in the database
    db_events: dict[int, tuple[int, str]] = field(default_factory=dict)
    # filled by apply_ledger
    items: int = 0
    demands: int = 0
    incidents: int = 0
    assets_changed: int = 0
    assets_kept: int = 0  # the ledger would change the status, but the register's is newer

    @property
    def ok(self) -> bool:
        return not self.errors


# --- reading ---------------------------------------------------------------------------------------


def map_columns(header: list[str]) -> dict[int, str]:
    """Column index → column name (English names, any case, or the Thai headers); unknown or repeated
    columns raise."""
    mapping: dict[int, str] = {}
    unknown = []
    for index, name in enumerate(header):
        text = unicodedata.normalize("NFC", str(name)).strip().lower()
        key = _THAI_LOOKUP.get(text) or text.replace(" ", "_")
        if not key:
            continue
        if key not in COLUMNS:
            unknown.append(str(name))
        elif key in mapping.values():
            raise LedgerFileError(N_("The column %(column)s appears twice."), column=str(name).strip())
        else:
            mapping[index] = key
    missing = [c for c in REQUIRED if c not in mapping.values()]
    if missing:
        thai = uses_thai_headers(header)
        raise LedgerFileError(
            N_("Required columns are missing: %(columns)s"),
            columns=", ".join(THAI_HEADERS[c][0] if thai else c for c in missing),
        )
    if unknown:
        raise LedgerFileError(N_("Unknown columns: %(columns)s"), columns=", ".join(unknown))
    return mapping


def normalise_ref(raw: Any) -> str:
    """One spelling per ledger ref: NFKC, Thai digits as Arabic, spaces collapsed."""
    text = unicodedata.normalize("NFKC", to_arabic_digits(str(raw if raw is not None else "")))
    return _SPACES.sub(" ", text).strip()


def _text(raw: Any) -> str:
    value = _SPACES.sub(" ", unicodedata.normalize("NFC", str(raw if raw is not None else ""))).strip()
    return "".join(c for c in value if c.isprintable())


def _word(raw: Any) -> str:
    return unicodedata.normalize("NFC", str(raw if raw is not None else "")).strip().lower()


def noon(day: date) -> datetime:
    """Noon in Bangkok on `day`, as UTC: the timestamp an imported date is stored as."""
    return datetime.combine(day, time(12), tzinfo=BANGKOK).astimezone(UTC)
