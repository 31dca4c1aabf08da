"""The report's lending figures against reference/report-metrics.md, read as written.

The reference below is written from the definitions alone, not from evidence/report/figures.py: each loan of a
generated history is a plain record of Bangkok calendar days (requested, decided, handed over, due; per
item back or lost, and the demands that name it), and each figure is the definition applied to those
records in a few lines of Python, with its own exact arithmetic. The same history goes into a database of
its own the two ways an office fills it: most of it as a paper ledger (CSV) through `flask --app wsgi
loans import`, and some as loans made in the app through the services, with demand letters issued in the
app. The report's JSON (`flask --app wsgi report ita --format json`) must say what the reference says.

What the history holds, because each is a way to get a figure wrong:
- per-item demands: a ledger row's `demanded_on` covers that row's item only, so a loan of three overdue
  items with one row demanded has one item demanded and two not; demands 1–7 days after the due date,
  more than 7 days after, and on or before it (a reminder, which does not count);
  a letter made in the app covers only the items of its loan that were overdue when it was made;
- rounding ties: 41 of 80 items back on time (51.25 → 51.3, which binary floating point gets wrong),
  1 of 8 (12.5) and 5 of 8 (62.5), one fiscal year each;
- medians of an even count (the mean of the two middle values, e.g. 1.5);
- blank dates, which mean "not recorded": a cancelled request with no date, approved and rejected requests
  without `decided_on` (counted as approved or rejected, left out of the median that needs the date), and
  items back or lost on a day not recorded (no longer out; left out of every figure that asks whether
  the item was back by a day).

Readings of the definitions the reference makes explicit:
- an item is handed over, then comes back or is recorded lost ("What happens to an item"): the item
  figures are about items that were handed over; an approved loan never handed over has no item out;
- a letter made in the app on day L names the items of its loan that were overdue then: due before L and
  not back by L (the history never has an item back on the day of a letter, where the hour would decide).
"""

from __future__ import annotations

import csv
import io
import json
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction

import pytest
from sqlalchemy import select

from audit import record
from core.db import begin_write, db
from core.people import services as core_services
from core.web import context
from evidence import report as reports
from evidence.report import figures as fig
from lending.loans import cases
from lending.loans import services as workflow
from lending.loans.models import LoanItem
from lending.loans.services import ItemReturn
from lending.register.models import Asset, compute_search_text
from tests.conftest import PASSWORD
from tests.integration.audit_instances import separate_instance

BANGKOK_UTC_OFFSET = timedelta(hours=7)
# fiscal year (B.E.) → (items back on time, items back): the rounding ties of the on-time rate
RATES = {2560: (41, 80), 2561: (1, 8), 2562: (5, 8)}
YEARS = (2559, 2560, 2561, 2562, 2563)


def year_bounds(fiscal_year: int) -> tuple[date, date]:
    """1 October of C.E. Y − 544 to 30 September of C.E. Y − 543 (report-metrics.md, "The year")."""
    return date(fiscal_year - 544, 10, 1), date(fiscal_year - 543, 9, 30)


def noon(day: date) -> datetime:
    """Noon in Bangkok on `day`, as a UTC instant: what the in-app services are told "now" is."""
    return datetime.combine(day, time(12)).replace(tzinfo=UTC) - BANGKOK_UTC_OFFSET


# --- the history: plain records of days ------------------------------------------------------------


@dataclass
class Item:
    asset: str
    back: date | None = None  # the day it came back, or the day its loss was recorded
    condition: str | None = None  # good | damaged | lost
    demanded: date | None = None  # ledger rows only: a written demand for this item


@dataclass
class LoanRecord:
    ref: str
    requested: date
    decision: str | None = None  # approved | rejected | cancelled; None while it waits
    decided: date | None = None  # None: not recorded (or no decision)
    handed: date | None = None
    due: date | None = None
    items: list[Item] = field(default_factory=list)
    in_app: bool = False
    letters: list[date] = field(default_factory=list)  # demand letters made in the app

    @property
    def status(self) -> str:
        if self.decision is None:
            return "requested"
        if self.decision != "approved":
            return self.decision
        if self.handed is None:
            return "approved"
        return "returned" if all(i.condition for i in self.items) else "checked_out"


class History:
    def __init__(self, seed: int):
        self.rnd = random.Random(seed)
        self.loans: list[LoanRecord] = []
        self.assets = 0

    def asset(self) -> str:
        self.assets += 1
        return f"999-60-{self.assets:05d}"

    def loan(self, **kw) -> LoanRecord:
        loan = LoanRecord(ref=f"S{len(self.loans) + 1:04d}", **kw)
        self.loans.append(loan)
        return loan

    def handed_loan(self, start: date, n_items: int, *, blank_decision: bool = False) -> LoanRecord:
        rnd = self.rnd
        requested = start + timedelta(days=rnd.randrange(0, 280))
        decided = requested + timedelta(days=rnd.choice((0, 0, 1, 2, 3, 5, 8)))
        handed = decided + timedelta(days=rnd.choice((0, 1, 2)))
        due = handed + timedelta(days=rnd.randrange(0, 12))
        return self.loan(
            requested=requested,
            decision="approved",
            decided=None if blank_decision else decided,
            handed=handed,
            due=due,
            items=[Item(self.asset()) for _ in range(n_items)],
        )

    def demand_for(self, loan: LoanRecord, item: Item, kind: str) -> None:
        """A ledger demand for one item: within 7 days, late, a reminder (on or before the due date), none."""
        last = item.back or loan.due + timedelta(days=60)
        if kind == "within" and last > loan.due:
            item.demanded = loan.due + timedelta(days=self.rnd.randint(1, min(7, (last - loan.due).days)))
        elif kind == "late" and (last - loan.due).days > 7:
            item.demanded = loan.due + timedelta(days=self.rnd.randint(8, (last - loan.due).days))
        elif kind == "reminder":  # on or before the due date, while the item is still out
            latest = min(loan.due, item.back or loan.due)
            item.demanded = latest - timedelta(days=self.rnd.randint(0, (latest - loan.handed).days))

    def returns(self, fiscal_year: int, on_time: int, returned: int) -> None:
        """Items that come back in the year, so that the year has exactly `on_time` of `returned` items
        back on or before their due date (counting those the rest of the history brings back in it)."""
        rnd = self.rnd
        start, _end = year_bounds(fiscal_year)
        so_far = reference(self, fiscal_year)
        early = on_time - so_far["items_returned_on_time"]
        late = returned - on_time - so_far["items_returned_late"]
        assert early >= 0 and late >= 0, so_far
        outcomes = [True] * early + [False] * late
        rnd.shuffle(outcomes)
        while outcomes:
            n = min(len(outcomes), rnd.choice((1, 1, 2, 3)))
            loan = self.handed_loan(start, n, blank_decision=rnd.random() < 0.15)
            for item in loan.items:
                if outcomes.pop():
                    item.back = loan.due - timedelta(days=rnd.randint(0, (loan.due - loan.handed).days))
                else:
                    item.back = loan.due + timedelta(days=rnd.randint(1, 20))
                item.condition = rnd.choice(("good", "good", "good", "damaged"))
                self.demand_for(loan, item, rnd.choice(("none", "within", "late", "reminder")))

    def year(self, fiscal_year: int) -> None:
        """Everything of the year but the items that come back (returns, below)."""
        rnd = self.rnd
        start, end = year_bounds(fiscal_year)
        # One loan of three overdue items with only one row demanded: one item demanded, two not.
        loan = self.handed_loan(start, 3)
        loan.items[0].demanded = loan.due + timedelta(days=2)
        for item in loan.items:
            item.back, item.condition = loan.due + timedelta(days=15), "lost"
        # Back, and lost, on days the ledger does not record: no longer out, but not known to be back by
        # any day, so every figure that asks leaves them out.
        loan = self.handed_loan(start, 3)
        loan.items[0].condition, loan.items[1].condition, loan.items[2].condition = "good", "damaged", "lost"
        self.demand_for(loan, loan.items[0], "within")
        # Lost items, before and after their due date.
        for lost_after in (False, True):
            loan = self.handed_loan(start, 2)
            for item in loan.items:
                item.condition = "lost"
                item.back = loan.due + timedelta(days=rnd.randint(1, 9)) if lost_after else loan.handed
                self.demand_for(loan, item, "within")
        # Out when the year ends: overdue, due on the last day (not yet overdue), due after it; some come
        # back in the next year; per-item demands on some of them.
        for due in (end - timedelta(days=20), end - timedelta(days=3), end, end + timedelta(days=5)):
            loan = self.loan(
                requested=due - timedelta(days=9),
                decision="approved",
                decided=due - timedelta(days=8),
                handed=due - timedelta(days=7),
                due=due,
                items=[Item(self.asset()) for _ in range(3)],
            )
            loan.items[1].back, loan.items[1].condition = end + timedelta(days=11), "lost"
            self.demand_for(loan, loan.items[0], "within")
            self.demand_for(loan, loan.items[1], "late")
        # Requests that were not handed over: rejected (dated or not), cancelled without a date, waiting,
        # approved and not collected (dated or not).
        for n in range(6):
            requested = start + timedelta(days=rnd.randrange(0, 340))
            days = timedelta(days=rnd.choice((0, 1, 2, 4, 6)))
            self.loan(
                requested=requested,
                decision="rejected",
                decided=requested + days if n % 3 else None,
                items=[Item(self.asset())],
            )
            self.loan(requested=requested, decision="cancelled", decided=None, items=[Item(self.asset())])
            if n % 2:
                self.loan(
                    requested=requested, decision="cancelled", decided=requested + days, items=[Item(self.asset())]
                )
            self.loan(requested=requested, items=[Item(self.asset())])
            self.loan(
                requested=requested,
                decision="approved",
                decided=requested + days if n % 2 else None,
                due=requested + days + timedelta(days=3),
                items=[Item(self.asset())],
            )

    def even_median(self, fiscal_year: int) -> None:
        """Add rejected requests until the year's decision times are an even count whose two middle values
        differ (so the median is a mean that ends in .5)."""
        start, end = year_bounds(fiscal_year)

        def waits() -> list[int]:
            return sorted(
                (x.decided - x.requested).days
                for x in self.loans
                if start <= x.requested <= end
                and x.status in ("approved", "checked_out", "returned", "rejected")
                and x.decided
            )

        for days in range(0, 40):
            w = waits()
            if len(w) % 2 == 0 and w[len(w) // 2 - 1] != w[len(w) // 2]:
                return
            requested = start + timedelta(days=100)
            self.loan(
                requested=requested,
                decision="rejected",
                decided=requested + timedelta(days=days),
                items=[Item(self.asset())],
            )
        raise AssertionError("no even median")

    def in_app(self, fiscal_year: int) -> None:
        """Loans made through the services, with demand letters; planned here as days."""
        start, _end = year_bounds(fiscal_year)
        r = start + timedelta(days=120)
        # three items due on D: one back on D, one back late before the letter (which so does not name it),
        # one still out when the letter is made (within 7 days), back damaged later
        a = self.loan(
            requested=r,
            decision="approved",
            decided=r + timedelta(days=1),
            handed=r + timedelta(days=1),
            due=r + timedelta(days=8),
            items=[Item(self.asset()) for _ in range(3)],
            in_app=True,
        )
        a.items[0].back, a.items[0].condition = a.due, "good"
        a.items[1].back, a.items[1].condition = a.due + timedelta(days=3), "good"
        a.items[2].back, a.items[2].condition = a.due + timedelta(days=9), "damaged"
        a.letters = [a.due + timedelta(days=5), a.due + timedelta(days=7)]
        # two items, a first letter 10 days late; one comes back after it, the other stays out
        b = self.loan(
            requested=r + timedelta(days=2),
            decision="approved",
            decided=r + timedelta(days=3),
            handed=r + timedelta(days=4),
            due=r + timedelta(days=10),
            items=[Item(self.asset()) for _ in range(2)],
            in_app=True,
        )
        b.items[0].back, b.items[0].condition = b.due + timedelta(days=12), "good"
        b.letters = [b.due + timedelta(days=10)]
        # rejected after three days
        self.loan(
            requested=r + timedelta(days=5),
            decision="rejected",
            decided=r + timedelta(days=8),
            items=[Item(self.asset())],
            in_app=True,
        )


def make_history() -> History:
    history = History(seed=2560)
    for fiscal_year in RATES:
        history.year(fiscal_year)
    history.in_app(2560)
    for fiscal_year, (on_time, returned) in RATES.items():
        history.returns(fiscal_year, on_time, returned)
    for fiscal_year in RATES:
        history.even_median(fiscal_year)
    return history


# --- the reference: report-metrics.md applied to the records ---------------------------------------


def round_half_away(value: Fraction, places: int) -> float:
    """Half away from zero, on the exact value (a Fraction, turned into a Decimal with room to spare)."""
    with localcontext() as ctx:
        ctx.prec = 60
        exact = Decimal(value.numerator) / Decimal(value.denominator)
        return float(exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def exact_median(values: list[int]) -> Fraction:
    ordered = sorted(values)
    n = len(ordered)
    if n % 2:
        return Fraction(ordered[n // 2])
    return Fraction(ordered[n // 2 - 1] + ordered[n // 2], 2)


def covering_demands(loan: LoanRecord, item: Item) -> list[date]:
    """The days of the demands that cover the item: its own ledger row's, and each letter made in the app
    while the item was overdue (due before the letter, not back by it)."""
    days = [item.demanded] if item.demanded else []
    days += [day for day in loan.letters if loan.due < day and (item.back is None or item.back > day)]
    return days


def reference(history: History, fiscal_year: int, as_of: date | None = None) -> dict:
    start, end = year_bounds(fiscal_year)
    last = as_of or end  # the day the figures "at the end of the year" are counted at

    def in_year(day: date | None) -> bool:
        return day is not None and start <= day <= end

    requests = [x for x in history.loans if in_year(x.requested)]
    approved_like = ("approved", "checked_out", "returned")
    waits = [
        (x.decided - x.requested).days
        for x in requests
        if x.status in (*approved_like, "rejected") and x.decided is not None
    ]
    handed = [x for x in history.loans if in_year(x.handed)]
    items = [(x, i) for x in history.loans if x.handed is not None for i in x.items]
    came_back = [(x, i) for x, i in items if in_year(i.back) and i.condition in ("good", "damaged")]
    on_time = [(x, i) for x, i in came_back if i.back <= x.due]

    def out_after(i: Item, day: date) -> bool:
        """Neither back nor lost by the end of `day` — known only when the ledger gives the day it came back
        (an item with a condition and no date is not out, and not known to have been out on `day`)."""
        return (i.back is None and i.condition is None) or (i.back is not None and i.back > day)

    out = [(x, i) for x, i in items if x.handed <= last and out_after(i, last)]
    overdue = [(x, i) for x, i in items if in_year(x.due) and out_after(i, x.due)]
    first: list[int | None] = []
    for x, i in overdue:
        after = [d for d in covering_demands(x, i) if d > x.due]
        first.append((min(after) - x.due).days if after else None)
    return {
        "requests": len(requests),
        "approved": sum(x.status in approved_like for x in requests),
        "rejected": sum(x.status == "rejected" for x in requests),
        "cancelled": sum(x.status == "cancelled" for x in requests),
        "pending": sum(x.status == "requested" for x in requests),
        "median_days_to_decision": round_half_away(exact_median(waits), 2) if waits else None,
        "loans_checked_out": len(handed),
        "items_checked_out": sum(len(x.items) for x in handed),
        "items_returned": len(came_back),
        "items_returned_on_time": len(on_time),
        "items_returned_late": len(came_back) - len(on_time),
        "on_time_return_rate": round_half_away(Fraction(len(on_time) * 100, len(came_back)), 1) if came_back else None,
        "items_damaged": sum(i.condition == "damaged" for _x, i in came_back),
        "items_lost": sum(in_year(i.back) and i.condition == "lost" for _x, i in items),
        "items_out_at_year_end": len(out),
        "items_overdue_at_year_end": sum(x.due < last for x, _i in out),
        "overdue_items": len(overdue),
        "overdue_items_demanded_within_7_days": sum(d is not None and 1 <= d <= 7 for d in first),
        "overdue_items_demanded_late": sum(d is not None and d > 7 for d in first),
        "overdue_items_not_demanded": sum(d is None for d in first),
    }


# --- the database: the ledger through `loans import`, the rest through the services ----------------


LEDGER_COLUMNS = (
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


def be(day: date | None) -> str:
    """Half the rows write their dates the Thai way: DD/MM/YYYY with the B.E. year."""
    if day is None:
        return ""
    return f"{day.day:02d}/{day.month:02d}/{day.year + 543}" if day.toordinal() % 2 else day.isoformat()


def ledger_csv(history: History) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(LEDGER_COLUMNS)
    words = {"approved": "อนุมัติ", "rejected": "rejected", "cancelled": "ยกเลิก", None: ""}
    for x in history.loans:
        if x.in_app:
            continue
        for i in x.items:
            writer.writerow(
                [
                    x.ref,
                    i.asset,
                    "sborrower",
                    "ใช้ในงานของหมู่บ้าน",
                    be(x.requested),
                    words[x.decision],
                    "sofficer" if x.decision in ("approved", "rejected") else "",
                    be(x.decided),
                    be(x.handed),
                    be(x.due),
                    be(i.back),
                    i.condition or "",
                    be(i.demanded),
                ]
            )
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def make_in_app(session, history: History, borrower, officer) -> None:
    """The in-app loans, each step at noon (Bangkok) of its day, in the order of the days."""
    numbers = {a.asset_number: a.id for a in session.query(Asset).all()}
    steps = []  # (day, order, action)
    for x in history.loans:
        if not x.in_app:
            continue
        steps.append((x.requested, 0, ("request", x)))
        steps.append((x.decided, 1, ("decide", x)))
        if x.handed:
            steps.append((x.handed, 2, ("hand_over", x)))
        for n, i in enumerate(x.items):
            if i.back:
                steps.append((i.back, 3, ("return", x, n)))
        for day in x.letters:
            steps.append((day, 4, ("letter", x)))
    ids: dict[str, int] = {}
    for day, _order, (action, x, *rest) in sorted(steps, key=lambda s: (s[0], s[1])):
        now = noon(day)
        if action == "request":
            loan = workflow.request_loan(
                session,
                borrower,
                [numbers[i.asset] for i in x.items],
                purpose="ประชุม",
                place="อบต.",
                off_premises=False,
                start_on=x.handed or x.requested,
                due_on=x.due or x.requested + timedelta(days=7),
                now=now,
            )
            ids[x.ref] = loan.id
        elif action == "decide" and x.decision == "approved":
            workflow.approve_loan(session, officer, ids[x.ref], now=now)
        elif action == "decide":
            workflow.reject_loan(session, officer, ids[x.ref], "ไม่ว่าง", now=now)
        elif action == "hand_over":
            workflow.hand_over(session, officer, ids[x.ref], now=now)
        elif action == "return":
            item_ids = sorted(session.scalars(select(LoanItem.id).where(LoanItem.loan_id == ids[x.ref])))
            item = session.get(LoanItem, item_ids[rest[0]])
            condition = x.items[rest[0]].condition
            session.rollback()
            workflow.receive_items(
                session,
                officer,
                ids[x.ref],
                [ItemReturn(item.id, condition, "" if condition == "good" else "ขาชำรุด")],
                now=now,
            )
        elif action == "letter":
            cases.issue_demand_letter(session, officer, ids[x.ref], now=now)


@pytest.fixture(scope="module")
def history() -> History:
    return make_history()


@pytest.fixture(scope="module")
def instance(history, tmp_path_factory):
    """A database of its own: the assets, the ledger imported by the command, the in-app loans."""
    directory = tmp_path_factory.mktemp("figures_spec")
    with separate_instance("figures_spec", directory) as inst:
        with inst.app_context():
            context.set_origin("127.0.0.1", "pytest figures spec")
            session = db.session
            borrower = core_services.create_user(session, None, "sborrower", "นางสาวยืม ตามนิยาม", {"staff"}, PASSWORD)
            officer = core_services.create_user(
                session, None, "sofficer", "นายพัสดุ ตามนิยาม", {"supply_officer"}, PASSWORD
            )
            begin_write(session)
            for n in range(1, history.assets + 1):
                asset = Asset(tag=f"SP{n:06d}", status="available", status_note="")
                asset.apply(
                    {
                        "asset_number": f"999-60-{n:05d}",
                        "name": "เก้าอี้",
                        "category": "เก้าอี้",
                        "brand": "",
                        "model": "",
                        "serial_number": "",
                        "acquired_on": date(2010, 1, 1),
                        "price": Decimal("1200.00"),
                        "location": "โรงเก็บ",
                        "department": "สำนักปลัด",
                        "lendable": True,
                    }
                )
                asset.search_text = compute_search_text(asset.state())
                session.add(asset)
            record(session, None, "test.figures_spec", ("test", "spec"), {"assets": history.assets})
            session.commit()
            make_in_app(session, history, session.merge(borrower), session.merge(officer))
            db.session.remove()
        path = directory / "ledger.csv"
        path.write_bytes(ledger_csv(history))
        result = inst.test_cli_runner().invoke(args=["loans", "import", str(path)])
        assert result.exit_code == 0, result.output
        inst.config["KP_IMPORT_OUTPUT"] = result.output
        yield inst


def report_json(instance, fiscal_year: int) -> dict:
    result = instance.test_cli_runner().invoke(args=["report", "ita", "--year", str(fiscal_year), "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# --- the checks ------------------------------------------------------------------------------------


def test_the_history_reaches_what_the_test_is_about(history):
    """The generated history holds the cases named above (so a pass means something)."""
    expected = reference(history, 2560)
    assert expected["on_time_return_rate"] == 51.3  # 41 of 80: 51.25
    assert (expected["items_returned_on_time"], expected["items_returned"]) == (41, 80)
    assert reference(history, 2561)["on_time_return_rate"] == 12.5
    assert reference(history, 2562)["on_time_return_rate"] == 62.5
    for fiscal_year in RATES:
        median = reference(history, fiscal_year)["median_days_to_decision"]
        assert median is not None and median % 1 == 0.5, median  # an even count, two different middles
    figures = reference(history, 2560)
    assert all(
        figures[k]
        for k in (
            "overdue_items_demanded_within_7_days",
            "overdue_items_demanded_late",
            "overdue_items_not_demanded",
            "items_lost",
            "items_damaged",
            "cancelled",
            "pending",
            "items_overdue_at_year_end",
        )
    )
    assert any(x.decision == "cancelled" and x.decided is None for x in history.loans)
    assert any(x.decision in ("approved", "rejected") and x.decided is None for x in history.loans)
    assert any(sum(bool(i.demanded) for i in x.items) == 1 and len(x.items) == 3 for x in history.loans)
    assert any(i.condition and i.back is None for x in history.loans for i in x.items)


def test_the_import_names_the_rows_left_out_of_the_median(history, instance):
    output = instance.config["KP_IMPORT_OUTPUT"]
    blank = {
        x.ref for x in history.loans if not x.in_app and x.decision in ("approved", "rejected") and x.decided is None
    }
    named = {
        line.split("(ref ")[1].split(")")[0]
        for line in output.splitlines()
        if "decided_on not recorded; left out of lending.median_days_to_decision" in line
    }
    assert named == blank and blank


@pytest.mark.parametrize("fiscal_year", YEARS)
def test_the_reports_lending_figures_are_the_definitions(history, instance, fiscal_year):
    report = report_json(instance, fiscal_year)
    start, end = year_bounds(fiscal_year)
    assert report["fiscal_year"] == fiscal_year
    assert report["period"] == {"start": start.isoformat(), "end": end.isoformat()}
    assert report["lending"] == reference(history, fiscal_year)
    lending = report["lending"]
    assert lending["overdue_items"] == (
        lending["overdue_items_demanded_within_7_days"]
        + lending["overdue_items_demanded_late"]
        + lending["overdue_items_not_demanded"]
    )
    assert report["assets"]["total"] == history.assets == report["assets"]["lendable"]


def test_a_year_still_running_is_counted_to_date_and_its_series_stops_at_the_current_month(history, instance):
    today = date(2017, 3, 15)  # FY2560 runs to 30 September 2017
    with instance.app_context():
        figures = fig.compute(db.session, 2560, chain_intact=lambda: True, today=today)
        months = reports.monthly_series(db.session, 2560, today)
        db.session.remove()
    assert figures["period"]["as_of"] == "2017-03-15"
    expected = reference(history, 2560, as_of=today)
    for key in ("items_out_at_year_end", "items_overdue_at_year_end"):
        assert figures["lending"][key] == expected[key]
    # October … March have values, March's overdue count as at today; April … September have none
    assert [m.first.month for m in months if not m.to_come] == [10, 11, 12, 1, 2, 3]
    assert all(m.requests is m.returns is m.overdue is None for m in months[6:])
    assert months[5].overdue == expected["items_overdue_at_year_end"]
    report = reports.Report(figures=figures, months=months, measures=[], settings={}, made_at=noon(today))
    label = reports.Formatter(report).label("lending.items_out_at_year_end")
    assert "ณ วันที่ 15 มีนาคม 2560" in label and "สิ้นปี" not in label
    assert "15 Mar 2560" in reports.figure_label("assets.total", "en", figures)
