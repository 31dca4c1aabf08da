"""A broken chain never takes the app down: writes are refused with a 503 that names the problem, signing
in still works (so the auditor can read verify's answer), and verify reports a missing table as a problem.

Each test breaks an instance of its own, through the owner's connection (tests.conftest.owner_connection).
"""

from __future__ import annotations

import logging
import re

import pytest
from sqlalchemy import func, select, text

from audit.integrity import runner as queries
from audit.models import AuditEntry
from core.db import db
from core.people import services as core_services
from core.web import context
from tests.conftest import PASSWORD, english, login, owner_connection
from tests.integration.audit_instances import separate_instance
from tests.jobs import follow_job

STRAY_HASH = "f" * 64


def _people(app) -> None:
    with app.app_context():
        context.set_origin("127.0.0.1", "pytest")
        core_services.create_user(db.session, None, "admin1", "ผู้ดูแล ระบบ", {"admin"}, PASSWORD)
        core_services.create_user(db.session, None, "auditor1", "ผู้ตรวจ สอบ", {"auditor"}, PASSWORD)
        core_services.create_user(db.session, None, "staff1", "พนักงาน ทั่วไป", {"staff"}, PASSWORD)
        core_services.update_settings(db.session, None, {"agency_name": "อบต. หนองบัว"})
        db.session.remove()


def _state(app) -> tuple[tuple[int, str], int, str]:
    """(head, entries, agency name): what a refused write must leave as it was."""
    with app.app_context():
        head = queries.head_of(db.session)
        count = db.session.execute(select(func.count()).select_from(AuditEntry)).scalar_one()
        name = core_services.get_settings(db.session)["agency_name"]
        db.session.remove()
    return head, count, name


def _stray_row_beyond_the_head(app) -> int:
    """One entry written straight into the table after the head (the triggers allow INSERT)."""
    with app.app_context():
        head = queries.head_of(db.session)[0]
        db.session.remove()
    with owner_connection(app) as conn:
        conn.execute(
            text(
                "INSERT INTO audit_entries (seq, at, actor, action, subject_type, subject_id, data, ip, user_agent, "
                "request_id, prev_hash, hash) VALUES (:seq, :at, '', 'stray', '', '', '{}', '', '', '', :prev, :hash)"
            ),
            {"seq": head + 1, "at": "2026-01-01 00:00:00", "prev": "e" * 64, "hash": STRAY_HASH},
        )
        conn.commit()
    return head + 1


def _settings_post(client):
    return client.post(
        "/admin/settings",
        data={"agency_name": "อบต. ปลอม", "head_approval_threshold": "5000", "default_loan_days": "7"},
    )


@pytest.fixture
def broken(tmp_path):
    """An instance with an admin, an auditor and one stray entry beyond the head."""
    with separate_instance("unavailable", tmp_path) as app:
        _people(app)
        stray = _stray_row_beyond_the_head(app)
        app.config["KP_STRAY"] = stray
        yield app


def test_an_audited_write_after_a_stray_entry_is_refused_with_a_503_naming_the_problem(broken, caplog):
    before = _state(broken)
    client = broken.test_client()
    assert login(client, "admin1").status_code == 302
    english(client)

    with caplog.at_level(logging.CRITICAL, logger="khruphan.audit"):
        resp = _settings_post(client)

    assert resp.status_code == 503
    html = resp.get_data(as_text=True)
    assert "The audit log cannot be written (an entry lies beyond its head), so nothing was saved." in html
    assert any(r.levelno == logging.CRITICAL and "beyond its head" in r.getMessage() for r in caplog.records)
    assert _state(broken) == before  # nothing half-written: no setting, no entry, the head where it was


def test_the_503_page_is_in_thai_for_a_thai_session(broken):
    client = broken.test_client()
    assert login(client, "admin1").status_code == 302
    with client.session_transaction() as cookie:
        cookie["lang"] = "th"
    resp = _settings_post(client)
    assert resp.status_code == 503
    html = resp.get_data(as_text=True)
    assert "เขียนบันทึกการตรวจสอบไม่ได้ (มีรายการอยู่เลยหัวของสายบันทึก)" in html


def test_signing_in_still_works_and_the_auditor_is_told_and_reads_verify(broken, caplog):
    client = broken.test_client()
    with caplog.at_level(logging.CRITICAL):
        resp = login(client, "auditor1")
    assert resp.status_code == 302
    assert any("auth.login" in r.getMessage() and "WITHOUT its audit entry" in r.getMessage() for r in caplog.records)
    english(client)
    page = client.get("/audit/verify")
    assert page.status_code == 200
    # the banner of the login, in the auditor's own language (Thai by default)
    assert "ขณะนี้เขียนบันทึกการตรวจสอบไม่ได้" in page.get_data(as_text=True)

    html = follow_job(broken, client, client.post("/audit/verify")).get_data(as_text=True)
    assert re.search(r'class="alert alert-danger"[^>]*id="kp-verify-result"', html)
    assert re.search(rf"[Ee]ntry {broken.config['KP_STRAY']}\b", html)  # the stray entry is named
    with broken.app_context():  # the login itself was committed: its session works, though unrecorded
        assert (
            db.session.execute(
                select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "auth.login")
            ).scalar_one()
            == 0
        )
        db.session.remove()


def test_staff_sign_in_without_the_banner(broken):
    client = broken.test_client()
    assert login(client, "staff1").status_code == 302
    assert "ขณะนี้เขียนบันทึกการตรวจสอบไม่ได้" not in client.get("/", follow_redirects=True).get_data(as_text=True)


@pytest.fixture
def dropped(tmp_path):
    """An instance whose audit_entries table was dropped."""
    with separate_instance("dropped", tmp_path) as app:
        _people(app)
        with owner_connection(app) as conn:
            cascade = "" if conn.dialect.name == "sqlite" else " CASCADE"
            conn.execute(text(f"DROP TABLE audit_entries{cascade}"))
            conn.commit()
        yield app


def test_verify_reports_a_dropped_table_as_a_problem_not_a_traceback(dropped):
    result = dropped.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 1, result.output
    assert "FAILED at entry 0 (missing): The audit tables cannot be read" in result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)  # the command's own exit, no error escaped


def test_the_verify_page_shows_a_dropped_table_and_writes_are_refused(dropped):
    client = dropped.test_client()
    assert login(client, "auditor1").status_code == 302  # signing in works without the table
    english(client)
    resp = follow_job(dropped, client, client.post("/audit/verify"))
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "The audit tables cannot be read" in html

    admin = dropped.test_client()
    assert login(admin, "admin1").status_code == 302
    english(admin)
    resp = _settings_post(admin)
    assert resp.status_code == 503
    assert "The audit log cannot be written (its tables cannot be read)" in resp.get_data(as_text=True)
