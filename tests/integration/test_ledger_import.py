"""The paper ledger (ทะเบียนคุมการยืม): `flask --app wsgi loans import FILE`, lending/loans/ledger/.

The database is shared by the whole session and never emptied, so every test makes its own people, assets
and refs, and asserts on its own records: the loans, their items, demands and incidents, the assets'
status, and the audit entries the import left. Ledger dates lie in FY2566 (2022-10 … 2023-09).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from types import SimpleNamespace

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from audit.models import AuditEntry
from core.dates import bangkok_date, to_thai_digits
from core.db import Conflict
from lending.loans import services as workflow
from lending.loans.ledger import plan as ledger
from lending.loans.models import (
    APPROVED,
    CANCELLED,
    CHECKED_OUT,
    REJECTED,
    REQUESTED,
    RETURNED,
    Demand,
    Incident,
    Loan,
    LoanItem,
)
from lending.loans.services import ItemReturn
from lending.register import services as asset_services
from lending.register.models import Asset
from tests.conftest import unique

COLUMNS = list(ledger.COLUMNS)
IN_APP_NOW = datetime(2031, 3, 2, 3, 0, tzinfo=UTC)  # the in-app side of a test lives in 2031, as elsewhere


# --- helpers ---------------------------------------------------------------------------------------


def csv_bytes(rows: list[dict[str, object]], *, bom: bool = True, header: list[str] | None = None) -> bytes:
    """A ledger as Excel saves "CSV UTF-8": a BOM, CRLF; missing columns are blank."""
    header = header or COLUMNS
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([row.get(c, "") for c in header])
    return (("\ufeff" if bom else "") + buf.getvalue()).encode("utf-8")


def be(day: date, thai: bool = False) -> str:
    """DD/MM/YYYY with the B.E. year, optionally in Thai digits, as offices type it."""
    text = f"{day.day:02d}/{day.month:02d}/{day.year + 543}"
    return to_thai_digits(text) if thai else text


def noon_utc(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 5, 0, tzinfo=UTC)


def utc(at: datetime | None) -> datetime | None:
    """A stored timestamp as aware UTC (SQLite hands them back naive)."""
    return None if at is None else (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC)


def loans_of(session, refs: list[str]) -> dict[str, Loan]:
    """The loans stored for these ledger refs, by ledger ref, as the database has them now."""
    session.rollback()
    found = session.scalars(select(Loan).where(Loan.ref.in_([ledger.REF_PREFIX + r for r in refs])))
    return {loan.ref[len(ledger.REF_PREFIX) :]: loan for loan in found}


def audit_count(session) -> int:
    session.rollback()
    return session.scalar(select(func.count()).select_from(AuditEntry))


def loan_count(session) -> int:
    session.rollback()
    return session.scalar(select(func.count()).select_from(Loan))


def fresh_asset(session, asset_id: int) -> Asset:
    session.rollback()
    return session.get(Asset, asset_id)


def run_cli(app, tmp_path, data: bytes, *args: str, name: str = "ledger.csv"):
    path = tmp_path / name
    path.write_bytes(data)
    return app.test_cli_runner().invoke(args=["loans", "import", str(path), *args])


def where(plan) -> set[tuple[int, str]]:
    return {(e.row, e.column) for e in plan.errors}


@pytest.fixture
def people(make_user):
    """Two borrowers, two supply officers and a head, fresh for the test."""
    return SimpleNamespace(
        somchai=make_user(roles=["staff"]),
        malee=make_user(roles=["staff"]),
        officer=make_user(roles=["supply_officer"]),
        officer2=make_user(roles=["supply_officer"]),
        head=make_user(roles=["head"]),
    )


def approve_in_app(session, people, asset_ids: list[int]) -> Loan:
    """Malee's request for 5–8 March 2031, approved in the app (by the head too where policy asks)."""
    loan = workflow.request_loan(
        session,
        people.malee,
        asset_ids,
        purpose="ประชุม",
        place="ห้องประชุม",
        off_premises=False,
        start_on=date(2031, 3, 5),
        due_on=date(2031, 3, 8),
        now=IN_APP_NOW,
    )
    loan = workflow.approve_loan(session, people.officer, loan.id, now=IN_APP_NOW)
    if loan.status != APPROVED:
        loan = workflow.approve_loan(session, people.head, loan.id, now=IN_APP_NOW)
    assert loan.status == APPROVED
    return loan


@pytest.fixture
def assets(make_asset):
    """Six assets of known price, fresh for the test."""
    prices = ["4500.00", "350.00", "12500.00", "18900.00", "350.00", "2990.00"]
    return [make_asset(price=Decimal(p)) for p in prices]


def good_row(people, asset, ref: str, **over) -> dict[str, object]:
    """One item of a loan that went out and came back in good order, in ISO dates."""
    return {
        "ref": ref,
        "asset_number": asset.asset_number,
        "borrower": people.somchai.username,
        "purpose": "จัดประชุมประชาคมหมู่บ้าน",
        "requested_on": "2023-01-09",
        "decision": "approved",
        "decided_by": people.officer.username,
        "decided_on": "2023-01-10",
        "checked_out_on": "2023-01-12",
        "due_on": "2023-01-16",
        "returned_on": "2023-01-16",
        "condition": "good",
        **over,
    }


# --- a good ledger ---------------------------------------------------------------------------------


def test_a_good_ledger_imports_every_loan_item_demand_and_incident_with_its_dates(session, people, assets):
    a = assets
    refs = [unique("R") for _ in range(6)]
    out, back, rejected, cancelled, pending, approved = refs
    rows = [
        # a loan of two items in B.E. dates with Thai digits: one came back, one is still out and was demanded
        {
            "ref": out,
            "asset_number": to_thai_digits(a[0].asset_number),
            "borrower": people.somchai.username,
            "purpose": "ใช้ในงานวันเด็กแห่งชาติ",
            "requested_on": be(date(2023, 1, 3), thai=True),
            "decision": "approved",
            "decided_by": people.officer.username,
            "decided_on": be(date(2023, 1, 4)),
            "checked_out_on": "2023-01-05",
            "due_on": be(date(2023, 1, 15), thai=True),
            "returned_on": "2023-01-14",
            "condition": "good",
        },
        {
            "ref": out,
            "asset_number": a[1].asset_number,
            "borrower": people.somchai.username.upper(),
            "purpose": "ใช้ในงานวันเด็กแห่งชาติ",
            "requested_on": "2023-01-03",
            "decision": "Approved",
            "decided_by": people.officer.username,
            "decided_on": "2023-01-04",
            "checked_out_on": be(date(2023, 1, 5)),
            "due_on": "2023-01-15",
            "demanded_on": "2023-01-20",
        },
        # three items back: good, damaged (late, after a demand), lost
        good_row(
            people,
            a[2],
            back,
            borrower=people.malee.username,
            decided_by=people.officer2.username,
            requested_on="2022-11-01",
            decided_on="2022-11-02",
            checked_out_on="2022-11-03",
            due_on="2022-11-10",
            returned_on="2022-11-09",
        ),
        good_row(
            people,
            a[3],
            back,
            borrower=people.malee.username,
            decided_by=people.officer2.username,
            requested_on="2022-11-01",
            decided_on="2022-11-02",
            checked_out_on="2022-11-03",
            due_on="2022-11-10",
            returned_on="2022-11-25",
            condition="damaged",
            demanded_on="2022-11-14",
        ),
        good_row(
            people,
            a[4],
            back,
            borrower=people.malee.username,
            decided_by=people.officer2.username,
            requested_on="2022-11-01",
            decided_on="2022-11-02",
            checked_out_on="2022-11-03",
            due_on="2022-11-10",
            returned_on="2022-11-30",
            condition="lost",
            demanded_on="2022-11-14",
        ),
        # decisions without a hand-over
        {
            "ref": rejected,
            "asset_number": a[5].asset_number,
            "borrower": people.somchai.username,
            "purpose": "ใช้ส่วนตัว",
            "requested_on": "2023-02-01",
            "decision": "rejected",
            "decided_by": people.officer.username,
            "decided_on": "2023-02-03",
            "due_on": "2023-02-05",
        },
        {
            "ref": cancelled,
            "asset_number": a[5].asset_number,
            "borrower": people.malee.username,
            "purpose": "ประชุมกองช่าง",
            "requested_on": "2023-03-01",
            "decision": "cancelled",
            "decided_on": "2023-03-02",
        },
        {
            "ref": pending,
            "asset_number": a[5].asset_number,
            "borrower": people.malee.username,
            "purpose": "อบรมอาสาสมัคร",
            "requested_on": "2023-04-01",
            "due_on": "2023-04-03",
        },
        {
            "ref": approved,
            "asset_number": a[5].asset_number,
            "borrower": people.somchai.username,
            "purpose": "ประชุมสภา",
            "requested_on": "2023-05-01",
            "decision": "approved",
            "decided_by": people.officer.username,
            "decided_on": "2023-05-02",
            "due_on": "2023-05-04",
        },
    ]
    data = csv_bytes(rows)
    before = audit_count(session)

    plan = ledger.apply_ledger(session, None, data, "ledger.csv")

    assert plan.ok, [(e.row, e.column, e.message()) for e in plan.errors]
    assert (plan.rows, len(plan.loans), plan.items, plan.demands, plan.incidents) == (9, 6, 9, 2, 2)
    got = loans_of(session, refs)
    assert {r: got[r].status for r in refs} == {
        out: CHECKED_OUT,
        back: RETURNED,
        rejected: REJECTED,
        cancelled: CANCELLED,
        pending: REQUESTED,
        approved: APPROVED,
    }
    assert all(loan.imported for loan in got.values())

    loan = got[out]
    assert loan.borrower_id == people.somchai.id and loan.purpose == "ใช้ในงานวันเด็กแห่งชาติ"
    assert utc(loan.requested_at) == noon_utc(date(2023, 1, 3))
    assert bangkok_date(loan.requested_at) == date(2023, 1, 3)
    assert utc(loan.decided_at) == noon_utc(date(2023, 1, 4)) and loan.decided_by_id == people.officer.id
    assert loan.officer_id == people.officer.id and utc(loan.checked_out_at) == noon_utc(date(2023, 1, 5))
    assert (loan.start_on, loan.due_on, loan.returned_at) == (date(2023, 1, 5), date(2023, 1, 15), None)
    by_asset = {i.asset_id: i for i in loan.items}
    assert by_asset[a[0].id].condition == "good"
    assert utc(by_asset[a[0].id].returned_at) == noon_utc(date(2023, 1, 14))
    assert by_asset[a[1].id].condition is None and by_asset[a[1].id].returned_at is None
    assert by_asset[a[0].id].value == Decimal("4500.00") and by_asset[a[1].id].value == Decimal("350.00")
    demands = session.scalars(select(Demand).where(Demand.loan_id == loan.id)).all()
    assert [(d.demanded_on, d.channel, d.item_ids) for d in demands] == [
        (date(2023, 1, 20), "ledger", [by_asset[a[1].id].id])
    ]
    assert bangkok_date(demands[0].demanded_at) == date(2023, 1, 20)

    loan = got[back]
    assert utc(loan.returned_at) == noon_utc(date(2022, 11, 30)) and loan.decided_by_id == people.officer2.id
    items = {i.asset_id: i for i in loan.items}
    assert [items[x.id].condition for x in a[2:5]] == ["good", "damaged", "lost"]
    incidents = session.scalars(
        select(Incident).where(Incident.loan_item_id.in_([i.id for i in loan.items])).order_by(Incident.id)
    ).all()
    assert [(i.kind, i.asset_id, i.value, i.status, bangkok_date(i.opened_at)) for i in incidents] == [
        ("damaged", a[3].id, Decimal("18900.00"), "open", date(2022, 11, 25)),
        ("lost", a[4].id, Decimal("350.00"), "open", date(2022, 11, 30)),
    ]
    demand = session.scalars(select(Demand).where(Demand.loan_id == loan.id)).one()
    assert sorted(demand.item_ids) == sorted([items[a[3].id].id, items[a[4].id].id])

    assert utc(got[rejected].decided_at) == noon_utc(date(2023, 2, 3)) and got[rejected].officer_id is None
    assert utc(got[cancelled].cancelled_at) == noon_utc(date(2023, 3, 2))
    assert got[cancelled].decided_at is None
    assert got[pending].decided_at is None and got[pending].due_on == date(2023, 4, 3)
    assert got[approved].start_on == date(2023, 5, 1) and got[approved].checked_out_at is None

    # the register follows the ledger: out → on loan, damaged → in repair, lost → lost
    assert [fresh_asset(session, x.id).status for x in a] == [
        "available",
        "on_loan",
        "available",
        "in_repair",
        "lost",
        "available",
    ]

    entries = session.scalars(select(AuditEntry).where(AuditEntry.seq > before).order_by(AuditEntry.seq)).all()
    imported = [e for e in entries if e.action == "loan.imported"]
    assert sorted(int(e.subject_id) for e in imported) == sorted(x.id for x in got.values())
    back_entry = next(e for e in imported if e.subject_id == str(got[back].id))
    assert json.loads(back_entry.data)["status"] == RETURNED
    summary = [json.loads(e.data) for e in entries if e.action == "loans.imported"]
    assert len(summary) == 1
    assert summary[0]["sha256"] == hashlib.sha256(data).hexdigest() and summary[0]["rows"] == 9
    status_entries = [e for e in entries if e.action == "asset.status_changed"]
    assert sorted(int(e.subject_id) for e in status_entries) == sorted([a[1].id, a[3].id, a[4].id])


def test_importing_the_same_ledger_again_changes_nothing(session, people, assets):
    ref = unique("R")
    data = csv_bytes([good_row(people, assets[0], ref), good_row(people, assets[1], ref)])
    assert ledger.apply_ledger(session, None, data).ok
    loans, entries = loan_count(session), audit_count(session)

    again = ledger.apply_ledger(session, None, data)

    assert again.ok and again.loans == [] and (again.skipped_refs, again.skipped_rows) == (1, 2)
    assert (loan_count(session), audit_count(session)) == (loans, entries)


def test_a_ledger_with_new_and_already_imported_refs_adds_only_the_new_loans(session, people, assets):
    old, new = unique("R"), unique("R")
    first = [good_row(people, assets[0], old)]
    assert ledger.apply_ledger(session, None, csv_bytes(first)).ok
    plan = ledger.apply_ledger(session, None, csv_bytes(first + [good_row(people, assets[1], new)]))
    assert plan.ok and plan.skipped_refs == 1
    assert [loan.ref for loan in plan.loans] == [ledger.REF_PREFIX + new]
    assert set(loans_of(session, [old, new])) == {old, new}


def test_a_ref_is_stored_with_its_prefix_and_thai_digits_as_arabic(session, people, assets):
    digits = unique("")
    row = good_row(people, assets[0], f" {to_thai_digits(digits)}/2566")
    plan = ledger.apply_ledger(session, None, csv_bytes([row]))
    assert plan.ok
    assert loans_of(session, [f"{digits}/2566"])[f"{digits}/2566"].ref == f"L-{digits}/2566"


def test_an_xlsx_ledger_with_date_cells_imports(session, people, assets):
    ref = unique("X")
    book = Workbook()
    sheet = book.active
    sheet.append(COLUMNS)
    row = good_row(
        people,
        assets[0],
        ref,
        requested_on=date(2023, 6, 1),
        decided_on=datetime(2023, 6, 2),
        checked_out_on="03/06/2566",
        due_on=date(2023, 6, 9),
        returned_on=date(2023, 6, 8),
    )
    sheet.append([row.get(c, None) for c in COLUMNS])
    buf = io.BytesIO()
    book.save(buf)
    plan = ledger.apply_ledger(session, None, buf.getvalue(), "ledger.xlsx")
    assert plan.ok, [(e.row, e.column, e.message()) for e in plan.errors]
    loan = loans_of(session, [ref])[ref]
    assert (bangkok_date(loan.decided_at), loan.start_on, loan.status) == (date(2023, 6, 2), date(2023, 6, 3), RETURNED)


# --- errors: nothing is imported, the row and column are named -------------------------------------

ERRORS = {
    # name: (row overrides of the loan's second row (file row 3), the column named)
    "unknown asset": ({"asset_number": "999-99-NOPE"}, "asset_number"),
    "unknown borrower": ({"borrower": "nobody-here"}, "borrower"),
    "unknown decider": ({"decided_by": "nobody-here"}, "decided_by"),
    "blank ref": ({"ref": " "}, "ref"),
    "blank asset number": ({"asset_number": ""}, "asset_number"),
    "blank borrower": ({"borrower": ""}, "borrower"),
    "blank purpose": ({"purpose": ""}, "purpose"),
    "blank request date": ({"requested_on": ""}, "requested_on"),
    "bad decision": ({"decision": "maybe"}, "decision"),
    "bad condition": ({"condition": "so-so"}, "condition"),
    "not a date": ({"due_on": "31/02/2566"}, "due_on"),
    "a date in the future": ({"returned_on": "2099-01-01"}, "returned_on"),
    "decided before requested": ({"decided_on": "2023-01-08"}, "decided_on"),
    "handed over before decided": ({"checked_out_on": "2023-01-09"}, "checked_out_on"),
    "handed over but rejected": ({"decision": "rejected", "returned_on": "", "condition": ""}, "checked_out_on"),
    "decided by the borrower": ({"decided_by": "<borrower>"}, "decided_by"),
    "approved without a decider": ({"decided_by": ""}, "decided_by"),
    "a decision date while pending": (
        {"decision": "", "decided_by": "", "checked_out_on": "", "returned_on": "", "condition": ""},
        "decided_on",
    ),
    "due before handed over": ({"due_on": "2023-01-11"}, "due_on"),
    "returned before handed over": ({"returned_on": "2023-01-11"}, "returned_on"),
    "returned but never handed over": ({"checked_out_on": ""}, "returned_on"),
    "returned without a condition": ({"condition": ""}, "condition"),
    "a condition without a hand-over": (
        {"decision": "", "decided_by": "", "decided_on": "", "checked_out_on": "", "returned_on": ""},
        "condition",
    ),
    "demanded but never handed over": (
        {"checked_out_on": "", "returned_on": "", "condition": "", "demanded_on": "2023-01-20"},
        "demanded_on",
    ),
    "demanded before handed over": ({"demanded_on": "2023-01-11"}, "demanded_on"),
    "demanded after it came back": ({"demanded_on": "2023-01-17"}, "demanded_on"),
}


@pytest.mark.parametrize("kind", list(ERRORS))
def test_a_bad_row_imports_nothing_and_names_its_row_and_column(session, people, assets, kind):
    over, column = ERRORS[kind]
    over = {k: (people.somchai.username if v == "<borrower>" else v) for k, v in over.items()}
    good, bad = unique("R"), unique("R")
    rows = [good_row(people, assets[0], good), {**good_row(people, assets[1], bad), **over}]
    if column in ledger.LOAN_COLUMNS and "ref" not in over:
        # both rows of the loan say it, so they agree and the rule itself is what fails
        rows.append({**good_row(people, assets[2], bad), **over})
    loans, entries = loan_count(session), audit_count(session)

    plan = ledger.apply_ledger(session, None, csv_bytes(rows))

    assert not plan.ok
    assert (3, column) in where(plan), [(e.row, e.column, e.message()) for e in plan.errors]
    assert all(e.row >= 3 for e in plan.errors), "the good loan on row 2 is not blamed"
    assert (loan_count(session), audit_count(session)) == (loans, entries)
    assert [fresh_asset(session, x.id).status for x in assets[:3]] == ["available"] * 3


def test_every_bad_row_is_reported_not_only_the_first(session, people, assets):
    ref = unique("R")
    rows = [
        good_row(people, assets[0], ref, borrower="ghost"),
        good_row(people, assets[1], unique("R")),
        good_row(people, assets[2], unique("R"), condition="broken"),
        good_row(people, assets[3], unique("R"), asset_number="000-00-NONE", requested_on="yesterday"),
    ]
    plan = ledger.apply_ledger(session, None, csv_bytes(rows))
    assert where(plan) >= {(2, "borrower"), (4, "condition"), (5, "asset_number"), (5, "requested_on")}
    assert 3 not in {e.row for e in plan.errors}
    messages = {(e.row, e.column): e.message() for e in plan.errors}
    assert messages[(2, "borrower")] == "no user with this username"
    assert messages[(4, "condition")] == "use good, damaged or lost"


def test_rows_of_one_ref_must_agree_on_the_loan_and_the_error_names_the_column(session, people, assets):
    ref = unique("R")
    rows = [
        good_row(people, assets[0], ref),
        good_row(people, assets[1], ref),
        good_row(people, assets[2], ref, due_on="16/01/2566"),  # the same day in B.E.: agrees
        good_row(people, assets[3], ref, purpose="อื่น ๆ", checked_out_on="2023-01-13"),
    ]
    plan = ledger.apply_ledger(session, None, csv_bytes(rows))
    assert where(plan) == {(5, "purpose"), (5, "checked_out_on")}
    assert plan.errors[0].message() == f"differs from row 2 of the same loan (ref {ref})"
    assert loans_of(session, [ref]) == {}


def test_the_same_asset_twice_in_one_loan_is_refused(session, people, assets):
    ref = unique("R")
    rows = [
        good_row(people, assets[0], ref),
        good_row(people, assets[1], ref),
        good_row(people, assets[0], ref, asset_number=to_thai_digits(assets[0].asset_number).lower()),
    ]
    plan = ledger.apply_ledger(session, None, csv_bytes(rows))
    assert where(plan) == {(4, "asset_number")}
    assert plan.errors[0].message() == "the same asset is on row 2 of this loan"


def test_two_loans_in_the_file_holding_one_asset_at_once_are_refused(session, people, assets):
    first, second, later = unique("R"), unique("R"), unique("R")
    rows = [
        good_row(people, assets[0], first),  # out 12 – back 16 January
        good_row(
            people,
            assets[0],
            second,
            requested_on="2023-01-13",
            decided_on="2023-01-14",
            checked_out_on="2023-01-15",
            due_on="2023-01-20",
            returned_on="2023-01-19",
        ),
        # out again on the day it came back: no clash
        good_row(
            people,
            assets[0],
            later,
            requested_on="2023-01-17",
            decided_on="2023-01-18",
            checked_out_on="2023-01-19",
            due_on="2023-01-25",
            returned_on="",
            condition="",
        ),
    ]
    plan = ledger.apply_ledger(session, None, csv_bytes(rows))
    assert where(plan) == {(3, "asset_number")}
    assert plan.errors[0].message() == (
        f"{assets[0].asset_number} is lent twice at once: row 2 (ref {first}) has it from 2023-01-12 to 2023-01-16"
    )
    assert loans_of(session, [first, second, later]) == {}


def test_a_clash_is_reported_even_when_the_loan_has_another_bad_column(session, people, assets):
    first, second = unique("R"), unique("R")
    rows = [
        good_row(people, assets[0], first),
        good_row(
            people,
            assets[0],
            second,
            borrower="ghost",
            requested_on="2023-01-13",
            decided_on="2023-01-14",
            checked_out_on="2023-01-15",
            due_on="2023-01-20",
            returned_on="2023-01-19",
        ),
    ]
    plan = ledger.apply_ledger(session, None, csv_bytes(rows))
    assert where(plan) == {(3, "borrower"), (3, "asset_number")}


def test_an_approved_loan_not_yet_handed_over_holds_its_asset_from_request_to_due(session, people, assets):
    reserved, other = unique("R"), unique("R")
    rows = [
        {
            "ref": reserved,
            "asset_number": assets[0].asset_number,
            "borrower": people.somchai.username,
            "purpose": "งานกีฬาสี",
            "requested_on": "2023-01-10",
            "decision": "approved",
            "decided_by": people.officer.username,
            "decided_on": "2023-01-11",
            "due_on": "2023-01-20",
        },
        good_row(
            people,
            assets[0],
            other,
            borrower=people.malee.username,
            requested_on="2023-01-18",
            decided_on="2023-01-18",
            checked_out_on="2023-01-20",
            due_on="2023-01-22",
            returned_on="2023-01-22",
        ),
    ]
    plan = ledger.apply_ledger(session, None, csv_bytes(rows))
    assert where(plan) == {(3, "asset_number")}


def test_a_loan_overlapping_one_already_imported_is_refused(session, people, assets):
    still_out = unique("R")
    first = [good_row(people, assets[0], still_out, returned_on="", condition="")]
    assert ledger.apply_ledger(session, None, csv_bytes(first)).ok
    later = unique("R")
    plan = ledger.apply_ledger(
        session,
        None,
        csv_bytes(
            first
            + [
                good_row(
                    people,
                    assets[0],
                    later,
                    requested_on="2023-06-01",
                    decided_on="2023-06-01",
                    checked_out_on="2023-06-02",
                    due_on="2023-06-05",
                    returned_on="2023-06-05",
                )
            ]
        ),
    )
    assert where(plan) == {(3, "asset_number")}
    assert plan.errors[0].message() == (
        f"{assets[0].asset_number} is lent twice at once: "
        f"loan L-{still_out} has it from 2023-01-12 and it has not come back"
    )
    assert loans_of(session, [later]) == {}


def test_a_ledger_item_still_out_clashes_with_a_loan_approved_in_the_app(session, people, assets):
    loan = approve_in_app(session, people, [assets[0].id])
    ref = unique("R")
    plan = ledger.apply_ledger(
        session, None, csv_bytes([good_row(people, assets[0], ref, returned_on="", condition="")])
    )
    assert where(plan) == {(2, "asset_number")}
    assert f"loan {loan.ref} has it from 2031-03-05 to 2031-03-08" in plan.errors[0].message()


# --- imported loans in the rest of the app ----------------------------------------------------------


def test_an_imported_item_still_out_blocks_a_new_overlapping_loan(session, people, assets):
    ref = unique("R")
    assert ledger.apply_ledger(
        session,
        None,
        csv_bytes(
            [
                good_row(people, assets[0], ref, returned_on="", condition=""),
                good_row(people, assets[1], ref, returned_on="2023-01-14"),
            ]
        ),
    ).ok

    found = workflow.clashes(session, [assets[0].id, assets[1].id], date(2031, 3, 5), date(2031, 3, 8))
    assert [(c.asset_id, c.loan_ref) for c in found] == [(assets[0].id, f"L-{ref}")]
    with pytest.raises(Conflict):
        workflow.request_loan(
            session,
            people.malee,
            [assets[0].id],
            purpose="ประชุม",
            place="ห้องประชุม",
            off_premises=False,
            start_on=date(2031, 3, 5),
            due_on=date(2031, 3, 8),
            now=IN_APP_NOW,
        )
    # the item that came back is free, and the one still out can be received back in the app
    assert (
        workflow.request_loan(
            session,
            people.malee,
            [assets[1].id],
            purpose="ประชุม",
            place="ห้องประชุม",
            off_premises=False,
            start_on=date(2031, 3, 5),
            due_on=date(2031, 3, 8),
            now=IN_APP_NOW,
        ).status
        == REQUESTED
    )
    loan = loans_of(session, [ref])[ref]
    item = next(i for i in loan.items if i.asset_id == assets[0].id)
    workflow.receive_items(session, people.officer, loan.id, [ItemReturn(item.id, "good")], now=IN_APP_NOW)
    assert loans_of(session, [ref])[ref].status == RETURNED
    assert fresh_asset(session, assets[0].id).status == "available"


def test_the_ledger_does_not_overwrite_a_newer_status_in_the_register(session, people, assets):
    # asset 0 was lent and received back in the app (2031) after the ledger's damage (2023)
    loan = approve_in_app(session, people, [assets[0].id])
    workflow.hand_over(session, people.officer, loan.id, now=datetime(2031, 3, 5, 3, tzinfo=UTC))
    item_id = session.scalar(select(LoanItem.id).where(LoanItem.loan_id == loan.id))
    workflow.receive_items(
        session, people.officer, loan.id, [ItemReturn(item_id, "good")], now=datetime(2031, 3, 8, 3, tzinfo=UTC)
    )
    # asset 1 was marked lost by hand; the ledger has it still out
    version = fresh_asset(session, assets[1].id).version
    asset_services.change_status(session, people.officer, assets[1].id, version, "lost", "หาไม่พบในการตรวจนับ")
    ref = unique("R")
    plan = ledger.apply_ledger(
        session,
        None,
        csv_bytes(
            [
                good_row(people, assets[0], ref, returned_on="2023-01-14", condition="damaged"),
                good_row(people, assets[1], ref, returned_on="", condition=""),
                good_row(people, assets[2], ref, returned_on="2023-01-14", condition="lost"),
            ]
        ),
        now=datetime(2031, 3, 10, tzinfo=UTC),
    )
    assert plan.ok and (plan.assets_changed, plan.assets_kept) == (1, 2)
    assert [fresh_asset(session, x.id).status for x in assets[:3]] == ["available", "lost", "lost"]


def test_a_later_ledger_moves_a_status_an_earlier_import_set(session, people, assets):
    damaged = unique("R")
    assert ledger.apply_ledger(
        session,
        None,
        csv_bytes(
            [
                good_row(people, assets[0], damaged, condition="damaged"),
                good_row(people, assets[1], damaged, returned_on="", condition=""),
            ]
        ),
    ).ok
    assert [fresh_asset(session, x.id).status for x in assets[:2]] == ["in_repair", "on_loan"]
    # the next months: asset 0 was repaired and lent again; the import explains its status, so it moves
    again, back = unique("R"), unique("R")
    plan = ledger.apply_ledger(
        session,
        None,
        csv_bytes(
            [
                good_row(
                    people,
                    assets[0],
                    again,
                    requested_on="2023-03-01",
                    decided_on="2023-03-01",
                    checked_out_on="2023-03-02",
                    due_on="2023-03-05",
                    returned_on="2023-03-05",
                ),
                good_row(
                    people,
                    assets[2],
                    back,
                    requested_on="2023-03-01",
                    decided_on="2023-03-01",
                    checked_out_on="2023-03-02",
                    due_on="2023-03-05",
                    returned_on="2023-03-05",
                ),
            ]
        ),
    )
    assert plan.ok and (plan.assets_changed, plan.assets_kept) == (1, 0)
    assert fresh_asset(session, assets[0].id).status == "available"


def test_the_import_can_be_checked_without_changing_anything(app, session, people, assets, tmp_path):
    ref = unique("R")
    loans = loan_count(session)
    result = run_cli(app, tmp_path, csv_bytes([good_row(people, assets[0], ref)]), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "would import 1 loans" in result.output
    assert loan_count(session) == loans


# --- the command line ------------------------------------------------------------------------------


def test_the_command_imports_a_ledger_and_a_second_run_skips_it(app, session, people, assets, tmp_path):
    ref = unique("R")
    data = csv_bytes([good_row(people, assets[0], ref), good_row(people, assets[1], ref, returned_on="", condition="")])
    result = run_cli(app, tmp_path, data)
    assert result.exit_code == 0, result.output
    assert "2 rows: imported 1 loans with 2 items" in result.output
    assert loans_of(session, [ref])[ref].status == CHECKED_OUT
    entries = audit_count(session)

    again = run_cli(app, tmp_path, data)
    assert again.exit_code == 0, again.output
    assert "2 rows: nothing new to import; 1 refs already imported, skipped (2 rows)" in again.output
    assert audit_count(session) == entries


def test_the_command_lists_every_bad_row_and_imports_nothing(app, session, people, assets, tmp_path):
    ref = unique("R")
    data = csv_bytes(
        [
            good_row(people, assets[0], ref),
            good_row(people, assets[1], ref, asset_number="123-45-NOPE"),
            good_row(people, assets[2], ref, returned_on="2023-01-10"),
        ]
    )
    result = run_cli(app, tmp_path, data)
    assert result.exit_code == 1
    assert "row 3, column asset_number: no asset with this number in the register ('123-45-NOPE')" in result.output
    assert "row 4, column returned_on: before the hand-over date (2023-01-12)" in result.output
    assert "2 bad rows; nothing was imported" in result.output
    assert loans_of(session, [ref]) == {}


def test_the_command_refuses_a_file_without_the_required_columns(app, session, tmp_path):
    result = run_cli(app, tmp_path, csv_bytes([{"ref": "1"}], header=["ref", "asset_number", "purpose"]))
    assert result.exit_code == 1
    assert "Required columns are missing: borrower, requested_on" in result.output


# --- blank dates: "not recorded" ------------------------------------------------------------------


def test_blank_dates_are_accepted_and_the_summary_names_the_figures_that_leave_them_out(
    app, session, people, assets, tmp_path
):
    cancelled, rejected, approved, dated = (unique("B") for _ in range(4))
    data = csv_bytes(
        [
            # ยกเลิก with no date: no figure needs the day of a cancellation
            good_row(
                people,
                assets[0],
                cancelled,
                decision="ยกเลิก",
                decided_by="",
                decided_on="",
                checked_out_on="",
                due_on="",
                returned_on="",
                condition="",
            ),
            # rejected and approved without a decision date: the median time to a decision leaves them out
            good_row(
                people,
                assets[1],
                rejected,
                decision="rejected",
                decided_on="",
                checked_out_on="",
                due_on="",
                returned_on="",
                condition="",
            ),
            good_row(people, assets[2], approved, decided_on=""),
            good_row(people, assets[3], approved, decided_on=""),
            # back, and lost, on days the ledger does not give: no longer out, but not known to be back by a day
            good_row(people, assets[4], dated, returned_on=""),
            good_row(people, assets[5], dated, returned_on="", condition="lost"),
        ]
    )
    plan = ledger.plan_ledger(session, data)  # the check alone says it too
    session.rollback()
    assert plan.ok, [(e.row, e.column, e.message()) for e in plan.errors]
    assert [(m.row, m.column) for m in plan.missing] == [
        (3, "decided_on"),
        (4, "decided_on"),
        (5, "decided_on"),
        (6, "returned_on"),
        (7, "returned_on"),
    ]
    result = run_cli(app, tmp_path, data)
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if "not recorded" in line]
    median = "left out of lending.median_days_to_decision"
    back = (
        "lending.items_out_at_year_end, lending.items_overdue_at_year_end, lending.overdue_items, "
        "lending.overdue_items_demanded_within_7_days, lending.overdue_items_demanded_late, "
        "lending.overdue_items_not_demanded"
    )
    assert lines == [
        f"row 3 (ref {rejected}): decided_on not recorded; {median}",
        f"row 4 (ref {approved}): decided_on not recorded; {median}",
        f"row 5 (ref {approved}): decided_on not recorded; {median}",
        f"row 6 (ref {dated}): returned_on not recorded; left out of lending.items_returned, "
        "lending.items_returned_on_time, lending.items_returned_late, lending.on_time_return_rate, "
        f"{back}",
        f"row 7 (ref {dated}): returned_on not recorded; left out of lending.items_lost, {back}",
    ]
    assert "imported 4 loans with 6 items" in result.output
    loans = loans_of(session, [cancelled, rejected, approved, dated])
    # nothing is invented: the dates stay blank
    assert (loans[cancelled].status, loans[cancelled].cancelled_at, loans[cancelled].decided_at) == (
        CANCELLED,
        None,
        None,
    )
    assert (loans[rejected].status, loans[rejected].decided_at) == ("rejected", None)
    assert (loans[approved].status, loans[approved].decided_at, loans[approved].officer_at) == (RETURNED, None, None)
    assert bangkok_date(loans[dated].decided_at) == date(2023, 1, 10)
    assert (loans[dated].status, loans[dated].returned_at) == (RETURNED, None)
    assert [(i.condition, i.returned_at) for i in loans[dated].items] == [("good", None), ("lost", None)]
    (case,) = session.scalars(select(Incident).where(Incident.loan_item_id == loans[dated].items[1].id)).all()
    assert case.kind == "lost"  # opened by the import, on the day of the import
    assert fresh_asset(session, assets[4].id).status == "available"
    assert fresh_asset(session, assets[5].id).status == "lost"
    imported = session.execute(
        select(AuditEntry).where(AuditEntry.action == "loans.imported").order_by(AuditEntry.seq.desc()).limit(1)
    ).scalar_one()
    summary = json.loads(imported.data)
    assert summary["dates_not_recorded"] == 5 and summary["loans"] == 4
