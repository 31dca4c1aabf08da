"""The report's figures as the database counts them, against a plain row-by-row count in Python.

evidence/report/figures.py and the monthly series in evidence/report/compute.py count in SQL: timestamps are compared
with the UTC instants of Bangkok midnights, Bangkok days and months are computed by the database. Here the
same figures are counted the obvious way — every row read, every timestamp turned into its Bangkok date by
core.dates.bangkok_date, every definition of reference/report-metrics.md applied as written (the Python
that computed the figures before they moved into SQL) — on a few hundred random loans of a database of
their own, with timestamps crowded around the edges that matter: the Bangkok midnight (17:00 UTC) of the
fiscal year's first and last days, of month ends and of due dates, a microsecond either side.
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from fractions import Fraction
from statistics import median

import pytest
from sqlalchemy import select

from audit import record
from core.dates import BANGKOK, bangkok_date, bangkok_midnight_utc, fiscal_year_bounds
from core.db import begin_write, db
from core.people import services as core_services
from core.web import context
from evidence import report as reports
from evidence.report import figures as fig
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
    Demand,
    Loan,
    LoanItem,
)
from lending.register.models import Asset, compute_search_text
from tests.conftest import PASSWORD
from tests.integration.audit_instances import separate_instance

YEAR = 2560  # 2016-10-01 … 2017-09-30
START, END = fiscal_year_bounds(YEAR)
LOANS = 400
STATUSES = (REQUESTED, APPROVED, REJECTED, CANCELLED, CHECKED_OUT, RETURNED)


def _near(rnd: random.Random, day: date) -> datetime:
    """An instant close to the Bangkok midnight that starts `day` (17:00 UTC the day before), or inside it."""
    midnight = bangkok_midnight_utc(day)
    return rnd.choice(
        (
            midnight,
            midnight - timedelta(microseconds=1),
            midnight + timedelta(microseconds=1),
            midnight - timedelta(minutes=1),
            midnight + timedelta(hours=rnd.randrange(0, 24), minutes=rnd.randrange(0, 60)),
            midnight + timedelta(days=1) - timedelta(microseconds=1),
        )
    )


def _day(rnd: random.Random) -> date:
    """A day of the year or of its neighbours, often one of the edges."""
    edges = [
        START,
        END,
        START - timedelta(days=1),
        END + timedelta(days=1),
        date(2016, 10, 31),
        date(2016, 11, 1),
        date(2017, 1, 31),
        date(2017, 2, 28),
        date(2017, 3, 1),
        date(2017, 8, 31),
        date(2017, 9, 1),
    ]
    if rnd.random() < 0.4:
        return rnd.choice(edges)
    return START - timedelta(days=40) + timedelta(days=rnd.randrange(0, 365 + 80))


def _random_loans(rnd: random.Random) -> list[dict]:
    loans = []
    for _ in range(LOANS):
        status = rnd.choice(STATUSES)
        requested = _near(rnd, _day(rnd))
        decided = None
        if status in (APPROVED, CHECKED_OUT, RETURNED, REJECTED, CANCELLED) and rnd.random() < 0.9:
            decided = _near(rnd, bangkok_date(requested) + timedelta(days=rnd.choice((0, 0, 1, 2, 3, 5, 9))))
            decided = max(decided, requested)
        handed = None
        if status in (CHECKED_OUT, RETURNED):
            base = bangkok_date(decided or requested) + timedelta(days=rnd.choice((0, 1, 2)))
            handed = max(_near(rnd, rnd.choice((base, _day(rnd)))), decided or requested)
        start_on = bangkok_date(handed or requested)
        due = start_on + timedelta(days=rnd.randrange(0, 15)) if rnd.random() < 0.7 else _day(rnd)
        items = []
        for _ in range(rnd.choice((1, 1, 2, 3))):
            condition, back = None, None
            if handed is not None and (status == RETURNED or rnd.random() < 0.6):
                condition = rnd.choice((GOOD, GOOD, GOOD, DAMAGED, LOST))
                day = rnd.choice((due, due + timedelta(days=1), due + timedelta(days=rnd.randrange(-3, 25)), _day(rnd)))
                back = max(_near(rnd, day), handed)
            items.append((condition, back))
        demands = []
        if handed is not None:
            for _ in range(rnd.choice((0, 0, 1, 1, 2, 3))):
                demands.append(due + timedelta(days=rnd.choice((-1, 0, 1, 2, 7, 8, 9, 15, 30))))
        loans.append(
            {
                "status": status,
                "requested": requested,
                "decided": decided,
                "handed": handed,
                "start_on": start_on,
                "due": due,
                "items": items,
                "demands": demands,
            }
        )
    return loans


@pytest.fixture(scope="module")
def random_instance(tmp_path_factory):
    """A database of its own holding the random loans (one transaction, with an audit entry)."""
    rnd = random.Random(2560)
    with separate_instance("figures_crosscheck", tmp_path_factory.mktemp("crosscheck")) as inst:
        with inst.app_context():
            context.set_origin("127.0.0.1", "pytest figures cross-check")
            session = db.session
            borrower = core_services.create_user(session, None, "xborrower", "นางสาวยืม สุ่ม", {"staff"}, PASSWORD)
            officer = core_services.create_user(session, None, "xofficer", "นายพัสดุ สุ่ม", {"supply_officer"}, PASSWORD)
            borrower_id, officer_id = borrower.id, officer.id
            begin_write(session)
            number = 0
            for n, spec in enumerate(_random_loans(rnd)):
                assets = []
                for _ in spec["items"]:
                    number += 1
                    asset = Asset(tag=f"XC{number:06d}", status="available", status_note="")
                    asset.apply(
                        {
                            "asset_number": f"560-99-{number:05d}",
                            "name": "เต็นท์",
                            "category": "เต็นท์",
                            "brand": "",
                            "model": "",
                            "serial_number": "",
                            "acquired_on": date(2015, 1, 1),
                            "price": Decimal("1200.00"),
                            "location": "โรงเก็บ",
                            "department": "สำนักปลัด",
                            "lendable": True,
                        }
                    )
                    asset.search_text = compute_search_text(asset.state())
                    session.add(asset)
                    assets.append(asset)
                session.flush()
                decided = spec["decided"]
                loan = Loan(
                    ref=f"XC-{n:04d}",
                    borrower_id=borrower_id,
                    purpose="สุ่ม",
                    place="อบต.",
                    off_premises=False,
                    start_on=spec["start_on"],
                    due_on=spec["due"],
                    status=spec["status"],
                    requested_at=spec["requested"],
                    needs_head=False,
                    decided_at=decided,
                    decided_by_id=officer_id if decided else None,
                    cancelled_at=decided if spec["status"] == CANCELLED else None,
                    checked_out_at=spec["handed"],
                    checked_out_by_id=officer_id if spec["handed"] else None,
                )
                loan.items = [
                    LoanItem(asset_id=a.id, value=a.price, condition=c, returned_at=b)
                    for a, (c, b) in zip(assets, spec["items"], strict=True)
                ]
                session.add(loan)
                session.flush()
                for day in spec["demands"]:
                    session.add(
                        Demand(
                            loan_id=loan.id,
                            demanded_on=day,
                            demanded_at=datetime.combine(day, time(9), tzinfo=BANGKOK).astimezone(UTC),
                            channel="letter",
                            issued_by_id=officer_id,
                            item_ids=[i.id for i in loan.items],
                        )
                    )
            record(session, None, "test.figures_crosscheck", ("test", "crosscheck"), {"loans": LOANS})
            session.commit()
            db.session.remove()
        yield inst


# --- the reference: every row read, every definition applied in Python --------------------------------


def _bkk(ts: datetime | None) -> date | None:
    return bangkok_date(ts) if ts is not None else None


def reference_lending(session, start: date, end: date) -> dict:
    loans = session.execute(
        select(Loan.id, Loan.status, Loan.requested_at, Loan.decided_at, Loan.checked_out_at, Loan.due_on)
    ).all()
    items = session.execute(select(LoanItem.loan_id, LoanItem.condition, LoanItem.returned_at)).all()
    demands: dict[int, list[date]] = defaultdict(list)
    for loan_id, day in session.execute(select(Demand.loan_id, Demand.demanded_on)):
        demands[loan_id].append(day)
    by_id = {loan.id: loan for loan in loans}
    in_year = [loan for loan in loans if start <= bangkok_date(loan.requested_at) <= end]
    status = defaultdict(int)
    for loan in in_year:
        status[loan.status] += 1
    days = [
        (bangkok_date(loan.decided_at) - bangkok_date(loan.requested_at)).days
        for loan in in_year
        if loan.status in (APPROVED, CHECKED_OUT, RETURNED, REJECTED) and loan.decided_at is not None
    ]
    handed = {
        loan.id
        for loan in loans
        if loan.checked_out_at is not None and start <= bangkok_date(loan.checked_out_at) <= end
    }

    f = defaultdict(int)
    for loan_id, condition, returned_at in items:
        loan = by_id[loan_id]
        if loan.checked_out_at is None or bangkok_date(loan.checked_out_at) > end:
            continue  # not handed over by the end of the year: no item figure counts it
        back = _bkk(returned_at)  # the day it came back, or the day the loss was recorded
        due = loan.due_on
        if back is not None and start <= back <= end:
            if condition in (GOOD, DAMAGED):
                f["items_returned"] += 1
                f["items_returned_on_time" if back <= due else "items_returned_late"] += 1
                if condition == DAMAGED:
                    f["items_damaged"] += 1
            elif condition == LOST:
                f["items_lost"] += 1
        if back is None or back > end:
            f["items_out_at_year_end"] += 1
            if due < end:
                f["items_overdue_at_year_end"] += 1
        if start <= due <= end and (back is None or back > due):
            f["overdue_items"] += 1
            covering = [d for d in demands[loan_id] if d > due and (back is None or d <= back)]
            if not covering:
                f["overdue_items_not_demanded"] += 1
            elif (min(covering) - due).days <= 7:
                f["overdue_items_demanded_within_7_days"] += 1
            else:
                f["overdue_items_demanded_late"] += 1
    returned = f["items_returned"]
    return {
        "requests": len(in_year),
        "approved": status[APPROVED] + status[CHECKED_OUT] + status[RETURNED],
        "rejected": status[REJECTED],
        "cancelled": status[CANCELLED],
        "pending": status[REQUESTED],
        "median_days_to_decision": fig.round_half_away(median(Fraction(d) for d in days), 2) if days else None,
        "loans_checked_out": len(handed),
        "items_checked_out": sum(1 for loan_id, _c, _r in items if loan_id in handed),
        "items_returned": returned,
        "items_returned_on_time": f["items_returned_on_time"],
        "items_returned_late": f["items_returned_late"],
        "on_time_return_rate": fig.round_half_away(Fraction(f["items_returned_on_time"] * 100, returned), 1)
        if returned
        else None,
        "items_damaged": f["items_damaged"],
        "items_lost": f["items_lost"],
        "items_out_at_year_end": f["items_out_at_year_end"],
        "items_overdue_at_year_end": f["items_overdue_at_year_end"],
        "overdue_items": f["overdue_items"],
        "overdue_items_demanded_within_7_days": f["overdue_items_demanded_within_7_days"],
        "overdue_items_demanded_late": f["overdue_items_demanded_late"],
        "overdue_items_not_demanded": f["overdue_items_not_demanded"],
    }


def reference_months(session, fiscal_year: int) -> list[tuple[date, int, int, int]]:
    """(first day, requests, returns, out past due at the month's end) for each month of the year."""
    firsts, day = [], fiscal_year_bounds(fiscal_year)[0]
    for _ in range(13):
        firsts.append(day)
        day = date(day.year + (day.month == 12), day.month % 12 + 1, 1)
    lasts = [f - timedelta(days=1) for f in firsts[1:]]
    firsts = firsts[:12]
    loans = session.execute(select(Loan.requested_at)).scalars().all()
    items = session.execute(
        select(LoanItem.condition, LoanItem.returned_at, Loan.checked_out_at, Loan.due_on).join(
            Loan, Loan.id == LoanItem.loan_id
        )
    ).all()
    out = []
    for first, last in zip(firsts, lasts, strict=True):
        requests = sum(1 for at in loans if first <= bangkok_date(at) <= last)
        returns = sum(
            1
            for c, back, _h, _d in items
            if c in (GOOD, DAMAGED) and back is not None and first <= bangkok_date(back) <= last
        )
        overdue = sum(
            1
            for _c, back, handed, due in items
            if handed is not None
            and bangkok_date(handed) <= last
            and due < last
            and (back is None or bangkok_date(back) > last)
        )
        out.append((first, requests, returns, overdue))
    return out


# --- the checks ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("year", [YEAR - 1, YEAR, YEAR + 1])
def test_the_sql_lending_figures_equal_a_row_by_row_count(random_instance, year):
    with random_instance.app_context():
        start, end = fiscal_year_bounds(year)
        expected = reference_lending(db.session, start, end)
        counted = fig.lending_figures(db.session, start, end)
        db.session.remove()
    assert counted == expected
    if year == YEAR:  # the random loans reach every figure, so the comparison means something
        assert all(v for v in expected.values()), expected


@pytest.mark.parametrize("year", [YEAR, YEAR + 1])
def test_the_sql_monthly_series_equal_a_row_by_row_count(random_instance, year):
    with random_instance.app_context():
        expected = reference_months(db.session, year)
        months = reports.monthly_series(db.session, year)
        db.session.remove()
    assert [(m.first, m.requests, m.returns, m.overdue) for m in months] == expected
    if year == YEAR:
        assert all(r and b and o for _f, r, b, o in expected[1:-1]), expected
