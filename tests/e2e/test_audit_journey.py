"""The auditor's journey in a real browser: find a record's changes, read an entry's diff, verify."""

import pytest

from audit import record
from core.db import begin_write, db
from core.web import context
from tests.conftest import PASSWORD, unique
from tests.e2e.conftest import sign_in, submit

pytestmark = pytest.mark.e2e


def _changes(app, subject: tuple[str, str]) -> list[int]:
    with app.app_context():
        context.set_origin("203.0.113.9", "Mozilla/5.0 e2e")
        begin_write(db.session)
        seqs = [
            record(
                db.session,
                None,
                "asset.updated",
                subject,
                {"before": {"location": "ห้องเก็บของ ชั้น 1"}, "after": {"location": f"ห้องประชุมสภา {n}"}},
            ).seq
            for n in range(3)
        ]
        db.session.commit()
        db.session.remove()
    return seqs


def test_an_auditor_filters_the_log_reads_a_diff_and_verifies_the_chain(app, desktop, live_server, make_user):
    auditor = make_user(roles=["auditor"], name="นางสาวตรวจ สอบดี")
    subject = ("asset", unique("e2e"))
    seqs = _changes(app, subject)
    desktop.goto(f"{live_server}/login")
    sign_in(desktop, live_server, auditor.username, PASSWORD)
    submit(desktop, "nav >> a[href='/audit/']")
    desktop.fill("#type", subject[0])
    desktop.fill("#id", subject[1])
    submit(desktop, "form[role=search] button[type=submit]")
    links = desktop.locator("table.kp-audit tbody tr td:first-child a")
    assert [int(t) for t in links.all_inner_texts()] == sorted(seqs, reverse=True)

    submit(desktop, links.first)
    assert desktop.locator("table.kp-diff .kp-before").first.inner_text() == "ห้องเก็บของ ชั้น 1"
    assert desktop.locator("table.kp-diff .kp-after").first.inner_text() == "ห้องประชุมสภา 2"

    desktop.goto(f"{live_server}/audit/verify")
    submit(desktop, "#kp-verify-now")
    result = desktop.locator("#kp-verify-result")
    assert "alert-success" in result.get_attribute("class")


def test_the_log_and_an_entry_fit_a_phone(app, phone, live_server, make_user):
    auditor = make_user(roles=["auditor"])
    seq = _changes(app, ("asset", unique("phone")))[0]
    phone.goto(f"{live_server}/login")
    sign_in(phone, live_server, auditor.username, PASSWORD)
    for path in ("/audit/", f"/audit/entry/{seq}", "/audit/verify"):
        phone.goto(f"{live_server}{path}")
        overflow = phone.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, path
