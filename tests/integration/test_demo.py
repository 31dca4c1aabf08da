"""`demo load` tells a story: both fiscal years have lending figures, evidence and measures, whatever the day."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from audit.integrity import runner as audit_queries
from audit.integrity.checkpoints import log_path
from audit.models import AuditEntry
from core.dates import bangkok_today, fiscal_year_of
from core.db import db
from demo.office import load_demo
from evidence.report import figures, measure_rows
from lending.loans.models import Loan
from lending.stocktake.queries import stocktake_figures
from tests.integration.audit_instances import separate_instance


@pytest.fixture
def fresh_app(tmp_path):
    """An app on a database of its own (PostgreSQL: a schema of its own), removed afterwards."""
    with separate_instance("demo", tmp_path, AUDIT_CHECKPOINT_LOG=str(tmp_path / "checkpoints.log")) as app:
        yield app


@pytest.mark.parametrize(
    "today", [None, date(2025, 10, 1), date(2025, 9, 30)], ids=["today", "first-day-of-year", "last-day-of-year"]
)
def test_demo_tells_both_years(fresh_app, today):
    day = today or bangkok_today()
    with fresh_app.app_context():
        session = db.session
        passwords = load_demo(session, fresh_app.config, today)
        assert set(passwords) >= {"admin", "somsri", "head", "auditor", "malee"}
        current = fiscal_year_of(day)
        for year in (current - 1, current):
            report = figures.compute(session, year, lambda: True, stocktake=stocktake_figures, today=day)
            lending = report["lending"]
            for key in ("requests", "items_checked_out", "items_returned"):
                assert lending[key] > 0, (year, key, lending)
            if year < current or (day - date(day.year if day.month >= 10 else day.year - 1, 10, 1)).days > 14:
                assert lending["overdue_items"] > 0, (year, lending)
                assert lending["overdue_items_demanded_within_7_days"] + lending["overdue_items_demanded_late"] > 0
            assert report["evidence"]["items"] >= 2 and report["evidence"]["public_items"] >= 1
            rows = measure_rows(session, year)
            assert rows, year
            links = [e.url for r in rows for e in r.evidence if e.url]
            assert links and all(u.startswith(fresh_app.config["BASE_URL"] + "/public/e/") for u in links), year
            # the disposed chair left the register before either year; 190 chairs and tents lent by count
            assert report["assets"]["total"] == 61 + 190
        previous = figures.compute(session, current - 1, lambda: True, stocktake=stocktake_figures, today=day)
        # the community group's loan by count (two chairs back damaged) fell in the previous year when the
        # current one is less than a week old
        from core.dates import bangkok_midnight_utc, fiscal_year_bounds
        from lending.loans.models import LoanItem

        year_end = bangkok_midnight_utc(fiscal_year_bounds(current - 1)[1] + timedelta(days=1))
        outside_damaged = len(
            session.scalars(
                select(LoanItem.id)
                .join(Loan, Loan.id == LoanItem.loan_id)
                .where(Loan.party_id.is_not(None), LoanItem.condition == "damaged", LoanItem.returned_at < year_end)
            ).all()
        )
        assert previous["lending"]["items_damaged"] == 1 + outside_damaged
        assert previous["lending"]["items_lost"] == 1
        assert previous["assets"]["not_found_in_stocktake"] == 1
        statuses = set(session.scalars(select(Loan.status)))
        assert {"requested", "approved", "checked_out", "returned", "rejected", "cancelled"} <= statuses
        actions = set(session.scalars(select(AuditEntry.action)))
        assert {
            "loan.requested",
            "loan.approved",
            "audit.checkpoint",
            "measures.copied",
            "evidence.uploaded",
        } <= actions
        result = audit_queries.verify_engine(db.engine, log=log_path(fresh_app.config), key=None)
        assert result.ok
