"""The report's JSON figures against reference/report-metrics.md, every key computed by hand.

Lending figures use fiscal year 2560 (2016-10-01 … 2017-09-30), which no other test touches: loans are
written directly through the models with explicit timestamps (one transaction, with an audit entry, so
the guard accepts the commit), plus a paper ledger imported through lending/loans/ledger/ with B.E. dates.
The assets, audit and evidence figures count the whole database, so they are checked in a separate, fresh
instance (tests/integration/audit_instances.py).

Every loan below says what it adds; the expected values at the bottom are the sums.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from decimal import Decimal
from fractions import Fraction

import pytest
from sqlalchemy import func, select

from audit import record
from audit.models import AuditEntry, AuditHead
from core.dates import BANGKOK
from core.db import begin_write, db
from core.files import FileStore
from core.people import services as core_services
from core.web import context
from evidence import report as reports
from evidence.items import services as evidence_services
from evidence.measures import services as measure_services
from evidence.report import figures as fig
from lending.loans.ledger.plan import apply_ledger
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
from tests.conftest import PASSWORD, unique
from tests.integration.audit_instances import separate_instance

YEAR = 2560  # 2016-10-01 … 2017-09-30


def bkk(y: int, m: int, d: int, hh: int = 10, mm: int = 0) -> datetime:
    """A Bangkok wall-clock time as the aware UTC instant the app stores."""
    return datetime.combine(date(y, m, d), time(hh, mm), tzinfo=BANGKOK).astimezone(UTC)


def _asset(session, **fields) -> Asset:
    from lending.register.services import unique_tag

    values = {
        "asset_number": unique("560-60-"),
        "name": "เก้าอี้พลาสติก",
        "category": "เก้าอี้",
        "brand": "",
        "model": "",
        "serial_number": "",
        "acquired_on": date(2015, 1, 1),
        "price": Decimal("350.00"),
        "location": "ห้องเก็บของ",
        "department": "สำนักปลัด",
        "lendable": True,
        **fields,
    }
    asset = Asset(tag=unique_tag(session), status=values.pop("status", "available"), status_note="")
    asset.apply(values)
    asset.search_text = compute_search_text(asset.state())
    session.add(asset)
    session.flush()
    record(session, None, "asset.created", asset, {"after": asset.state()})
    return asset


# (name, requested, decided, status, checked_out, due, [(condition, returned/lost at)], [demand days])
LOANS = [
    # L1 requested 30 Sep 23:30 Bangkok (16:30 UTC): the OLD year; handed over 1 Oct, back on its due date.
    #    loans_checked_out +1, items +1, returned +1 on time
    (
        "L1",
        bkk(2016, 9, 30, 23, 30),
        bkk(2016, 10, 1, 9),
        RETURNED,
        bkk(2016, 10, 1, 10),
        date(2016, 10, 5),
        [(GOOD, bkk(2016, 10, 5, 15))],
        [],
    ),
    # L2 requested 1 Oct 00:30 Bangkok (30 Sep 17:30 UTC): the NEW year; still waiting.   requests, pending
    ("L2", bkk(2016, 10, 1, 0, 30), None, REQUESTED, None, date(2016, 10, 10), [None], []),
    # L3 requested on the last evening, rejected after the year ended: 2 days.   requests, rejected, median 2
    ("L3", bkk(2017, 9, 30, 23, 30), bkk(2017, 10, 2, 10), REJECTED, None, date(2017, 10, 9), [None], []),
    # L4 requested 1 Oct 2017 00:30 Bangkok (30 Sep 17:30 UTC): the NEXT year; counted nowhere here.
    ("L4", bkk(2017, 10, 1, 0, 30), None, REQUESTED, None, date(2017, 10, 9), [None], []),
    # L5 three items, partial returns: on the due date (good), late (damaged), lost 15 Feb; a demand 4 days
    #    after the due date covers the two still out.   median 0; items 3; returned 2 (1 on time, 1 late),
    #    damaged 1, lost 1; overdue 2, both demanded within 7 days
    (
        "L5",
        bkk(2017, 1, 10, 9),
        bkk(2017, 1, 10, 14),
        RETURNED,
        bkk(2017, 1, 11, 9),
        date(2017, 1, 20),
        [(GOOD, bkk(2017, 1, 20, 16)), (DAMAGED, bkk(2017, 1, 25, 10)), (LOST, bkk(2017, 2, 15, 11))],
        [date(2017, 1, 24)],
    ),
    # L6 two items back 15 days late; a reminder ON the due date (not a demand), then a demand 10 days after.
    #    median 2; items 2; returned late 2; overdue 2, demanded late 2
    (
        "L6",
        bkk(2017, 3, 1, 10),
        bkk(2017, 3, 3, 10),
        RETURNED,
        bkk(2017, 3, 3, 11),
        date(2017, 3, 10),
        [(GOOD, bkk(2017, 3, 25, 9)), (GOOD, bkk(2017, 3, 25, 9))],
        [date(2017, 3, 10), date(2017, 3, 20)],
    ),
    # L7 requested 06:00 Bangkok (23:00 UTC the day before), approved next day 08:00 Bangkok: 1 Bangkok day
    #    (2 UTC days). Still out, never demanded.
    #    median 1; items 1; out and overdue at year end; not demanded
    (
        "L7",
        bkk(2017, 6, 1, 6),
        bkk(2017, 6, 2, 8),
        CHECKED_OUT,
        bkk(2017, 6, 5, 9),
        date(2017, 6, 30),
        [None],
        [],
    ),
    # L8 due on the LAST day of the year: out at year end but not yet overdue. One item back on 3 Oct (late,
    #    next year), one still out; a demand 12 Oct covers only the one still out then.
    #    median 0; items 2; out at year end 2, overdue at year end 0; overdue 2: one late demand, one none
    (
        "L8",
        bkk(2017, 9, 20, 10),
        bkk(2017, 9, 20, 11),
        CHECKED_OUT,
        bkk(2017, 9, 21, 9),
        date(2017, 9, 30),
        [(GOOD, bkk(2017, 10, 3, 10)), None],
        [date(2017, 10, 12)],
    ),
    # L9 approved, then cancelled before hand-over.   requests, cancelled
    ("L9", bkk(2017, 4, 1, 10), bkk(2017, 4, 2, 10), CANCELLED, None, date(2017, 4, 10), [None], []),
    # L10 approved, not handed over yet: 2 days.   requests, approved, median 2
    ("L10", bkk(2017, 9, 25, 10), bkk(2017, 9, 27, 10), APPROVED, None, date(2017, 10, 5), [None], []),
    # L11 requested and handed over in the old year (30 Sep 23:00 Bangkok = 16:00 UTC), due 3 Oct,
    #    back 10 Oct;
    #    demanded 5 Oct.   returned 1 late; overdue 1 demanded within 7 days (not a hand-over of this year)
    (
        "L11",
        bkk(2016, 9, 15, 10),
        bkk(2016, 9, 16, 10),
        RETURNED,
        bkk(2016, 9, 30, 23),
        date(2016, 10, 3),
        [(GOOD, bkk(2016, 10, 10, 10))],
        [date(2016, 10, 5)],
    ),
    # L12 lost before its due date: lost, not overdue.   median 0; items 1; lost 1
    (
        "L12",
        bkk(2017, 5, 1, 9),
        bkk(2017, 5, 1, 15),
        RETURNED,
        bkk(2017, 5, 2, 9),
        date(2017, 5, 10),
        [(LOST, bkk(2017, 5, 8, 10))],
        [],
    ),
]

# The paper ledger, dates typed the Thai way (DD/MM/YYYY in B.E.) and, for one loan, in ISO.
LEDGER_HEADER = (
    "ref,asset_number,borrower,purpose,requested_on,decision,decided_by,decided_on,checked_out_on,"
    "due_on,returned_on,condition,demanded_on"
)
# X1 approved after 1 day, back on its due date.         requests, approved, median 1; items 1; on time 1
# X2 two items: one back late damaged, one still out; demanded 2 days after the due date.
#    requests, approved, median 2; items 2; returned 1 late damaged; out and overdue at year end 1; overdue 2
#    both demanded within 7 days
# X3 rejected after 4 days.                              requests, rejected, median 4
# X4 cancelled.                                          requests, cancelled
# X5 waiting.                                            requests, pending
LEDGER_ROWS = [
    "{x1},{a},{b},ประชุมประจำเดือน,15/11/2559,approved,{o},16/11/2559,17/11/2559,24/11/2559,24/11/2559,good,",
    "{x2},{c},{b},งานวันเด็ก,2016-12-01,approved,{o},2016-12-03,2016-12-05,2016-12-10,2016-12-15,damaged,2016-12-12",
    "{x2},{d},{b},งานวันเด็ก,2016-12-01,approved,{o},2016-12-03,2016-12-05,2016-12-10,,,2016-12-12",
    "{x3},{e},{b},ใช้ส่วนตัว,01/02/2560,rejected,{o},05/02/2560,,,,,",
    "{x4},{f},{b},อบรม,10/03/2560,cancelled,,11/03/2560,,,,,",
    "{x5},{g},{b},ประชุมสภา,20/09/2560,,,,,,,,",
]

EXPECTED_LENDING = {
    "requests": 14,  # L2 L3 L5 L6 L7 L8 L9 L10 L12 + X1 X2 X3 X4 X5 (not L1, L4, L11)
    "approved": 8,  # L5 L6 L7 L8 L10 L12 X1 X2
    "rejected": 2,  # L3 X3
    "cancelled": 2,  # L9 X4
    "pending": 2,  # L2 X5
    # L3 2, L5 0, L6 2, L7 1, L8 0, L10 2, L12 0, X1 1, X2 2, X3 4 → 0 0 0 1 [1 2] 2 2 2 4 → 1.5
    "median_days_to_decision": 1.5,
    "loans_checked_out": 8,  # L1 L5 L6 L7 L8 L12 X1 X2 (not L11: 30 Sep 23:00 Bangkok)
    "items_checked_out": 13,  # 1 + 3 + 2 + 1 + 2 + 1 + 1 + 2
    "items_returned": 8,  # L1, L5 ×2, L6 ×2, L11, X1, X2 (not L8's: back next year)
    "items_returned_on_time": 3,  # L1, L5 (on its due date), X1
    "items_returned_late": 5,  # L5, L6 ×2, L11, X2
    "on_time_return_rate": 37.5,
    "items_damaged": 2,  # L5, X2
    "items_lost": 2,  # L5, L12
    "items_out_at_year_end": 4,  # L7, L8 ×2, X2
    "items_overdue_at_year_end": 2,  # L7, X2 (L8 is due on the last day)
    "overdue_items": 10,  # L5 ×2, L6 ×2, L7, L8 ×2, L11, X2 ×2
    "overdue_items_demanded_within_7_days": 5,  # L5 ×2, L11, X2 ×2
    "overdue_items_demanded_late": 3,  # L6 ×2, L8 (the one still out on 12 Oct)
    "overdue_items_not_demanded": 2,  # L7, L8 (back before the demand)
}

SPEC_KEYS = {
    "lending": [
        "requests",
        "approved",
        "rejected",
        "cancelled",
        "pending",
        "median_days_to_decision",
        "loans_checked_out",
        "items_checked_out",
        "items_returned",
        "items_returned_on_time",
        "items_returned_late",
        "on_time_return_rate",
        "items_damaged",
        "items_lost",
        "items_out_at_year_end",
        "items_overdue_at_year_end",
        "overdue_items",
        "overdue_items_demanded_within_7_days",
        "overdue_items_demanded_late",
        "overdue_items_not_demanded",
    ],
    "assets": ["total", "lendable", "checked_in_stocktake", "not_found_in_stocktake"],
    "audit": ["entries_in_year", "chain_intact", "head_seq", "head_hash"],
    "evidence": ["items", "public_items", "by_indicator"],
    "eservice": [
        "requests_staff",
        "requests_eservice",
        "requests_counter",
        "requests_agency",
        "outside_requests",
        "outside_approved",
        "outside_rejected",
        "outside_median_days_to_decision",
        "loans_by_count",
        "items_lent_by_count",
        "outside_items_returned",
        "outside_items_returned_on_time",
        "outside_on_time_return_rate",
        "survey_answers",
        "survey_average",
    ],
}


@pytest.fixture(scope="module")
def fy2560(app):
    """The loans of fiscal year 2560: written through the models, and a ledger imported."""
    with app.app_context():
        context.set_origin("127.0.0.1", "pytest report figures")
        session = db.session
        borrower = core_services.create_user(session, None, unique("b560"), "นางสาวยืม ทดสอบ", {"staff"}, PASSWORD)
        officer = core_services.create_user(session, None, unique("o560"), "นายพัสดุ ทดสอบ", {"supply_officer"}, PASSWORD)
        borrower_id, officer_id = borrower.id, officer.id
        begin_write(session)
        ledger_assets = [_asset(session).asset_number for _ in range(7)]
        created = {}
        for name, requested, decided, status, handed, due, items, demand_days in LOANS:
            assets = [_asset(session) for _ in items]
            loan = Loan(
                ref=unique(f"R560-{name}-"),
                borrower_id=borrower_id,
                purpose="ทดสอบรายงาน",
                place="อบต.",
                off_premises=False,
                start_on=(handed or requested).date(),
                due_on=due,
                status=status,
                requested_at=requested,
                needs_head=False,
                decided_at=decided if status in (APPROVED, CHECKED_OUT, RETURNED, REJECTED) else None,
                decided_by_id=officer_id if status in (APPROVED, CHECKED_OUT, RETURNED, REJECTED) else None,
                cancelled_at=bkk(2017, 4, 3) if status == CANCELLED else None,
                checked_out_at=handed,
                checked_out_by_id=officer_id if handed else None,
            )
            loan.items = [
                LoanItem(
                    asset_id=a.id,
                    value=a.price,
                    condition=it[0] if it else None,
                    returned_at=it[1] if it else None,
                )
                for a, it in zip(assets, items, strict=True)
            ]
            if status == RETURNED:
                loan.returned_at = max(it[1] for it in items)
            session.add(loan)
            session.flush()
            for day in demand_days:
                session.add(
                    Demand(
                        loan_id=loan.id,
                        demanded_on=day,
                        demanded_at=datetime.combine(day, time(9), tzinfo=BANGKOK).astimezone(UTC),
                        channel="letter",
                        issued_by_id=officer_id,
                        item_ids=[
                            i.id
                            for i in loan.items
                            if i.condition is None or i.returned_at > datetime.combine(day, time(23), tzinfo=BANGKOK)
                        ],
                    )
                )
            created[name] = loan.id
        record(session, None, "test.report_figures_loans", ("test", "fy2560"), {"loans": sorted(created)})
        session.commit()

        refs = {f"x{n}": unique(f"X560-{n}-") for n in range(1, 6)}
        letters = dict(zip("acdefg", ledger_assets, strict=False))
        csv_text = (
            "\n".join(
                [LEDGER_HEADER]
                + [row.format(b=borrower.username, o=officer.username, **letters, **refs) for row in LEDGER_ROWS]
            )
            + "\n"
        )
        plan = apply_ledger(session, officer, csv_text.encode("utf-8"), "ledger-2560.csv")
        assert plan.ok, [(e.row, e.column, e.reason) for e in plan.errors]
        assert len(plan.loans) == 5 and plan.items == 6 and plan.demands == 1
        db.session.remove()
    return created


def _report(app, year: int = YEAR) -> dict:
    with app.app_context():
        built = reports.build(db.session, year, engine=db.engine, config=app.config)
        db.session.remove()
    return built.figures


def test_the_json_has_exactly_the_keys_and_nesting_of_report_metrics(app, fy2560):
    figures = _report(app)
    assert list(figures) == ["fiscal_year", "period", "lending", "assets", "audit", "evidence", "eservice"]
    assert figures["fiscal_year"] == YEAR
    assert figures["period"] == {"start": "2016-10-01", "end": "2017-09-30"}
    for section, keys in SPEC_KEYS.items():
        assert list(figures[section]) == keys, section
    json.dumps(figures)  # plain JSON values only


def test_every_lending_figure_matches_the_hand_computed_value(app, fy2560):
    lending = _report(app)["lending"]
    assert lending == EXPECTED_LENDING
    assert lending["overdue_items"] == (
        lending["overdue_items_demanded_within_7_days"]
        + lending["overdue_items_demanded_late"]
        + lending["overdue_items_not_demanded"]
    )
    assert lending["requests"] == sum(lending[k] for k in ("approved", "rejected", "cancelled", "pending"))


def test_the_neighbouring_years_see_their_own_side_of_each_edge(app, fy2560):
    """2559 holds L1 (30 Sep 23:30 Bangkok) and L11; 2561 holds L4 (1 Oct 00:30 Bangkok) and what 2560
    left."""
    before, after = _report(app, YEAR - 1)["lending"], _report(app, YEAR + 1)["lending"]
    assert before["requests"] == 2 and before["approved"] == 2  # L1, L11
    assert before["loans_checked_out"] == 1  # L11, handed over 30 Sep 23:00 Bangkok
    assert before["items_out_at_year_end"] == 1 and before["items_overdue_at_year_end"] == 0  # L11, due 3 Oct
    assert after["requests"] == 1 and after["pending"] == 1  # L4
    assert after["items_returned"] == 1 and after["items_returned_late"] == 1  # L8's item, back 3 Oct
    assert after["overdue_items"] == 0  # nothing handed over falls due in 2561 (L10 never went out)
    assert after["items_out_at_year_end"] == 3 == after["items_overdue_at_year_end"]  # L7, L8, X2


def test_the_monthly_series_agree_with_the_year_figures(app, fy2560):
    with app.app_context():
        months = reports.monthly_series(db.session, YEAR)
        db.session.remove()
    assert [m.first for m in months] == [
        date(2016, 10, 1),
        date(2016, 11, 1),
        date(2016, 12, 1),
        date(2017, 1, 1),
        date(2017, 2, 1),
        date(2017, 3, 1),
        date(2017, 4, 1),
        date(2017, 5, 1),
        date(2017, 6, 1),
        date(2017, 7, 1),
        date(2017, 8, 1),
        date(2017, 9, 1),
    ]
    assert sum(m.requests for m in months) == EXPECTED_LENDING["requests"]
    assert sum(m.returns for m in months) == EXPECTED_LENDING["items_returned"]
    assert months[-1].overdue == EXPECTED_LENDING["items_overdue_at_year_end"]
    # October: L2 (00:30 on the 1st); September: L3 (23:30 on the 30th), L8, L10, X5
    assert months[0].requests == 1 and months[-1].requests == 4
    # returns in October: L1 and L11; in March: L6's two
    assert months[0].returns == 2 and months[5].returns == 2
    # out past due at the end of each month: Dec: X2's item (due 10 Dec); Jan: X2, L5's lost-later item;
    # Feb: X2 (L5's was lost on 15 Feb); Jun: X2 only (L7 is due 30 Jun, the last day); Jul: X2, L7
    assert [m.overdue for m in months] == [0, 0, 1, 2, 1, 1, 1, 1, 1, 2, 2, 2]


def test_the_command_prints_the_same_json(app, fy2560):
    result = app.test_cli_runner().invoke(args=["report", "ita", "--year", str(YEAR), "--format", "json"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["lending"] == EXPECTED_LENDING
    assert printed["audit"]["chain_intact"] is True
    assert printed["audit"]["entries_in_year"] == 0  # every entry was written now, not in 2560


def test_nothing_to_measure_gives_null_rates(app):
    figures = _report(app, 2530)
    assert figures["lending"]["median_days_to_decision"] is None
    assert figures["lending"]["on_time_return_rate"] is None
    assert figures["lending"]["requests"] == 0


def test_rounding_is_half_away_from_zero():
    assert fig.round_half_away(Decimal("6.25"), 1) == 6.3  # banker's rounding would give 6.2
    assert fig.round_half_away(Fraction(17, 8), 2) == 2.13  # 2.125
    assert fig.round_half_away(Fraction(-1, 2), 0) == -1
    assert fig.round_half_away(fig.percent(41, 80), 1) == 51.3  # 41 / 80 * 100 is 51.24999… as a float
    assert fig.round_half_away(fig.percent(1, 8), 1) == 12.5
    with pytest.raises(TypeError):  # a float has already lost the exact value
        fig.round_half_away(51.25, 1)


# --- assets, audit and evidence: global counts, in a database of their own --------------------------


def _png(color: tuple[int, int, int]) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (40, 30), color).save(buf, format="PNG")
    return buf.getvalue()


def test_assets_audit_and_evidence_figures_in_a_fresh_instance(tmp_path):
    from core.dates import bangkok_date, fiscal_year_of

    with separate_instance("report_figures", tmp_path) as inst:
        with inst.app_context():
            context.set_origin("127.0.0.1", "pytest fresh report")
            session = db.session
            admin = core_services.create_user(session, None, "admin560", "ผู้ดูแล ทดสอบ", {"admin"}, PASSWORD)
            begin_write(session)
            _asset(session)  # on the register
            _asset(session, lendable=False)  # on the register, not lendable
            _asset(session, acquired_on=date(2017, 9, 30))  # acquired on the last day: counted
            _asset(session, acquired_on=date(2017, 10, 1))  # acquired after the year: not counted
            _asset(session, status="disposed", disposed_on=date(2017, 9, 29))  # disposed before the last day
            _asset(session, status="disposed", disposed_on=date(2017, 9, 30), lendable=False)  # on the last day
            record(session, None, "test.assets", ("test", "assets"), {})
            session.commit()
            measure_services.ensure_indicators(session, admin, YEAR)
            measure_services.ensure_indicators(session, admin, YEAR + 1)
            store = FileStore(inst.config["EVIDENCE_DIR"])
            up = dict(max_bytes=10 * 2**20, fiscal_year=YEAR)
            first = evidence_services.upload_evidence(
                session, admin, store, _png((1, 2, 3)), "a.png", title="คู่มือ", indicators=["i20", "i21"], **up
            )
            evidence_services.upload_evidence(
                session, admin, store, _png((4, 5, 6)), "b.png", title="ภาพ", indicators=["i20"], **up
            )
            evidence_services.upload_evidence(
                session, admin, store, _png((7, 8, 9)), "c.png", title="แผน", indicators=["o36"], **up
            )
            evidence_services.upload_evidence(
                session,
                admin,
                store,
                _png((9, 9, 9)),
                "d.png",
                title="ปีหน้า",
                indicators=["i20"],
                max_bytes=10 * 2**20,
                fiscal_year=YEAR + 1,
            )
            evidence_services.set_visibility(session, admin, first.id, True)

            built = reports.build(session, YEAR, engine=db.engine, config=inst.config)
            figures = built.figures
            head = session.get(AuditHead, 1)
            total_entries = session.execute(select(func.count()).select_from(AuditEntry)).scalar_one()
            assert figures["assets"] == {
                "total": 4,
                "lendable": 2,
                "checked_in_stocktake": 0,
                "not_found_in_stocktake": 0,
            }
            assert figures["evidence"] == {
                "items": 3,
                "public_items": 1,
                "by_indicator": {"i20": 2, "i21": 1, "o36": 1},
            }
            assert figures["audit"] == {
                "entries_in_year": 0,
                "chain_intact": True,
                "head_seq": head.seq,
                "head_hash": head.hash,
            }
            # this year's report counts every entry (all written today) and covers the whole chain
            now_year = fiscal_year_of(bangkok_date(datetime.now(UTC)))
            current = reports.build(session, now_year, engine=db.engine, config=inst.config).figures["audit"]
            assert current["entries_in_year"] == total_entries == head.seq
            assert current["head_seq"] == total_entries

            # a damaged checkpoint file is itself a sign of tampering: the chain no longer verifies
            with open(inst.config["AUDIT_CHECKPOINT_LOG"], "a", encoding="utf-8") as fh:
                fh.write("not json\n")
            assert (
                reports.build(session, YEAR, engine=db.engine, config=inst.config).figures["audit"]["chain_intact"]
                is False
            )
            db.session.remove()
