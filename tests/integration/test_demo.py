"""`demo load` tells a story: both fiscal years have lending figures, evidence and measures, whatever the day."""

from __future__ import annotations

import os
from datetime import date

import pytest
from flask_migrate import upgrade
from sqlalchemy import create_engine, select, text

from audit import queries as audit_queries
from audit.checkpoints import log_path
from audit.models import AuditEntry
from core.dates import bangkok_today, fiscal_year_of
from core.db import db
from evidence import figures
from evidence.report import measure_rows
from lending.demo import load_demo
from lending.loans import Loan
from lending.stocktake import stocktake_figures

PG = os.environ.get("DATABASE_URL", "").startswith("postgres")


def _reset(url: str) -> None:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture
def fresh_app(tmp_path, request):
    """An app on a database of its own (PostgreSQL: the test database, emptied before and after)."""
    from wsgi import create_app

    url = os.environ["DATABASE_URL"] if PG else f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    if PG:
        _reset(url)
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "demo", "BASE_URL": "http://kp.test",
                      "EVIDENCE_DIR": str(tmp_path / "files"), "OUTBOX_DIR": str(tmp_path / "outbox"),
                      "AUDIT_CHECKPOINT_LOG": str(tmp_path / "checkpoints.log"), "TESTING": True})
    with app.app_context():
        upgrade()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    if PG:  # leave the shared test database as the session's fixture expects it: migrated and empty
        _reset(url)
        with app.app_context():
            upgrade()
            db.session.remove()
            db.engine.dispose()


@pytest.mark.parametrize("today", [None, date(2025, 10, 1), date(2025, 9, 30)],
                         ids=["today", "first-day-of-year", "last-day-of-year"])
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
            assert measure_rows(session, year), year
            assert report["assets"]["total"] == 61  # the disposed chair left the register before either year
        previous = figures.compute(session, current - 1, lambda: True, stocktake=stocktake_figures, today=day)
        assert previous["lending"]["items_damaged"] == 1 and previous["lending"]["items_lost"] == 1
        assert previous["assets"]["not_found_in_stocktake"] == 1
        statuses = set(session.scalars(select(Loan.status)))
        assert {"requested", "approved", "checked_out", "returned", "rejected", "cancelled"} <= statuses
        actions = set(session.scalars(select(AuditEntry.action)))
        assert {"loan.requested", "loan.approved", "audit.checkpoint", "measures.copied",
                "evidence.uploaded"} <= actions
        result = audit_queries.verify_engine(db.engine, log=log_path(fresh_app.config), key=None)
        assert result.ok
