"""Search as you type in a real browser: the register's suggestions open an asset; the loan request's
suggestions add an item, which the server then keeps as chosen (the same form works without the script)."""

import pytest

from tests.conftest import PASSWORD, unique
from tests.e2e.conftest import sign_in, submit

pytestmark = pytest.mark.e2e


def test_typing_suggests_assets_by_synonym_on_desktop_and_adds_an_item_on_a_phone(
    desktop, phone, live_server, make_user, make_asset
):
    staff = make_user(roles=["staff"])
    token = unique("")
    mic = make_asset(name=f"ไมโครโฟน ทดสอบ{token} ไร้สาย", category="เครื่องเสียง")

    desktop.goto(f"{live_server}/login")
    sign_in(desktop, live_server, staff.username, PASSWORD)
    desktop.goto(f"{live_server}/assets")
    desktop.locator("#q").press_sequentially(f"ไมค์ ทดสอบ{token}", delay=20)
    link = desktop.locator("#kp-suggest a.kp-suggest-item", has_text=mic.asset_number)
    submit(desktop, link)
    assert desktop.locator("h1").inner_text().strip() == mic.asset_number

    phone.goto(f"{live_server}/login")
    sign_in(phone, live_server, staff.username, PASSWORD)
    phone.goto(f"{live_server}/loans/new")
    phone.locator("#q").press_sequentially(f"microphone ทดสอบ{token}", delay=20)
    phone.locator(f'#kp-suggest [data-add-asset="{mic.id}"]').click()
    assert phone.locator(f'#kp-chosen input[name=assets][value="{mic.id}"]').is_checked()
    submit(phone, "button[name=action][value=check]")
    assert phone.locator(f'#kp-chosen li[data-asset="{mic.id}"] .kp-free').count() == 1
