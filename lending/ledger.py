"""The paper ledger (ทะเบียนคุมการยืม) of earlier months: `flask --app wsgi loans import FILE`, all or nothing.

read_table (shared with the asset import: CSV with or without a BOM, or XLSX) → plan_ledger (check every
row, group rows into loans, check the people, the assets, the order of the dates, and that no asset is lent
twice at once — in the file or against the database) → apply_ledger (bulk inserts in one write transaction,
with the audit entries). A file with any bad row changes nothing; every bad row is reported with its row
number (the header is row 1), column and reason.

Decisions, documented in the README ("Importing the paper ledger"):

- A ledger ref is stored as ``L-<ref>`` (Thai digits read as Arabic, spaces collapsed), so it can never
  collide with the app's own refs (``2570/00001``). A ref already in the database is skipped: importing the
  same file twice changes nothing, and the first import of a loan stands (later edits of its rows are not
  applied).
- A date D becomes the timestamp of noon in Bangkok on D, so every report that takes the Bangkok date of a
  timestamp gets D back.
- A blank date means "not recorded" and stays blank: nothing is invented. A decision needs no date (a
  request cancelled on paper often has none); an approved or rejected loan without ``decided_on`` is left
  out of the one figure that needs it, the median time to a decision, and the plan lists each such row
  (``LedgerPlan.missing``) for the command to print.
- A demand (``demanded_on``) covers its own row's item only: rows of one loan with the same date make one
  demand naming those items (``Demand.item_ids``), and the figures count it for them alone.
- An asset is held by an approved loan not yet handed over from ``requested_on`` to ``due_on`` (both
  days included), and by a handed-over item from ``checked_out_on`` until ``returned_on`` (an item that came
  back on day D may go out again on D), or for good while it is out.
- An asset's status follows the ledger (on loan, lost, in repair) only when no loan already in the
  database handed it over or received it back on or after the ledger's last date for it, and the register
  has it ``available`` or as the latest of those loans left it (in repair after a damaged return); a
  status set by hand since (in repair, lost, disposed) is newer than a paper record and stands.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, select, text, update
from sqlalchemy.exc import IntegrityError

from audit import record
from audit.services import record_many
from core.dates import BANGKOK, bangkok_date, parse_date, to_arabic_digits
from core.db import N_, Conflict, Forbidden, Session, begin_write, is_sqlite, known, starts_with, utcnow
from core.models import User
from core.people.permissions import LOANS_MANAGE
from lending.importing import ImportFileError, RowError, file_headers, name_columns, read_table, uses_thai_headers
from lending.loans import (
    APPROVED,
    CANCELLED,
    CHECKED_OUT,
    DAMAGED,
    GOOD,
    LOST,
    REJECTED,
    REQUESTED,
    RETURNED,
    Demand,
    Incident,
    Loan,
    LoanItem,
)
from lending.models import AVAILABLE, IN_REPAIR, ON_LOAN, Asset, normalise_asset_number

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


class _Checker:
    """Parses and checks single rows, with the people and assets looked up once for the whole file."""

    def __init__(
        self,
        users: dict[str, int],
        assets: dict[str, tuple[int, Decimal | None, str]],
        today: date,
        errors: list[RowError],
    ):
        self.users, self.assets, self.today, self.errors = users, assets, today, errors
        # The same people, assets, purposes and dates recur on many rows: each raw value is read once.
        self._dates: dict[Any, date | str | None] = {}
        self._cache: dict[Callable[[Any], str], dict[Any, str]] = defaultdict(dict)

    def clean(self, how: Callable[[Any], str], raw: Any) -> str:
        cache = self._cache[how]
        value = cache.get(raw)
        if value is None:
            value = cache[raw] = how(raw)
        return value

    def error(self, row: _Row, column: str, reason: str, value: Any = "", /, **params: Any) -> None:
        row.bad.add(column)
        self.errors.append(
            RowError(row.row, column, reason, str(value if value is not None else "")[:100], tuple(params.items()))
        )

    @staticmethod
    def _read_date(raw: Any) -> date | str | None:
        """The date, None when blank, or the reason (a msgid) it cannot be used."""
        try:
            day = parse_date(raw if isinstance(raw, date) else str(raw if raw is not None else ""))
        except ValueError:
            return N_("not a date (use YYYY-MM-DD, or DD/MM/YYYY with a B.E. year)")
        if day is not None and not (EARLIEST <= day <= LATEST):
            return N_("the date is out of range")
        return day

    def date(self, row: _Row, column: str, raw: Any) -> date | None:
        try:
            day = self._dates[raw]
        except KeyError:
            day = self._dates[raw] = self._read_date(raw)
        if day is None:
            return None
        if isinstance(day, str):
            self.error(row, column, day, raw)
            return None
        if column != "due_on" and day > self.today:
            self.error(row, column, N_("the date is in the future"), raw)
            return None
        return day

    def parse(self, rownum: int, raw: dict[str, Any]) -> _Row:
        row = _Row(rownum)
        for column in REQUIRED:
            value = raw.get(column)
            if value is None or (isinstance(value, str) and not value.strip()):
                self.error(row, column, N_("required"))
        if "ref" not in row.bad:
            row.ref = self.clean(normalise_ref, raw["ref"])
            if len(row.ref) > MAX_REF:
                self.error(row, "ref", N_("too long (at most %(n)d characters)"), raw["ref"], n=MAX_REF)
        if "asset_number" not in row.bad:
            row.asset_number = self.clean(normalise_asset_number, raw["asset_number"])
            found = self.assets.get(row.asset_number)
            if found is None:
                self.error(row, "asset_number", N_("no asset with this number in the register"), raw["asset_number"])
            else:
                row.asset_id, row.value = found[0], found[1]
        if "borrower" not in row.bad:
            row.borrower = self.clean(_word, raw["borrower"])
            row.borrower_id = self.users.get(row.borrower)
            if row.borrower_id is None:
                self.error(row, "borrower", N_("no user with this username"), raw["borrower"])
        if "purpose" not in row.bad:
            row.purpose = self.clean(_text, raw["purpose"])
            if len(row.purpose) > MAX_PURPOSE:
                self.error(row, "purpose", N_("too long (at most %(n)d characters)"), n=MAX_PURPOSE)
        decision = self.clean(_word, raw.get("decision"))
        if decision:
            row.decision = DECISIONS.get(decision, "")
            if not row.decision:
                self.error(
                    row,
                    "decision",
                    N_("use approved, rejected or cancelled, or leave it blank while the request waits"),
                    raw.get("decision"),
                )
        decided_by = self.clean(_word, raw.get("decided_by"))
        if decided_by:
            row.decided_by = decided_by
            row.decided_by_id = self.users.get(decided_by)
            if row.decided_by_id is None:
                self.error(row, "decided_by", N_("no user with this username"), raw.get("decided_by"))
        condition = self.clean(_word, raw.get("condition"))
        if condition:
            row.condition = CONDITION_WORDS.get(condition, "")
            if not row.condition:
                self.error(row, "condition", N_("use good, damaged or lost"), raw.get("condition"))
        for column in DATE_COLUMNS:
            if column not in row.bad:
                setattr(row, column, self.date(row, column, raw.get(column)))
        self._check_order(row, raw)
        return row

    @staticmethod
    def _in_order(row: _Row) -> bool:
        """The rules of _check_order for a row with no error yet, in short: True when it keeps them all.

        Most rows do; this spares them the bookkeeping that names the column and the reason. The error
        tests (tests/integration/test_ledger_import.py) hold both versions to the same rules.
        """
        decision, requested, decided, out = row.decision, row.requested_on, row.decided_on, row.checked_out_on
        due, back, condition, demanded = row.due_on, row.returned_on, row.condition, row.demanded_on
        if requested is None:  # not for a row without errors (it is required): the full check answers
            return False
        if not decision:
            if row.decided_by or decided or out:
                return False
        else:
            if (decision != APPROVED and out) or (decision == APPROVED and not due):
                return False
            if decision in (APPROVED, REJECTED) and (not row.decided_by or row.decided_by_id == row.borrower_id):
                return False
        if (decided and decided < requested) or (out and decided and out < decided):
            return False
        if due and due < (out or requested):
            return False
        if back:
            if not out or back < out or not condition:
                return False
        elif condition and not out:  # back or lost on a day not recorded: it was handed over, though
            return False
        return not demanded or bool(out and demanded >= out and (not back or demanded <= back))

    def _check_order(self, row: _Row, raw: dict[str, Any]) -> None:
        """The rules between the columns of one row; each is checked only when its values could be read."""
        bad = row.bad
        if not bad and self._in_order(row):
            return

        def given(column: str) -> bool:
            return column not in bad and bool(getattr(row, column))

        def show(column: str) -> Any:
            return raw.get(column)

        # given(column) implies its value is set; the values beside it below are for the type checker
        requested, decided, out = row.requested_on, row.decided_on, row.checked_out_on
        due, back, demanded = row.due_on, row.returned_on, row.demanded_on

        if "decision" not in bad:
            if not row.decision:
                for column in ("decided_by", "decided_on", "checked_out_on"):
                    if given(column):
                        reason = N_("given, but the decision is blank (the request still waits)")
                        self.error(row, column, reason, show(column))
            else:
                if row.decision in (APPROVED, REJECTED) and not row.decided_by and "decided_by" not in bad:
                    self.error(row, "decided_by", N_("required when the request was approved or rejected"))
                if (
                    row.decision in (APPROVED, REJECTED)
                    and row.decided_by_id is not None
                    and row.decided_by_id == row.borrower_id
                ):
                    self.error(row, "decided_by", N_("nobody decides their own request"), show("decided_by"))
                if row.decision != APPROVED and given("checked_out_on"):
                    self.error(
                        row, "checked_out_on", N_("only an approved request is handed over"), show("checked_out_on")
                    )
                if row.decision == APPROVED and not row.due_on and "due_on" not in bad:
                    self.error(row, "due_on", N_("required for an approved loan"))
        if given("decided_on") and given("requested_on") and decided and requested and decided < requested:
            self.error(
                row,
                "decided_on",
                N_("before the request date (%(date)s)"),
                show("decided_on"),
                date=requested.isoformat(),
            )
        if given("checked_out_on") and given("decided_on") and out and decided and out < decided:
            self.error(
                row,
                "checked_out_on",
                N_("before the decision date (%(date)s)"),
                show("checked_out_on"),
                date=decided.isoformat(),
            )
        if given("due_on") and due:
            if given("checked_out_on") and out:
                if due < out:
                    self.error(
                        row,
                        "due_on",
                        N_("before the hand-over date (%(date)s)"),
                        show("due_on"),
                        date=out.isoformat(),
                    )
            elif given("requested_on") and requested and due < requested:
                self.error(
                    row,
                    "due_on",
                    N_("before the request date (%(date)s)"),
                    show("due_on"),
                    date=requested.isoformat(),
                )
        handed_over = given("checked_out_on")
        if given("returned_on") and back:
            if not handed_over or not out:
                if "checked_out_on" not in bad:
                    self.error(
                        row, "returned_on", N_("a return needs a hand-over date (checked_out_on)"), show("returned_on")
                    )
            elif back < out:
                self.error(
                    row,
                    "returned_on",
                    N_("before the hand-over date (%(date)s)"),
                    show("returned_on"),
                    date=out.isoformat(),
                )
            if not row.condition and "condition" not in bad:
                self.error(row, "condition", N_("required when the item came back or was lost: good, damaged or lost"))
        elif row.condition and "returned_on" not in bad and not handed_over and "checked_out_on" not in bad:
            # back or lost on a day the ledger does not give is accepted (below), but only after a hand-over
            self.error(row, "condition", N_("a return needs a hand-over date (checked_out_on)"), show("condition"))
        if given("demanded_on") and demanded:
            if not handed_over or not out:
                if "checked_out_on" not in bad:
                    self.error(
                        row, "demanded_on", N_("a demand needs a hand-over date (checked_out_on)"), show("demanded_on")
                    )
            elif demanded < out:
                self.error(
                    row,
                    "demanded_on",
                    N_("before the hand-over date (%(date)s)"),
                    show("demanded_on"),
                    date=out.isoformat(),
                )
            elif given("returned_on") and back and demanded > back:
                self.error(
                    row,
                    "demanded_on",
                    N_("after the item came back (%(date)s)"),
                    show("demanded_on"),
                    date=back.isoformat(),
                )


# The status an item leaves its asset in: still out, or back in this condition.
_TARGET = {None: ON_LOAN, GOOD: AVAILABLE, DAMAGED: IN_REPAIR, LOST: "lost"}


# --- holding periods -------------------------------------------------------------------------------


@dataclass(slots=True)
class _Hold:
    start: int  # date ordinal, included
    end: int  # date ordinal, excluded; OPEN while the item is out
    last: date | None  # the day it ends, as the person knows it: returned_on or due_on
    ref: str
    row: _Row | None  # None: a loan already in the database


def _holds_of(loan: LedgerLoan) -> list[tuple[int, _Hold]]:
    """(asset id, holding) of each item of a file loan that holds its asset."""
    status = loan.first.status
    out = []
    for r in loan.rows:  # checked rows: what their loan's status needs is there
        if status == APPROVED:
            due = known(r.due_on, "due date")
            hold = _Hold(known(r.requested_on, "request date").toordinal(), due.toordinal() + 1, due, loan.ref, r)
        elif status == CHECKED_OUT:
            start = known(r.checked_out_on, "hand-over date").toordinal()
            if r.returned_on:
                hold = _Hold(start, r.returned_on.toordinal(), r.returned_on, loan.ref, r)
            elif r.condition:  # back on a day not recorded: held on the day of the hand-over, at least
                hold = _Hold(start, start + 1, r.checked_out_on, loan.ref, r)
            else:
                hold = _Hold(start, OPEN, None, loan.ref, r)
        else:
            continue
        out.append((known(r.asset_id, "asset"), hold))
    return out


def _database_holds(
    session: Session, asset_ids: list[int], events: dict[int, tuple[int, str]]
) -> dict[int, list[_Hold]]:
    """The holdings of loans already in the database (approved, handed over, returned) of these assets.

    Fills `events`: per asset, the day of the latest hand-over or return in the database and the status
    it left (for the rule on asset statuses, _update_asset_statuses).
    """
    holds: dict[int, list[_Hold]] = defaultdict(list)
    for start in range(0, len(asset_ids), IN_CHUNK):
        chunk = asset_ids[start : start + IN_CHUNK]
        rows = session.execute(
            select(
                LoanItem.asset_id,
                Loan.ref,
                Loan.status,
                Loan.start_on,
                Loan.due_on,
                Loan.checked_out_at,
                LoanItem.condition,
                LoanItem.returned_at,
            )
            .join(Loan, Loan.id == LoanItem.loan_id)
            .where(LoanItem.asset_id.in_(chunk))
        )
        # The status is filtered here, not in SQL: given `status IN (...)`, SQLite walks every returned
        # loan through the status index and probes each asset, which takes minutes with 100,000 loans.
        for asset_id, ref, status, start_on, due_on, checked_out_at, condition, returned_at in rows:
            if status not in (APPROVED, CHECKED_OUT, RETURNED):
                continue
            if status == APPROVED:
                hold = _Hold(start_on.toordinal(), due_on.toordinal() + 1, due_on, ref, None)
            else:
                begin = bangkok_date(checked_out_at) if checked_out_at else start_on
                back = bangkok_date(returned_at) if condition and returned_at else None
                if condition and back is None:  # back on a day not recorded (an import): see _holds_of
                    hold = _Hold(begin.toordinal(), begin.toordinal() + 1, begin, ref, None)
                    event = (hold.start, _TARGET[condition])
                else:
                    hold = _Hold(begin.toordinal(), back.toordinal() if back else OPEN, back, ref, None)
                    event = (max(hold.start, hold.end), _TARGET[condition] if back else ON_LOAN)
                if asset_id not in events or event[0] > events[asset_id][0]:
                    events[asset_id] = event
            holds[asset_id].append(hold)
    return holds


def _check_overlaps(
    checker: _Checker, file_holds: dict[int, list[_Hold]], db_holds: dict[int, list[_Hold]], numbers: dict[int, str]
) -> None:
    """Per asset, sweep its holdings in order of start: each one that starts before the furthest-reaching
    earlier one ends overlaps it. A clash between two database loans is not this file's to report."""
    for asset_id, mine in file_holds.items():
        holds = sorted(
            (h for h in (*mine, *db_holds.get(asset_id, ())) if h.end > h.start), key=lambda h: (h.start, h.end)
        )
        reach: _Hold | None = None
        for hold in holds:
            if reach is not None and hold.start < reach.end:
                if hold.row is not None:
                    _clash(checker, hold, reach, numbers[asset_id])
                elif reach.row is not None:
                    _clash(checker, reach, hold, numbers[asset_id])
            if reach is None or hold.end > reach.end:
                reach = hold


def _clash(checker: _Checker, hold: _Hold, other: _Hold, number: str) -> None:
    row = known(hold.row, "row")  # the caller passes a file row's holding first
    if "asset_number" in row.bad:
        return
    start = date.fromordinal(other.start).isoformat()
    if other.end == OPEN:
        end_params: dict[str, Any] = {}
        if other.row is not None:
            reason = N_(
                "%(number)s is lent twice at once: row %(row)d (ref %(ref)s) has it from %(start)s "
                "and it has not come back"
            )
        else:
            reason = N_("%(number)s is lent twice at once: loan %(ref)s has it from %(start)s and it has not come back")
    else:
        end_params = {"end": known(other.last, "last day").isoformat()}  # a closed holding has one
        if other.row is not None:
            reason = N_("%(number)s is lent twice at once: row %(row)d (ref %(ref)s) has it from %(start)s to %(end)s")
        else:
            reason = N_("%(number)s is lent twice at once: loan %(ref)s has it from %(start)s to %(end)s")
    params: dict[str, Any] = {"number": number, "ref": other.ref, "start": start, **end_params}
    if other.row is not None:
        params["row"] = other.row.row
        params["ref"] = other.ref[len(REF_PREFIX) :]
    checker.error(row, "asset_number", reason, row.asset_number, **params)


# --- planning --------------------------------------------------------------------------------------


def plan_ledger(
    session: Session,
    data: bytes,
    filename: str = "",
    progress: Callable[[int], None] | None = None,
    today: date | None = None,
) -> LedgerPlan:
    """Check every row of the ledger and group them into loans; changes nothing."""
    today = today or bangkok_date(utcnow())
    header, table = read_table(data, filename)
    mapping = map_columns(header)
    plan = LedgerPlan(sha256=hashlib.sha256(data).hexdigest())
    users = {name: uid for uid, name in session.execute(select(User.id, User.username))}
    assets = {
        number: (aid, price, status)
        for aid, number, price, status in session.execute(
            select(Asset.id, Asset.asset_number, Asset.price, Asset.status)
        )
    }
    existing = set(session.scalars(select(Loan.ref).where(starts_with(Loan.ref, REF_PREFIX))))
    checker = _Checker(users, assets, today, plan.errors)

    groups: dict[str, list[_Row]] = {}
    for offset, values in enumerate(table):
        if not any(str(v).strip() for v in values if v is not None):
            continue
        plan.rows += 1
        raw = {column: (values[i] if i < len(values) else "") for i, column in mapping.items()}
        row = checker.parse(offset + 2, raw)  # the header is row 1, as in Excel
        if row.ref:
            groups.setdefault(row.ref, []).append(row)
        if progress and plan.rows % 1000 == 0:
            progress(1000)
    if progress:
        progress(plan.rows % 1000)

    for ref, rows in groups.items():
        first = rows[0]
        seen: dict[int, int] = {}
        for row in rows[1:]:
            for column in LOAN_COLUMNS:
                if column in row.bad or column in first.bad:
                    continue
                if getattr(row, column) != getattr(first, column):
                    checker.error(
                        row,
                        column,
                        N_("differs from row %(row)d of the same loan (ref %(ref)s)"),
                        getattr(row, column) or "",
                        row=first.row,
                        ref=ref,
                    )
        for row in rows:
            if row.asset_id is None:
                continue
            if row.asset_id in seen:
                checker.error(
                    row,
                    "asset_number",
                    N_("the same asset is on row %(row)d of this loan"),
                    row.asset_number,
                    row=seen[row.asset_id],
                )
            else:
                seen[row.asset_id] = row.row
        stored = REF_PREFIX + ref
        if stored in existing:
            plan.skipped_refs += 1
            plan.skipped_rows += len(rows)
        else:
            plan.loans.append(LedgerLoan(stored, rows))

    # A loan whose dates and assets could be read is checked for clashes even when another of its
    # columns is wrong, so that one run reports every bad row.
    file_holds: dict[int, list[_Hold]] = defaultdict(list)
    for loan in plan.loans:
        if any(r.bad & HOLD_COLUMNS for r in loan.rows):
            continue
        for asset_id, hold in _holds_of(loan):
            file_holds[asset_id].append(hold)
    if file_holds:
        asset_ids = sorted(file_holds)
        if not is_sqlite(session):  # the in-app approval locks these rows too; wait for it, then check
            for start in range(0, len(asset_ids), IN_CHUNK):
                session.execute(
                    select(Asset.id).where(Asset.id.in_(asset_ids[start : start + IN_CHUNK])).with_for_update()
                )
        numbers = {aid: number for number, (aid, _price, _status) in assets.items() if aid in file_holds}
        _check_overlaps(checker, file_holds, _database_holds(session, asset_ids, plan.db_events), numbers)
    if plan.errors:
        plan.errors.sort(key=lambda e: (e.row, COLUMNS.index(e.column) if e.column in COLUMNS else 99))
        plan.loans = [loan for loan in plan.loans if not any(r.bad for r in loan.rows)]
        plan.errors[:] = name_columns(plan.errors, file_headers(header, mapping))
    plan.missing = missing_dates(plan.loans)
    return plan


def missing_dates(loans: list[LedgerLoan]) -> list[MissingDate]:
    """The rows of these loans that lack a date a figure uses, with the figure that leaves them out.

    A blank date means "not recorded": it is never filled in. A cancelled request needs no date at all (no
    figure counts the day of a cancellation); an approved or rejected one without `decided_on` is counted
    as approved or rejected but left out of the median time to a decision. An item with a condition but
    no `returned_on` came back (or was lost) on a day not recorded: it is no longer out, but the figures
    that ask whether it was back by a day (returned in the year, on time, out or overdue at the year's end,
    overdue by its due date) leave it out."""
    out = []
    for loan in loans:
        ref = loan.ref[len(REF_PREFIX) :]
        for r in loan.rows:
            if r.decision in (APPROVED, REJECTED) and r.decided_on is None:
                out.append(MissingDate(r.row, ref, "decided_on", NEEDS_DECIDED_ON))
            if r.condition and r.returned_on is None:
                out.append(MissingDate(r.row, ref, "returned_on", NEEDS_RETURNED_ON[r.condition]))
    return sorted(out, key=lambda m: (m.row, COLUMNS.index(m.column)))


# --- applying --------------------------------------------------------------------------------------


def apply_ledger(
    session: Session,
    actor: User | None,
    data: bytes,
    filename: str = "",
    progress: Callable[[int], None] | None = None,
    now: datetime | None = None,
) -> LedgerPlan:
    """Check the whole ledger and, when every row is good, import its new loans in one write transaction.

    Returns the plan: with errors (and nothing changed), or with what was created.
    """
    if actor is not None and not actor.can(LOANS_MANAGE):
        raise Forbidden(N_("You may not do this."))
    now = now or utcnow()
    begin_write(session)
    plan = plan_ledger(session, data, filename, progress, today=bangkok_date(now))
    if not plan.ok or not plan.loans:
        session.rollback()
        return plan
    try:
        _write(session, actor, plan, filename, progress, now)
    except IntegrityError:  # PostgreSQL: another import of the same refs committed while this one ran
        session.rollback()
        raise Conflict(
            N_(
                "Another import wrote some of these loans while this one ran; nothing was "
                "imported. Run the import again."
            )
        ) from None
    session.commit()
    return plan


def _write(
    session: Session,
    actor: User | None,
    plan: LedgerPlan,
    filename: str,
    progress: Callable[[int], None] | None,
    now: datetime,
) -> None:
    """The loans of a good plan, their items, demands, cases, asset statuses and audit entries."""
    noons: dict[date, datetime] = {}

    def at(day: date | None) -> datetime | None:
        if day is None:
            return None
        stamp = noons.get(day)
        if stamp is None:
            stamp = noons[day] = noon(day)
        return stamp

    # Ids are reserved first, so that the rows go in as plain executemany inserts (RETURNING with its
    # order kept costs SQLite three times as much) and items, demands and cases can point at them.
    loan_ids = _reserve_ids(session, Loan, len(plan.loans))
    _insert(
        session, Loan, [_loan_values(loan, loan_id, at) for loan, loan_id in zip(plan.loans, loan_ids, strict=True)]
    )
    plan.items = sum(len(loan.rows) for loan in plan.loans)
    item_ids = iter(_reserve_ids(session, LoanItem, plan.items))
    items, demands, incidents, audit_items = [], [], [], []
    for loan, loan_id in zip(plan.loans, loan_ids, strict=True):
        by_day: dict[date, list[int]] = defaultdict(list)
        for r in loan.rows:
            item_id = next(item_ids)
            items.append(
                {
                    "id": item_id,
                    "loan_id": loan_id,
                    "asset_id": r.asset_id,
                    "value": r.value,
                    "condition": r.condition or None,
                    "returned_at": at(r.returned_on),
                    "received_by_id": None,
                    "return_note": "",
                    "version": 1,
                }
            )
            if r.demanded_on:
                by_day[r.demanded_on].append(item_id)
            if r.condition in (DAMAGED, LOST):
                incidents.append(
                    {
                        "loan_item_id": item_id,
                        "asset_id": r.asset_id,
                        "kind": r.condition,
                        "value": r.value,
                        "description": "",
                        # the case opens on the day of the return or loss; when the ledger does not
                        # give it, on the day of the import (when the case was in fact opened)
                        "opened_at": at(r.returned_on) or now,
                        "opened_by_id": None,
                        "status": "open",
                        "resolution": None,
                        "amount": None,
                        "resolution_note": "",
                        "settled_at": None,
                        "settled_by_id": None,
                        "version": 1,
                    }
                )
        for day in sorted(by_day):
            demands.append(
                {
                    "loan_id": loan_id,
                    "demanded_on": day,
                    "demanded_at": at(day),
                    "channel": "ledger",
                    "issued_by_id": None,
                    "item_ids": by_day[day],
                }
            )
        first = loan.first
        audit_items.append(
            (
                ("loan", loan_id),
                {
                    "ref": loan.ref,
                    "row": first.row,
                    "status": loan.status,
                    "borrower": first.borrower,
                    "decided_by": first.decided_by or None,
                    "assets": [r.asset_number for r in loan.rows],
                    "import": plan.sha256,
                },
            )
        )
    _insert(session, LoanItem, items, progress)
    _insert(session, Demand, demands)
    _insert(session, Incident, incidents)
    plan.demands, plan.incidents = len(demands), len(incidents)

    status_entries = _update_asset_statuses(session, plan, now)
    record_many(session, actor, "loan.imported", audit_items)
    record_many(session, actor, "asset.status_changed", status_entries)
    counts: dict[str, int] = defaultdict(int)
    for loan in plan.loans:
        counts[loan.status] += 1
    record(
        session,
        actor,
        "loans.imported",
        ("import", plan.sha256[:16]),
        {
            "sha256": plan.sha256,
            "filename": filename[:255],
            "rows": plan.rows,
            "loans": len(plan.loans),
            "items": plan.items,
            "statuses": dict(counts),
            "demands": plan.demands,
            "incidents": plan.incidents,
            "dates_not_recorded": len(plan.missing),
            "skipped_refs": plan.skipped_refs,
            "assets_changed": plan.assets_changed,
            "assets_kept": plan.assets_kept,
        },
    )


def _reserve_ids(session: Session, model: type[Any], n: int) -> list[int]:
    """`n` new primary keys for `model`'s table, taken before its rows are inserted."""
    if n == 0:
        return []
    table = model.__table__
    if session.get_bind().dialect.name == "postgresql":
        return list(
            session.scalars(
                text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"),
                {"t": table.name, "n": n},
            )
        )
    # SQLite: the write transaction (BEGIN IMMEDIATE) holds the database's one write lock, so nobody else
    # can take these ids before the rows are in; an id is the largest one plus one, as SQLite does itself.
    top = session.scalar(select(func.max(table.c.id))) or 0
    return list(range(top + 1, top + n + 1))


def _insert(
    session: Session, model: type[Any], rows: list[dict[str, Any]], progress: Callable[[int], None] | None = None
) -> None:
    # Core inserts of the table: the ORM's bulk insert splits a batch wherever the pattern of blank values
    # changes, which here is almost every row.
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        session.execute(model.__table__.insert(), chunk)
        if progress:
            progress(len(chunk))


def _loan_values(loan: LedgerLoan, loan_id: int, at: Callable[[date | None], datetime | None]) -> dict[str, Any]:
    r = loan.first
    status = loan.status
    decided = r.decision in (APPROVED, REJECTED)
    start_on = r.checked_out_on or r.requested_on
    backs = [x.returned_on for x in loan.rows]
    # the day the last item came back; not recorded when any item's day is not
    returned_at = max(b for b in backs if b is not None) if status == RETURNED and all(backs) else None
    return {
        "id": loan_id,
        "ref": loan.ref,
        "borrower_id": r.borrower_id,
        "purpose": r.purpose,
        "place": "",
        "off_premises": False,
        "start_on": start_on,
        "due_on": r.due_on or start_on,
        "status": status,
        "requested_at": at(r.requested_on),
        "needs_head": False,
        "officer_id": r.decided_by_id if r.decision == APPROVED else None,
        "officer_at": at(r.decided_on) if r.decision == APPROVED else None,
        "head_id": None,
        "head_at": None,
        "decided_at": at(r.decided_on) if decided else None,
        "decided_by_id": r.decided_by_id if decided else None,
        "decision_note": "",
        "cancelled_at": at(r.decided_on) if r.decision == CANCELLED else None,
        "checked_out_at": at(r.checked_out_on),
        "checked_out_by_id": None,
        "handover_note": "",
        "receipt_confirmed_at": None,
        "returned_at": at(returned_at),
        "imported": True,
        "version": 1,
    }


def _update_asset_statuses(session: Session, plan: LedgerPlan, now: datetime) -> list[tuple[Any, dict[str, Any]]]:
    """Set the status of each asset whose latest event in the ledger is newer than anything the app knows.

    The ledger's last word on an asset is its item handed over most recently (still out → on loan; back →
    available, in repair or lost). It is applied only when no other loan in the database handed the asset
    over or received it back on or after that day, and the register's status is `available` or the one
    the latest of those loans left (in repair after a damaged return, say): a status set by hand since
    (in repair, lost, disposed) is newer information than a paper record and stands.
    """
    latest: dict[int, tuple[int, int, str | None, str]] = {}  # asset → (end, start, condition, ref)
    for loan in plan.loans:
        if loan.first.checked_out_on is None:
            continue
        for r in loan.rows:
            out_on, asset_id = known(r.checked_out_on, "hand-over date"), known(r.asset_id, "asset")  # (as the first)
            if r.returned_on:
                end = r.returned_on.toordinal()
            elif r.condition:  # back or lost on a day not recorded: on the day of the hand-over at the earliest
                end = out_on.toordinal()
            else:
                end = OPEN
            key = (end, out_on.toordinal(), r.condition or None, loan.ref)
            if asset_id not in latest or key[:2] > latest[asset_id][:2]:
                latest[asset_id] = key
    if not latest:
        return []
    asset_ids = sorted(latest)
    current: dict[int, str] = {}  # read again: the assets are locked now (PostgreSQL) or always were (SQLite)
    for start in range(0, len(asset_ids), IN_CHUNK):
        current.update(
            (i, st)
            for i, st in session.execute(
                select(Asset.id, Asset.status).where(Asset.id.in_(asset_ids[start : start + IN_CHUNK]))
            )
        )
    changes, entries = [], []
    for asset_id, (end, start_day, condition, ref) in latest.items():
        target = _TARGET[condition] if end != OPEN else ON_LOAN
        status = current.get(asset_id)
        if status == target:
            continue
        ledger_day = start_day if end == OPEN else end
        last_day, left = plan.db_events.get(asset_id, (0, AVAILABLE))
        if last_day >= ledger_day or status not in (AVAILABLE, left):
            plan.assets_kept += 1
            continue
        changes.append({"b_id": asset_id, "b_status": target})
        entries.append(
            (
                ("asset", asset_id),
                {"before": {"status": status}, "after": {"status": target}, "loan": ref, "import": plan.sha256},
            )
        )
    table = cast(Table, Asset.__table__)  # a model's table is a Table
    stmt = (
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values(status=bindparam("b_status"), version=table.c.version + 1, updated_at=now)
    )
    for start in range(0, len(changes), CHUNK):
        session.execute(stmt, changes[start : start + CHUNK])
    plan.assets_changed = len(changes)
    return entries
