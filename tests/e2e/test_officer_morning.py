"""An officer's morning in a real browser, at phone and at desktop width: the home page shows what waits, and
from it the officer approves a request, hands over a loan that starts today and receives one due back today.

The office is a database of its own with its own live server, so the home page's lists hold exactly this
test's loans (the session's shared database holds every other test's requests too). Each step waits for a
state — a page loaded, a status shown — never for a time.
"""

from __future__ import annotations

import re
import threading
from decimal import Decimal

import pytest
from playwright.sync_api import expect
from werkzeug.serving import make_server

from audit import record
from core.db import begin_write, db
from core.models import User
from core.people import services as core_services
from core.web import context
from lending.loans.models import Loan
from lending.register.models import Asset, compute_search_text
from lending.register.services import unique_tag
from tests.conftest import PASSWORD, unique
from tests.e2e.conftest import sign_in, submit
from tests.integration.audit_instances import separate_instance
from tests.web.test_loan_pages import new_loan

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def office(tmp_path_factory):
    """An office of its own (a supply officer and a borrower) served on a free local port."""
    with separate_instance("morning", tmp_path_factory.mktemp("morning")) as app:
        with app.app_context():
            context.set_origin("127.0.0.1", "pytest")
            officer = core_services.create_user(
                db.session, None, "somsri", "นางสมศรี รักพัสดุ", {"supply_officer"}, PASSWORD
            ).id
            borrower = core_services.create_user(db.session, None, "malee", "นางสาวมาลี ใจดี", {"staff"}, PASSWORD).id
            db.session.remove()
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield {"app": app, "url": f"http://127.0.0.1:{server.server_port}", "officer": officer, "borrower": borrower}
        server.shutdown()


def _asset(app, name: str) -> int:
    with app.app_context():
        begin_write(db.session)
        asset = Asset(tag=unique_tag(db.session), status="available", status_note="")
        asset.apply(
            {
                "asset_number": unique("416-69-"),
                "name": name,
                "category": "ทดสอบ",
                "brand": "",
                "model": "",
                "serial_number": "",
                "acquired_on": None,
                "price": Decimal("1500.00"),
                "location": "ห้องเก็บของ",
                "department": "สำนักปลัด",
                "lendable": True,
            }
        )
        asset.search_text = compute_search_text(asset.state())
        db.session.add(asset)
        db.session.flush()
        record(db.session, None, "asset.created", asset, {"after": asset.state()})
        db.session.commit()
        asset_id = asset.id
        db.session.remove()
        return asset_id


def _user(app, user_id: int) -> User:
    with app.app_context():
        user = db.session.get(User, user_id)
        db.session.expunge(user)
        return user


def _loan(app, loan_id: int) -> tuple[str, str, list[int]]:
    with app.app_context():
        loan = db.session.get(Loan, loan_id)
        out = (loan.ref, loan.status, [i.id for i in loan.items])
        db.session.remove()
        return out


class _Asset:
    def __init__(self, asset_id: int):
        self.id = asset_id


def _home(page, base: str) -> None:
    """Back to the home page through the brand link, as a person does on any width."""
    submit(page, "a.navbar-brand")
    expect(page).to_have_url(f"{base}/")


def _open_from_list(page, key: str, ref: str) -> None:
    row = page.locator(f"#list-{key} a", has_text=ref)
    expect(row).to_be_visible()
    submit(page, row)
    expect(page.locator("h1")).to_have_text(ref)


def _no_sideways_scroll(page) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{page.url} scrolls sideways by {overflow}px"


@pytest.mark.parametrize("device", ["phone", "desktop"])
def test_an_officers_morning_from_the_home_page(office, request, device):
    app, base = office["app"], office["url"]
    borrower, officer = _user(app, office["borrower"]), _user(app, office["officer"])
    waiting = new_loan(
        app, borrower, [_Asset(_asset(app, "เครื่องฉายภาพ"))], start_in=0, days=2, purpose="อบรมอาสาสมัครสาธารณสุข"
    )
    due = new_loan(
        app, borrower, [_Asset(_asset(app, "ลำโพงเคลื่อนที่"))], state="checked_out", officer=officer, start_in=0, days=0
    )
    waiting_ref, due_ref = _loan(app, waiting)[0], _loan(app, due)[0]
    page = request.getfixturevalue(device)

    page.goto(f"{base}/login")
    sign_in(page, base, "somsri", PASSWORD)

    expect(page).to_have_url(f"{base}/")  # the home page, not the register
    expect(page.locator("[data-task=approve] .kp-task-count")).to_have_text("1")
    expect(page.locator("[data-task=returns_due] .kp-task-count")).to_have_text("1")
    _no_sideways_scroll(page)

    # approve the request waiting since this morning
    _open_from_list(page, "approve", waiting_ref)
    submit(page, page.locator("#decide button[type=submit]", has_text="อนุมัติ").first)
    expect(page.locator(".kp-loan-status").first).to_have_class(re.compile(r"kp-loan-approved"))
    assert _loan(app, waiting)[1] == "approved"

    # it starts today: the home page now lists it to hand over
    _home(page, base)
    expect(page.locator("[data-task=approve] .kp-task-count")).to_have_text("0")
    _open_from_list(page, "hand_over", waiting_ref)
    page.fill("#note", "ครบ สภาพดี")
    submit(page, "#hand-over button[type=submit]")
    expect(page.locator(".kp-loan-status").first).to_have_class(re.compile(r"kp-loan-checked_out"))
    assert _loan(app, waiting)[1] == "checked_out"

    # the loudspeaker due back today comes back in good order
    _home(page, base)
    expect(page.locator("[data-task=hand_over] .kp-task-count")).to_have_text("0")
    _open_from_list(page, "returns_due", due_ref)
    item_id = _loan(app, due)[2][0]
    page.check(f"#cond-{item_id}-good")
    submit(page, "#receive button[type=submit]")
    expect(page.locator(".kp-loan-status").first).to_have_class(re.compile(r"kp-loan-returned"))
    _no_sideways_scroll(page)

    _home(page, base)
    expect(page.locator("[data-task=returns_due] .kp-task-count")).to_have_text("0")
    assert _loan(app, due)[1] == "returned"
