"""The ITA catalogue of an assessment year as data: reading and checking a catalogue file, natural order of
codes, and the roles the app's automatic filings play. Pure functions: no session, no Flask.

A catalogue file (the shipped ones are evidence/catalogues/<year>.csv; `ita catalogue import` reads the
same columns from CSV or XLSX) has one row per item:

    code, instrument, group, title_th, title_en, period, role, to_confirm

`period` says which fiscal year an OIT item's evidence covers, seen from the assessment year: `current`,
`previous` (FY2569's measures-report item reports on FY2568) or `first_half` (the 6-month reports); IIT and
EIT items leave it blank. `role` names what the app files there by itself (several roles separated by
spaces, commas or semicolons); `to_confirm` marks a row whose code or wording was not checked against the
NACC's published list.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from core.dates import to_arabic_digits
from core.db import N_
from core.documents.archives import ArchiveRefused, read_first_sheet

SHIPPED_DIR = Path(__file__).parent.parent / "catalogues"  # evidence/catalogues, shipped as package data
INSTRUMENTS = ("IIT", "EIT", "OIT")
LETTER_OF = {"IIT": "i", "EIT": "e", "OIT": "o"}
CODE = re.compile(r"^[ieo][0-9]{1,3}$")
COLUMNS = ("code", "instrument", "group", "title_th", "title_en", "period", "role", "to_confirm")
REQUIRED = ("code", "instrument", "group", "title_th")
CURRENT, PREVIOUS, FIRST_HALF = "current", "previous", "first_half"
PERIODS = (CURRENT, PREVIOUS, FIRST_HALF)

# What the app files by itself, and where: a role is a name here and a code only in a year's catalogue.
BORROWING_MANUAL = "borrowing_manual"
OUTSIDERS_MANUAL = "outsiders_manual"
STOCKTAKE_RESULT = "stocktake_result"
MEASURES_REPORT = "measures_report"
MEASURES = "measures"
ANTI_CORRUPTION_PLAN = "anti_corruption_plan"
ANTI_CORRUPTION_REPORT_6M = "anti_corruption_report_6m"
ANTI_CORRUPTION_REPORT = "anti_corruption_report"
ROLES = (
    BORROWING_MANUAL,
    OUTSIDERS_MANUAL,
    STOCKTAKE_RESULT,
    MEASURES_REPORT,
    MEASURES,
    ANTI_CORRUPTION_PLAN,
    ANTI_CORRUPTION_REPORT_6M,
    ANTI_CORRUPTION_REPORT,
)
# The roles the app itself files documents into (the others are there for the admin's own uploads).
FILED_ROLES = (BORROWING_MANUAL, STOCKTAKE_RESULT, MEASURES_REPORT, OUTSIDERS_MANUAL)

_INSTRUMENT_RANK = {"i": 0, "e": 1, "o": 2}
_CODE_PARTS = re.compile(r"^([a-z]*)([0-9]*)(.*)$")
_YES = {"1", "yes", "y", "true", "x", "ใช่", "ต้องยืนยัน"}
_NO = {"", "0", "no", "n", "false", "ไม่"}
_ROLE_SPLIT = re.compile(r"[\s,;]+")


def code_key(code: str) -> tuple[int, int, str]:
    """Natural order of codes: IIT, EIT, OIT, then by number (e2 before e12)."""
    match = _CODE_PARTS.match((code or "").strip().lower())
    if match is None:  # the pattern matches any text (every part may be empty); .groups() of None would raise
        raise AttributeError("'NoneType' object has no attribute 'groups'")
    letters, digits, rest = match.groups()
    return (_INSTRUMENT_RANK.get(letters, 3), int(digits) if digits else -1, letters + rest)


def natural(codes) -> list[str]:
    """The codes, once each, in natural order."""
    return sorted(set(codes), key=code_key)


def normal_code(raw: object) -> str:
    """One spelling of a code: NFKC, Thai digits as Arabic, no spaces, lower case ("O 24" is "o24")."""
    text = unicodedata.normalize("NFKC", to_arabic_digits(str(raw if raw is not None else "")))
    return re.sub(r"\s+", "", text).lower()


def roles_of(raw: str | None) -> list[str]:
    """The roles written in a cell ("borrowing_manual; measures"), in the order of ROLES."""
    wanted = {r for r in _ROLE_SPLIT.split((raw or "").strip().lower()) if r}
    return [r for r in ROLES if r in wanted]


def covered_year(assessment_year: int, period: str) -> int:
    """The fiscal year whose evidence an item of `assessment_year` asks for."""
    return assessment_year - 1 if period == PREVIOUS else assessment_year


@dataclass
class Row:
    code: str
    instrument: str
    group: int
    title_th: str
    title_en: str = ""
    period: str = ""
    roles: list[str] = field(default_factory=list)
    to_confirm: bool = False
    position: int = 0

    def values(self) -> dict:
        """The indicator's columns as stored."""
        return {
            "code": self.code,
            "instrument": self.instrument,
            "group": self.group,
            "text_th": self.title_th,
            "text_en": self.title_en,
            "period": self.period,
            "role": " ".join(self.roles),
            "to_confirm": self.to_confirm,
            "position": self.position,
        }


@dataclass
class Problem:
    row: int  # the header is row 1
    column: str
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}, column {self.column}: {self.reason}"


@dataclass
class Parsed:
    rows: list[Row]
    problems: list[Problem]
    sha256: str


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return unicodedata.normalize("NFC", str(value)).strip()


def read_table(data: bytes, filename: str) -> list[dict[str, str]] | str:
    """The rows of a CSV (UTF-8, BOM or not) or XLSX (first sheet), keyed by the header; a string is why not."""
    if filename.lower().endswith(".xlsx") or data[:2] == b"PK":
        # checked by core.documents.archives before openpyxl reads it (entries, sizes, ratio, sheets, shared
        # strings), then streamed with the row and cell caps of the settings
        try:
            table = [[_cell(v) for v in row] for row in read_first_sheet(data)]
        except ArchiveRefused as refused:
            if refused.message in (
                N_("The spreadsheet cannot be read; save it again as XLSX or CSV."),
                N_("The document is damaged and cannot be read."),
            ):
                return "the file is not a readable XLSX workbook"
            return str(refused)
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            return "the file is not UTF-8 text (in Excel save as “CSV UTF-8”)"
        table = [[_cell(v) for v in row] for row in csv.reader(io.StringIO(text))]
    while table and not any(table[-1]):
        table.pop()
    if not table:
        return "the file is empty"
    header = [h.lower().replace(" ", "_") for h in table[0]]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        return "the header lacks the column(s) " + ", ".join(missing)
    return [dict(zip(header, row + [""] * (len(header) - len(row)), strict=False)) for row in table[1:]]


def parse(data: bytes, filename: str = "catalogue.csv") -> Parsed:
    """Read and check a catalogue file: every bad cell is a Problem naming its row and column."""
    digest = hashlib.sha256(data).hexdigest()
    table = read_table(data, filename)
    if isinstance(table, str):
        return Parsed([], [Problem(1, "-", table)], digest)
    rows: list[Row] = []
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for n, raw in enumerate(table, start=2):
        if not any((v or "").strip() for v in raw.values()):
            continue
        bad = len(problems)
        code = normal_code(raw.get("code"))
        instrument = (raw.get("instrument") or "").strip().upper()
        if not CODE.match(code):
            problems.append(Problem(n, "code", "a code is a letter i, e or o and a number, e.g. i20 or o43"))
        elif code in seen:
            problems.append(Problem(n, "code", f"{code} is also on row {seen[code]}"))
        else:
            seen[code] = n
        if instrument not in INSTRUMENTS:
            problems.append(Problem(n, "instrument", "IIT, EIT or OIT"))
        elif CODE.match(code) and LETTER_OF[instrument] != code[0]:
            problems.append(Problem(n, "instrument", f"{code} is not an {instrument} code"))
        group_text = to_arabic_digits(raw.get("group") or "").strip()
        group = int(group_text) if group_text.isascii() and group_text.isdigit() else 0
        if not 1 <= group <= 10:
            problems.append(Problem(n, "group", "a number from 1 to 10"))
        title_th = (raw.get("title_th") or "").strip()
        if not title_th:
            problems.append(Problem(n, "title_th", "required"))
        elif len(title_th) > 2000:
            problems.append(Problem(n, "title_th", "longer than 2000 characters"))
        period = (raw.get("period") or "").strip().lower()
        if period and period not in PERIODS:
            problems.append(Problem(n, "period", "current, previous, first_half or blank"))
        if instrument == "OIT" and not period:
            period = CURRENT
        if instrument in ("IIT", "EIT") and period not in ("", CURRENT):
            problems.append(Problem(n, "period", "only OIT items cover another period"))
        role_text = (raw.get("role") or "").strip().lower()
        unknown = [r for r in _ROLE_SPLIT.split(role_text) if r and r not in ROLES]
        if unknown:
            problems.append(Problem(n, "role", "unknown role " + ", ".join(unknown) + "; known: " + ", ".join(ROLES)))
        flag = (raw.get("to_confirm") or "").strip().lower()
        if flag not in _YES and flag not in _NO:
            problems.append(Problem(n, "to_confirm", "yes or no (1 or 0)"))
        if len(problems) == bad:
            rows.append(
                Row(
                    code=code,
                    instrument=instrument,
                    group=group,
                    title_th=title_th,
                    title_en=(raw.get("title_en") or "").strip()[:2000],
                    period="" if instrument != "OIT" else period,
                    roles=roles_of(role_text),
                    to_confirm=flag in _YES,
                )
            )
    if not rows and not problems:
        problems.append(Problem(1, "-", "the file has no items"))
    # The catalogue's order is the natural order of its codes, whatever order the sheet was left in (a sheet
    # sorted as text puts e12 before e2); the admin reorders on the indicators page.
    for n, row in enumerate(sorted(rows, key=lambda r: code_key(r.code)), 1):
        row.position = n
    return Parsed(rows, problems, digest)


def shipped_years() -> list[int]:
    """The assessment years whose catalogue ships with the app (evidence/catalogues/<year>.csv)."""
    return sorted(int(p.stem) for p in SHIPPED_DIR.glob("*.csv") if p.stem.isdigit())


def shipped(year: int) -> Parsed:
    """The shipped catalogue of a year, read and checked."""
    path = SHIPPED_DIR / f"{int(year)}.csv"
    return parse(path.read_bytes(), path.name)
