"""A loan end to end in a real browser at phone width: a scanned tag, the request, the officer's approval
and hand-over, then a late return recorded as damaged and its case settled as paid.

A due date in the past cannot be entered through the pages (a loan cannot start in the past), so the late
loan is put into `checked_out` with the workflow services and explicit past times; its return and the
case are then done through the pages like any other.
"""

from __future__ import annotations

import io
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from PIL import Image
from playwright.sync_api import expect

from core.dates import bangkok_date
from core.db import db, utcnow
from core.models import User
from core.web import context
from lending.loans import services as workflow
from lending.loans.models import Incident, Loan
from tests.conftest import PASSWORD
from tests.e2e.conftest import sign_in, submit

pytestmark = pytest.mark.e2e


def no_sideways_scroll(page) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{page.url} scrolls sideways by {overflow}px"


def sign_out(page) -> None:
    """Through the collapsed phone menu, as a person does: each step waits for the menu to be open."""
    page.click("button.navbar-toggler")
    expect(page.locator("#kp-nav")).to_have_class(re.compile(r"(^|\s)show(\s|$)"))
    menu = page.locator("#kp-nav .navbar-nav").last
    menu.locator(".dropdown-toggle").click()
    expect(menu.locator(".dropdown-menu")).to_have_class(re.compile(r"(^|\s)show(\s|$)"))
    button = page.locator("form[action='/logout'] button[type=submit]")
    expect(button).to_be_visible()
    submit(page, button)
    expect(page).to_have_url(re.compile(r"/login"))


def png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (320, 240), (200, 80, 40)).save(buf, format="PNG")
    return buf.getvalue()


def late_loan(app, borrower, officer, asset, days_overdue: int = 5) -> int:
    """A loan handed over in the past and due `days_overdue` days ago, through the services."""
    past = utcnow() - timedelta(days=days_overdue + 3)
    start = bangkok_date(past)
    with app.app_context():
        context.set_origin("127.0.0.1", "pytest")
        session = db.session
        staff, clerk = session.get(User, borrower.id), session.get(User, officer.id)
        loan = workflow.request_loan(
            session,
            staff,
            [asset.id],
            purpose="งานกีฬาสีตำบล",
            place="สนามกีฬาตำบล",
            off_premises=False,
            start_on=start,
            due_on=start + timedelta(days=3),
            now=past,
        )
        loan_id = loan.id
        workflow.approve_loan(session, clerk, loan_id, now=past + timedelta(hours=1))
        workflow.hand_over(session, clerk, loan_id, note="สภาพดี", now=past + timedelta(hours=2))
        db.session.remove()
    return loan_id


def loan_status(app, loan_id: int) -> str:
    with app.app_context():
        status = db.session.get(Loan, loan_id).status
        db.session.remove()
        return status


def test_a_loan_from_a_scanned_tag_to_a_settled_damage_case_on_a_phone(app, phone, live_server, make_user, make_asset):
    staff = make_user(roles=["staff"], name="นางสาวมาลี ใจดี")
    officer = make_user(roles=["supply_officer"], name="นางสมศรี รักพัสดุ")
    chair = make_asset(name="เก้าอี้พลาสติก สีน้ำเงิน", price=Decimal("350.00"))  # below the head's threshold
    speaker = make_asset(name="ลำโพงเคลื่อนที่ พร้อมไมโครโฟนไร้สาย", price=Decimal("4500.00"))

    # The borrower scans the chair's label, signs in, and asks for it.
    phone.goto(f"{live_server}/t/{chair.tag.lower()}")
    assert "/login" in phone.url
    sign_in(phone, live_server, staff.username, PASSWORD)
    assert phone.url.endswith(f"/assets/{chair.id}")
    no_sideways_scroll(phone)
    submit(phone, "#kp-borrow")
    assert phone.is_checked(f"input[name=assets][value='{chair.id}']")
    phone.fill("#purpose", "จัดประชุมประชาคมหมู่บ้าน หมู่ที่ 5 เพื่อจัดทำแผนพัฒนาท้องถิ่น")
    phone.fill("#place", "ศาลาประชาคม หมู่ที่ 5")
    submit(phone, "button[name=action][value=check]")
    assert phone.locator(f"li[data-asset='{chair.id}'] .kp-free").count() == 1
    no_sideways_scroll(phone)
    submit(phone, "button[name=action][value=send]")
    match = re.search(r"/loans/(\d+)$", phone.url)
    assert match, phone.url
    loan_id = int(match.group(1))
    assert phone.locator(".kp-loan-requested").count() == 1
    no_sideways_scroll(phone)
    sign_out(phone)

    # The supply officer approves it from the queue and hands the chair over with a photo.
    phone.goto(f"{live_server}/loans/queue")
    sign_in(phone, live_server, officer.username, PASSWORD)
    assert phone.url.endswith("/loans/queue")
    card = phone.locator(f"#loan-{loan_id}")
    assert card.count() == 1
    no_sideways_scroll(phone)
    submit(phone, card.locator(f"form[action='/loans/{loan_id}/approve'] button[type=submit]"))
    assert loan_status(app, loan_id) == "approved"
    assert phone.locator(f"#loan-{loan_id}").count() == 0
    phone.goto(f"{live_server}/loans/{loan_id}")
    phone.fill("#hand-over textarea[name=note]", "เก้าอี้ 1 ตัว สภาพดี ไม่มีรอยแตก")
    phone.set_input_files(
        "#hand-over input[type=file]", files=[{"name": "chair.png", "mimeType": "image/png", "buffer": png()}]
    )
    submit(phone, "#hand-over button[type=submit]")
    assert loan_status(app, loan_id) == "checked_out"
    assert phone.locator(".kp-loan-checked_out").count() == 1
    assert phone.eval_on_selector("img.kp-thumb", "img => img.naturalWidth") > 0
    no_sideways_scroll(phone)

    # Another loan of the same borrower is five days late; the speaker comes back damaged.
    late_id = late_loan(app, staff, officer, speaker, days_overdue=5)
    phone.goto(f"{live_server}/loans/{late_id}")
    assert phone.locator(".kp-loan-overdue").count() == 1
    no_sideways_scroll(phone)
    phone.check("#receive input[type=radio][value=damaged]")
    phone.fill("#receive textarea[name^=note-]", "ตะแกรงลำโพงบุบ เสียงแตก")
    phone.set_input_files(
        "#receive input[type=file]", files=[{"name": "damage.png", "mimeType": "image/png", "buffer": png()}]
    )
    submit(phone, "#receive button[type=submit]")
    assert loan_status(app, late_id) == "returned"
    assert phone.locator(".kp-event-item_returned .kp-late").count() == 1
    assert phone.locator(".kp-event-item_returned .kp-cond-damaged").count() == 1
    no_sideways_scroll(phone)

    # The case carries the speaker's value at the time of borrowing and is settled as paid.
    submit(phone, ".kp-event-incident a[href^='/incidents/']")
    assert "4,500.00" in phone.locator("main").inner_text()
    no_sideways_scroll(phone)
    phone.select_option("#settle select[name=resolution]", "paid")
    phone.fill("#settle input[name=amount]", "4,500")
    phone.fill("#settle textarea[name=note]", "ชำระเงินตามใบเสร็จเลขที่ 12/2569")
    submit(phone, "#settle button[type=submit]")
    assert phone.locator(".kp-case-settled").count() >= 1
    with app.app_context():
        case = db.session.execute(
            db.select(Incident).join(Incident.loan_item).where(Incident.asset_id == speaker.id)
        ).scalar_one()
        assert (case.status, case.resolution, case.amount, case.value) == (
            "settled",
            "paid",
            Decimal("4500.00"),
            Decimal("4500.00"),
        )
        db.session.remove()
    no_sideways_scroll(phone)
