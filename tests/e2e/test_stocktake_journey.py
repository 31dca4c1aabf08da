"""The stock-take on a phone: a committee member opens three tag URLs (as the camera's QR reader does),
taps "Found here" each time, and the round page, open in another tab, shows the progress move."""

from __future__ import annotations

import pytest

from core.db import db
from core.models import User
from core.web import context
from lending.stocktake import services as stocktake
from tests.conftest import PASSWORD, unique
from tests.e2e.conftest import sign_in, submit

pytestmark = pytest.mark.e2e


def test_a_committee_member_scans_three_tags_and_sees_the_progress_move(app, live_server, phone, make_user, make_asset):
    head, member = make_user(["head"]), make_user(["staff"], name="สมหญิง ตรวจนับ")
    dept = unique("e2e")
    assets = [
        make_asset(department=dept, location=loc, name=f"โต๊ะพับ {i}")
        for i, loc in enumerate(["ห้องประชุม", "ห้องประชุม", "ห้องคลัง", "ห้องคลัง"])
    ]
    with app.app_context():
        context.set_origin("127.0.0.1", "pytest")
        round_id = stocktake.open_round(
            db.session,
            db.session.get(User, head.id),
            fiscal_year=2569,
            committee=[member.id],
            department=dept,
        ).id
        db.session.remove()

    page = phone
    page.goto(f"{live_server}/stocktake/{round_id}")
    sign_in(page, live_server, member.username, PASSWORD)
    assert page.locator("#kp-scanned").inner_text() == "0"
    assert page.locator("#kp-total").inner_text() == "4"
    board = page.context.new_page()  # the round page stays open in a second tab and polls
    board.goto(f"{live_server}/stocktake/{round_id}")
    assert board.locator("#kp-scanned").inner_text() == "0"

    for asset in assets[:3]:
        page.goto(f"{live_server}/t/{asset.tag}")
        page.wait_for_url(f"**/assets/{asset.id}")
        submit(page, "button.kp-found")
        assert asset.asset_number in page.locator(".alert-success").inner_text()
        assert page.locator(".kp-already").count() == 1  # the card now says it is recorded
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0
    # the poll (every 5 s) moves the other tab's progress without a reload
    from playwright.sync_api import expect

    expect(board.locator("#kp-scanned")).to_have_text("3")
    assert "1 / 2" in board.locator("#kp-by-location").inner_text()
    page.goto(f"{live_server}/stocktake/{round_id}")
    assert page.locator("#kp-scanned").inner_text() == "3"
    board.close()
