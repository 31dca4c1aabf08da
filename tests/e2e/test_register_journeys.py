"""Journeys a person makes in a real browser: sign in, search the register, open a scanned tag on a phone."""

import pytest

from tests.conftest import PASSWORD
from tests.e2e.conftest import sign_in, submit

pytestmark = pytest.mark.e2e


def test_an_officer_signs_in_and_finds_a_tent_in_the_register(desktop, live_server, make_user, make_asset):
    officer = make_user(roles=["supply_officer"], name="นางสมศรี รักพัสดุ")
    tent = make_asset(name="เต็นท์ผ้าใบ ขนาด 4x8 เมตร สีฟ้าอ่อน", category="เต็นท์", location="โรงเก็บพัสดุ")
    desktop.goto(f"{live_server}/login")
    sign_in(desktop, live_server, officer.username, PASSWORD)
    assert desktop.url == f"{live_server}/"  # the home page of tasks; the register is one click away
    submit(desktop, "main a[href='/assets']")
    assert "/assets" in desktop.url
    desktop.fill("#q", "เต็นท์ผ้าใบ ขนาด 4x8 เมตร สีฟ้า")
    submit(desktop, "form[role=search] button[type=submit]")
    row = desktop.locator("table tbody tr", has_text=tent.asset_number)
    assert row.count() == 1
    submit(desktop, row.locator("a").first)
    assert desktop.locator("h1").inner_text().strip() == tent.asset_number
    # The QR image actually loads (not a broken image).
    width = desktop.eval_on_selector("img.kp-qr", "img => img.naturalWidth")
    assert width > 0


def test_a_scanned_tag_opens_the_asset_on_a_phone_after_sign_in(phone, live_server, make_user, make_asset):
    staff = make_user(roles=["staff"])
    projector = make_asset(name="เครื่องฉายภาพ (โปรเจคเตอร์) Epson EB-X51", category="เครื่องฉายภาพ")
    phone.goto(f"{live_server}/t/{projector.tag.lower()}")
    assert "/login" in phone.url
    sign_in(phone, live_server, staff.username, PASSWORD)
    assert phone.url.endswith(f"/assets/{projector.id}")
    assert projector.name in phone.content()
    # Nothing overflows sideways at phone width.
    overflow = phone.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0


def test_an_unknown_tag_gives_a_clear_page_on_a_phone(phone, live_server, make_user):
    staff = make_user(roles=["staff"])
    phone.goto(f"{live_server}/login")
    sign_in(phone, live_server, staff.username, PASSWORD)
    response = phone.goto(f"{live_server}/t/NOSUCH99")
    assert response.status == 404
    assert "NOSUCH99" in phone.locator("h1").inner_text()
