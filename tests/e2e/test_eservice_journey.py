"""The public e-service end to end: a citizen on a phone asks for 150 chairs and 2 tents for next Saturday,
the supply officer and the head approve, the officer hands over 150 numbered chairs picked by suggestion,
2 chairs come back damaged and open incident cases, and the citizen answers the survey on the tracking
page; the year's e-service figures (the dashboard, evidence.report.figures) count all of it. The citizen never
signs in; the office works at a desk, each person in a browser of their own.

Items are handed over from the day before a loan starts, so the office's clock is set to the Friday before
that Saturday for the hand-over and to the Saturday evening for the return (the services read it through
`utcnow` in their modules); everything else runs on the real clock."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

import lending.groups.services
import lending.groups.views
import lending.loans.services
from core.dates import bangkok_today
from core.db import db
from lending.loans.models import Incident, Loan, LoanItem
from lending.outside.models import LoanSurvey
from lending.register.models import Asset
from tests.conftest import PASSWORD, unique
from tests.e2e.conftest import DESKTOP, TIMEOUT_MS, sign_in, submit
from tests.groups import make_group

pytestmark = pytest.mark.e2e


def no_sideways_scroll(page) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{page.url} scrolls sideways by {overflow}px"


def next_saturday():
    today = bangkok_today()
    return today + timedelta(days=(5 - today.weekday()) % 7 or 7)


def office_clock(monkeypatch, day, hour: int) -> None:
    """The office's services see `day` at `hour`:00 Bangkok time as now."""
    at = datetime.combine(day, time(hour)).replace(tzinfo=UTC) - timedelta(hours=7)
    for module in (lending.loans.services, lending.groups.services, lending.groups.views):
        monkeypatch.setattr(module, "utcnow", lambda: at)


def at_the_office(browser, base: str, username: str, path: str):
    """A desk browser of its own, signed in as `username`, on `path`."""
    context = browser.new_context(locale="th-TH", **DESKTOP)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(f"{base}{path}")
    sign_in(page, base, username, PASSWORD)
    return context, page


def eservice_figures(app, saturday) -> dict:
    """The e-service figures from the start of this fiscal year to the day after that Saturday."""
    from core.dates import fiscal_year_bounds, fiscal_year_of
    from evidence.report.figures import eservice_figures as figures

    start, _end = fiscal_year_bounds(fiscal_year_of(bangkok_today()))
    with app.app_context():
        out = figures(db.session, start, saturday + timedelta(days=1))
        db.session.remove()
        return out


def loan_of(app, ref: str) -> Loan:
    with app.app_context():
        loan = db.session.execute(select(Loan).where(Loan.public_ref == ref)).scalar_one()
        db.session.expunge(loan)
        db.session.remove()
        return loan


def test_a_citizen_borrows_150_chairs_and_2_tents_for_next_saturday(
    app, phone, browser, live_server, make_user, monkeypatch
):
    chairs, _ = make_group(app, 160, name=unique("เก้าอี้พลาสติก "), category="เก้าอี้")
    tents, _ = make_group(app, 3, name=unique("เต็นท์ 4x8 "), category="เต็นท์")
    officer = make_user(roles=["supply_officer"], name="นางสมศรี รักพัสดุ")
    head = make_user(roles=["head"], name="นายวิชัย หัวหน้า")
    saturday = next_saturday()
    before = eservice_figures(app, saturday)

    # The citizen finds what is free on Saturday and asks for it, on a phone, without an account.
    phone.goto(f"{live_server}/e-service")
    expect(phone.locator("h1")).to_have_text("ยืมพัสดุของหน่วยงาน")
    phone.fill("#start", saturday.isoformat())
    phone.fill("#end", saturday.isoformat())
    submit(phone, "#es-dates button[type=submit]")
    expect(phone.locator(f"#group-{chairs} .es-count")).to_contain_text("ว่าง 160")
    no_sideways_scroll(phone)
    submit(phone, f"#group-{chairs} a.btn-success")
    expect(phone.locator(f"#qty-{chairs}")).to_have_value("1")
    phone.fill(f"#qty-{chairs}", "150")
    phone.fill(f"#qty-{tents}", "2")
    phone.fill("#purpose", "งานบุญกฐินสามัคคี ประจำปี")
    phone.fill("#place", "ศาลาการเปรียญ วัดโนนสูง หมู่ที่ 4")
    phone.check("#kind-1")  # a community group
    phone.fill("#name", "กลุ่มแม่บ้านบ้านโนนสูง")
    expect(phone.locator("#contact_person")).to_be_visible()
    phone.fill("#contact_person", "นางบุญมี ศรีสุข")
    phone.fill("#phone", "089-123-4567")
    phone.fill("#village_no", "4")
    phone.fill("#village", "โนนสูง")
    phone.check("#consent")
    no_sideways_scroll(phone)
    submit(phone, "#es-send")
    expect(phone).to_have_url(re.compile(r"/e-service/track/K-[A-Z0-9]{8}$"))
    ref = phone.locator("#es-ref").inner_text().strip()
    expect(phone.locator("#es-state")).to_have_text("ได้รับคำขอแล้ว อยู่ระหว่างพิจารณา")
    no_sideways_scroll(phone)
    loan = loan_of(app, ref)
    assert loan.channel == "eservice" and loan.needs_head

    # The supply officer and then the head approve it from their queue.
    desk, page = at_the_office(browser, live_server, officer.username, "/loans/queue")
    submit(page, page.locator(f"#loan-{loan.id} form[action='/loans/{loan.id}/approve'] button[type=submit]"))
    head_desk, head_page = at_the_office(browser, live_server, head.username, "/loans/queue")
    submit(head_page, head_page.locator(f"#loan-{loan.id} form[action='/loans/{loan.id}/approve'] button[type=submit]"))
    assert loan_of(app, ref).status == "approved"
    head_desk.close()
    phone.reload()
    expect(phone.locator("#es-state")).to_have_text("อนุมัติแล้ว: ติดต่อรับพัสดุที่สำนักงาน")

    # Hand-over on the Friday: the suggested 150 chairs and 2 tents are ticked; the officer hands them over.
    office_clock(monkeypatch, saturday - timedelta(days=1), 16)
    page.goto(f"{live_server}/loans/{loan.id}/pick")
    lines = {ln.group_id: ln.id for ln in loan_of(app, ref).lines}
    expect(page.locator(f"[data-count-of='pick-{lines[chairs]}']")).to_have_text("150")
    submit(page, "button[name=action][value=hand_over]")
    assert loan_of(app, ref).status == "checked_out"
    with app.app_context():
        out = (
            db.session.execute(
                select(Asset.asset_number)
                .join(LoanItem, LoanItem.asset_id == Asset.id)
                .where(LoanItem.loan_id == loan.id, Asset.lending_group_id == chairs)
                .order_by(Asset.asset_number)
            )
            .scalars()
            .all()
        )
        db.session.remove()
    assert len(out) == 150
    phone.reload()
    expect(phone.locator("#es-lines")).to_contain_text("150")

    # The return on Saturday evening: 148 chairs good, two named as damaged; the tents all good.
    office_clock(monkeypatch, saturday, 18)
    page.goto(f"{live_server}/loans/{loan.id}/return-count")
    line = lines[chairs]
    page.fill(f"#counted-{line}", "148")
    page.fill(f"#scan-{line}", f"{out[0]}\n{out[1]}")
    page.select_option(f"#scan-cond-{line}", "damaged")
    page.fill(f"#scan-note-{line}", "ขาหัก ใช้งานไม่ได้")
    submit(page, page.locator(f"form:has(#counted-{line}) button[type=submit]"))
    expect(page).to_have_url(re.compile(rf"/loans/{loan.id}$"))
    page.goto(f"{live_server}/loans/{loan.id}/return-count")
    line = lines[tents]
    page.fill(f"#counted-{line}", "2")
    submit(page, page.locator(f"form:has(#counted-{line}) button[type=submit]"))
    assert loan_of(app, ref).status == "returned"
    with app.app_context():
        cases = (
            db.session.execute(
                select(Incident).join(LoanItem, LoanItem.id == Incident.loan_item_id).where(LoanItem.loan_id == loan.id)
            )
            .scalars()
            .all()
        )
        assert len(cases) == 2 and {c.kind for c in cases} == {"damaged"}
        db.session.remove()
    page.goto(f"{live_server}/incidents")
    expect(page.locator("main")).to_contain_text(out[0])

    # The citizen sees the return on the tracking page and answers the survey once.
    phone.reload()
    expect(phone.locator("#es-state")).to_have_text("ส่งคืนแล้ว ขอบคุณ")
    no_sideways_scroll(phone)
    phone.click("label[for=score-0]")  # 5, the first choice
    phone.fill("#comment", "เจ้าหน้าที่บริการดี รวดเร็ว")
    submit(phone, "#es-survey-send")
    expect(phone.locator("#es-survey-done")).to_contain_text("5")
    with app.app_context():
        answer = db.session.execute(select(LoanSurvey).where(LoanSurvey.loan_id == loan.id)).scalar_one()
        assert answer.score == 5
        db.session.remove()

    # The figures of the year count the request, the 152 items lent by count, their return and the answer.
    after = eservice_figures(app, saturday)
    grew = {
        key: after[key] - before[key]
        for key in (
            "requests_eservice",
            "outside_requests",
            "outside_approved",
            "loans_by_count",
            "items_lent_by_count",
            "outside_items_returned",
            "outside_items_returned_on_time",
            "survey_answers",
        )
    }
    assert grew == {
        "requests_eservice": 1,
        "outside_requests": 1,
        "outside_approved": 1,
        "loans_by_count": 1,
        "items_lent_by_count": 152,
        "outside_items_returned": 152,
        "outside_items_returned_on_time": 152,
        "survey_answers": 1,
    }
    page.goto(f"{live_server}/dashboard")
    expect(page.locator("main")).to_contain_text("บริการออนไลน์")
    desk.close()
