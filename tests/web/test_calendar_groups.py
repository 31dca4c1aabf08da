"""The office's lending calendar shows requests by count as count lines ("เก้าอี้พลาสติก × 150") and names
outside borrowers, not only numbered assets; someone who may not see a loan sees the counts held, no name."""

from __future__ import annotations

from datetime import timedelta

from core.dates import bangkok_today
from core.db import db
from core.models import User
from lending.groups import queries as group_queries
from lending.groups import services as groups
from lending.loans import services as workflow
from lending.loans.models import Loan
from lending.outside import services as outside
from tests.conftest import sign_in, unique
from tests.groups import make_group

PARTY = "นางบุญมี ปฏิทินดี"


def _outside_request(app, officer, head, group_id: int, tents_id: int, start, *, approve: bool = True) -> int:
    with app.app_context():
        s = db.session
        o, h = s.get(User, officer.id), s.get(User, head.id)
        loan = outside.request_outside(
            s,
            o,
            outside.PartyDetails(kind="person", name=PARTY, phone="0895556677", village_no="2", village="ทุ่ง"),
            [(group_id, 150), (tents_id, 2)],
            start_on=start,
            due_on=start + timedelta(days=1),
            purpose="งานศพ",
            place="บ้านเลขที่ 9",
            channel="counter",
        )
        if approve:
            workflow.approve_loan(s, o, loan.id)
            workflow.approve_loan(s, h, loan.id)
        db.session.remove()
        return loan.id


def test_the_calendar_shows_count_lines_and_the_outside_borrowers_name(app, client, officer, make_user):
    chairs_name, tents_name = unique("เก้าอี้พลาสติก "), unique("เต็นท์ ")
    group_id, chair_ids = make_group(app, 160, name=chairs_name)
    tents_id, tent_ids = make_group(app, 3, name=tents_name, category="เต็นท์")
    head, staff = make_user(roles=["head"]), make_user(roles=["staff"])
    start = bangkok_today() + timedelta(days=1)
    loan_id = _outside_request(app, officer, head, group_id, tents_id, start)
    week = f"/calendar?view=week&day={start.isoformat()}"

    sign_in(client, officer)
    page = client.get(week).get_data(as_text=True)
    assert f'href="/loans/{loan_id}"' in page
    assert f'{chairs_name}&nbsp;×&nbsp;<span class="kp-number">150</span>' in page
    assert f'{tents_name}&nbsp;×&nbsp;<span class="kp-number">2</span>' in page
    assert PARTY in page
    # the month's day cells are compact: the first line and the outsider's name. A day cell shows only
    # its first few bookings and the suite's database holds every earlier test's loans, so this is
    # looked at on a day no other test books
    far = bangkok_today() + timedelta(days=333)
    _outside_request(app, officer, head, group_id, tents_id, far)
    cells = client.get(f"/calendar?day={far.isoformat()}").get_data(as_text=True)
    assert f'{chairs_name}&nbsp;×&nbsp;<span class="kp-number">150</span>' in cells
    assert f'<div class="kp-booking-items kp-booking-outside">{PARTY}</div>' in cells

    # a staff member sees what is held on those days, not who holds it
    other = app.test_client()
    sign_in(other, staff)
    page = other.get(week).get_data(as_text=True)
    assert f'{chairs_name}&nbsp;×&nbsp;<span class="kp-number">150</span>' in page
    assert PARTY not in page and f"/loans/{loan_id}" not in page

    # handed over with 150 numbered chairs: still one count line, not 150 asset names
    with app.app_context():
        s = db.session
        loan = s.get(Loan, loan_id)
        chair_line, tent_line = loan.lines
        picks = {
            chair_line.id: [
                a.id
                for a in group_queries.suggest_assets(
                    s, group_id, 150, loan.start_on, loan.due_on, bangkok_today(), exclude_loan_id=loan.id
                )
            ],
            tent_line.id: tent_ids[:2],
        }
        s.rollback()
        groups.hand_over_lines(s, s.get(User, officer.id), loan_id, picks)
        db.session.remove()
    page = client.get(week).get_data(as_text=True)
    assert f'{chairs_name}&nbsp;×&nbsp;<span class="kp-number">150</span>' in page
    assert page.count(f"{chairs_name}") <= 3  # the line (and its title), never one per chair


def test_a_request_by_count_waiting_for_approval_is_on_the_officers_calendar_with_its_counts(
    app, client, officer, make_user
):
    chairs_name = unique("เก้าอี้ ")
    group_id, _ = make_group(app, 20, name=chairs_name)
    tents_id, _ = make_group(app, 2, category="เต็นท์")
    head = make_user(roles=["head"])
    start = bangkok_today() + timedelta(days=3)
    with app.app_context():
        s = db.session
        loan = groups.request_by_count(
            s,
            s.get(User, officer.id),
            [(group_id, 12)],
            purpose="ประชุมประชาคม",
            place="ศาลา",
            off_premises=False,
            start_on=start,
            due_on=start,
        )
        loan_id = loan.id
        db.session.remove()
    sign_in(client, head)
    page = client.get(f"/calendar?view=week&day={start.isoformat()}").get_data(as_text=True)
    assert f'href="/loans/{loan_id}"' in page and f'{chairs_name}&nbsp;×&nbsp;<span class="kp-number">12</span>' in page
    assert "kp-booking-outside" not in page.split(f'href="/loans/{loan_id}"')[1].split("kp-booking ")[0]
