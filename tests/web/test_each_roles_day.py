"""Each role's day (issue 14): the home page lists what waits for each demo role, the navigation stays short,
a clash is refused naming the request that holds the items (B.E. dates on a Thai page), a partial approval's
reason reaches the borrower, and the stock-take is divided as clause 213 divides it.

The home pages are read in an office of their own (a separate database), so that the lists hold exactly
this test's loans; the other tests use the session's shared database and assert on their own records.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from audit import record
from core.dates import bangkok_date, format_date
from core.db import begin_write, db, utcnow
from core.models import User
from core.people import services as core_services
from core.web import context
from demo.office import PEOPLE
from lending.loans import services as workflow
from lending.loans.models import Loan, LoanDrop
from lending.loans.services import ItemReturn
from lending.register.models import Asset, compute_search_text
from lending.register.services import unique_tag
from lending.stocktake import models as stocktake
from tests.conftest import PASSWORD, english, login, unique
from tests.integration.audit_instances import separate_instance
from tests.web.test_loan_pages import new_loan, run, signed_in

# --- an office of its own, with the demo's people -----------------------------------------------------


def _asset(name: str, price: str = "350.00") -> int:
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
            "price": Decimal(price),
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
    return asset.id


@pytest.fixture(scope="module")
def office(tmp_path_factory):
    """The demo's people (one per role and a few borrowers) and a loan in each state that makes a task:
    a request for the officer, one for the head, one to hand over today, one due back today, one overdue
    and a damage case."""
    with separate_instance("home", tmp_path_factory.mktemp("home")) as app:
        with app.app_context():
            context.set_origin("127.0.0.1", "pytest")
            users = {}
            for username, name, position, department, roles in PEOPLE:
                users[username] = core_services.create_user(
                    db.session, None, username, name, set(roles), PASSWORD, position=position, department=department
                ).id
            ids = {k: _asset(f"เก้าอี้ {k}") for k in ("w", "h", "t", "d", "o", "c")}
            ids["tent"] = _asset("เต็นท์", "12500.00")
            db.session.remove()

        def who(name):
            with app.app_context():
                user = db.session.get(User, users[name])
                db.session.expunge(user)
                return user

        officer = who("somsri")

        class A:  # assets by id, as new_loan wants them
            def __init__(self, i):
                self.id = i

        now, past = utcnow(), utcnow() - timedelta(days=12)
        loans = {
            "w": new_loan(app, who("malee"), [A(ids["w"])]),
            "h": new_loan(app, who("napa"), [A(ids["h"]), A(ids["tent"])], off_premises=True),
            "t": new_loan(app, who("malee"), [A(ids["t"])], state="approved", officer=officer, start_in=0),
            "d": new_loan(app, who("somchai"), [A(ids["d"])], state="checked_out", officer=officer, start_in=0, days=0),
            "o": new_loan(
                app, who("malee"), [A(ids["o"])], state="checked_out", officer=officer, start_in=0, days=3, now=past
            ),
            "c": new_loan(app, who("somchai"), [A(ids["c"])], state="checked_out", officer=officer, start_in=0, days=0),
        }
        run(app, workflow.approve_loan, officer, loans["h"])  # now waits for the head
        with app.app_context():
            item = db.session.get(Loan, loans["c"]).items[0].id
            db.session.remove()
        run(app, workflow.receive_items, officer, loans["c"], [ItemReturn(item, "damaged", "ขาหัก 1 ขา")])
        with app.app_context():
            refs = {k: db.session.get(Loan, v).ref for k, v in loans.items()}
            db.session.remove()
        yield {"app": app, "users": users, "loans": loans, "refs": refs, "today": bangkok_date(now)}


def _home(office, username: str) -> str:
    client = office["app"].test_client()
    assert login(client, username).status_code == 302
    english(client)
    resp = client.get("/")
    assert resp.status_code == 200
    return resp.get_data(as_text=True)


def _tile(page: str, key: str) -> int | None:
    """The count on the home page's tile `key`, or None when the tile is not shown."""
    match = re.search(rf'data-task="{key}">\s*<span class="kp-task-count">(\d+)</span>', page)
    return int(match.group(1)) if match else None


def _listed(page: str, key: str) -> str:
    """The HTML of the list under tile `key` ("" when absent)."""
    match = re.search(rf'<section class="kp-card mb-3 kp-task-list" id="list-{key}".*?</section>', page, re.S)
    return match.group(0) if match else ""


def _top_entries(page: str) -> int:
    nav = re.search(r'<ul class="navbar-nav me-auto" id="kp-nav-main">(.*?)\n      </ul>', page, re.S).group(1)
    return len(re.findall(r'<li class="nav-item', nav))


# --- the home page of each role --------------------------------------------------------------------


def test_the_supply_officers_home_lists_todays_work(office):
    page, refs = _home(office, "somsri"), office["refs"]

    assert _tile(page, "approve") == 1 and refs["w"] in _listed(page, "approve")
    assert refs["h"] not in _listed(page, "approve")  # it waits for the head now
    assert _tile(page, "hand_over") == 1 and refs["t"] in _listed(page, "hand_over")
    assert _tile(page, "returns_due") == 1 and refs["d"] in _listed(page, "returns_due")
    assert _tile(page, "overdue") == 1 and refs["o"] in _listed(page, "overdue")
    assert _tile(page, "cases") == 1
    assert _tile(page, "approve_head") is None and 'id="kp-glance"' not in page
    assert _top_entries(page) <= 7 and 'href="/dashboard"' in page  # the dashboard is a top entry


def test_the_heads_home_lists_the_second_approvals_and_the_years_figures(office):
    page, refs = _home(office, "head"), office["refs"]

    assert _tile(page, "approve_head") == 1 and refs["h"] in _listed(page, "approve_head")
    assert _tile(page, "approve") is None and refs["w"] not in page
    assert _tile(page, "hand_over") is None  # the officer hands over
    assert _tile(page, "overdue") == 1 and _tile(page, "cases") == 1
    assert 'id="kp-glance"' in page and 'data-key="lending.requests"' in page
    assert _top_entries(page) <= 7


def test_a_borrowers_home_lists_their_own_loans_and_nothing_to_decide(office):
    page, refs = _home(office, "malee"), office["refs"]

    assert _tile(page, "mine_overdue") == 1 and refs["o"] in _listed(page, "mine_overdue")
    assert _tile(page, "mine_to_collect") == 1 and refs["t"] in _listed(page, "mine_to_collect")
    assert _tile(page, "mine_waiting") == 1 and refs["w"] in _listed(page, "mine_waiting")
    for key in ("approve", "approve_head", "hand_over", "returns_due", "overdue", "cases"):
        assert _tile(page, key) is None, key
    assert refs["h"] not in page and refs["d"] not in page  # other people's loans
    assert 'id="kp-glance"' not in page and 'href="/loans/new"' in page


def test_the_auditors_home_shows_what_to_watch_and_the_figures_but_nothing_to_decide(office):
    page = _home(office, "auditor")

    assert _tile(page, "overdue") == 1 and _tile(page, "cases") == 1
    assert _tile(page, "approve") is None and _tile(page, "approve_head") is None and _tile(page, "hand_over") is None
    assert 'id="kp-glance"' in page and re.search(r'href="/audit/?"', page)
    assert _top_entries(page) <= 7


def test_the_admins_home_shows_the_years_figures_and_no_loans(office):
    page = _home(office, "admin")

    assert 'id="kp-glance"' in page and _tile(page, "notifications") is not None
    assert all(_tile(page, k) is None for k in ("approve", "approve_head", "hand_over", "overdue", "cases"))
    assert office["refs"]["o"] not in page
    assert _top_entries(page) <= 7 and 'id="kp-nav-admin"' in page


def test_an_officer_who_also_borrows_sees_their_own_loans_too(office):
    page = _home(office, "wichai")  # supply officer and staff

    assert _tile(page, "approve") == 1 and _tile(page, "mine_waiting") is None  # no loans of their own


# --- stock-take: who prepares, who appoints ---------------------------------------------------------


def test_the_officers_empty_stocktake_list_says_how_a_round_begins(office):
    client = office["app"].test_client()
    login(client, "somsri")
    english(client)
    page = client.get("/stocktake").get_data(as_text=True)

    assert 'id="kp-stocktake-empty"' in page and "No rounds yet. Prepare the year" in page
    assert 'href="/stocktake/new"' in page and "clause 213" in page


def test_the_officer_prepares_a_round_and_the_head_appoints_its_committee(office):
    app, users = office["app"], office["users"]
    officer = app.test_client()
    login(officer, "somsri")
    english(officer)
    assert "Prepare the round for the head" in officer.get("/stocktake/new").get_data(as_text=True)

    resp = officer.post(
        "/stocktake/new", data={"fiscal_year": 2569, "department": "", "location": "", "committee": [users["auditor"]]}
    )

    assert resp.status_code == 302
    with app.app_context():
        rnd = db.session.execute(select(stocktake.StocktakeRound)).scalars().one()
        round_id, version = rnd.id, rnd.version
        assert (rnd.status, rnd.total, rnd.member_ids()) == (stocktake.DRAFT, 0, {users["auditor"]})
        db.session.remove()
    assert (
        officer.post(
            f"/stocktake/{round_id}/appoint", data={"committee": [users["auditor"]], "version": version}
        ).status_code
        == 403
    )
    head = app.test_client()
    login(head, "head")
    assert _tile(_home(office, "head"), "stocktake_appoint") == 1

    head.post(
        f"/stocktake/{round_id}/appoint", data={"committee": [users["auditor"], users["napa"]], "version": version}
    )

    with app.app_context():
        rnd = db.session.get(stocktake.StocktakeRound, round_id)
        assert rnd.status == stocktake.OPEN and rnd.total > 0
        assert rnd.member_ids() == {users["auditor"], users["napa"]} and rnd.opened_by_id == users["head"]
        db.session.remove()


@pytest.mark.parametrize(
    "username, status", [("malee", 403), ("auditor", 403), ("admin", 403), ("somsri", 200), ("head", 200)]
)
def test_who_may_start_a_stocktake_round(office, username, status):
    client = office["app"].test_client()
    login(client, username)
    assert client.get("/stocktake/new").status_code == status


# --- the clash refusal and a partial approval, on the pages (shared database) --------------------------


@pytest.fixture
def crew(make_user):
    return {
        "staff": make_user(["staff"]),
        "other": make_user(["staff"]),
        "officer": make_user(["supply_officer"]),
        "officer2": make_user(["supply_officer"]),
        "head": make_user(["head"]),
    }


def test_a_thai_page_refuses_b_naming_the_request_that_holds_the_chair_in_be_dates(app, crew, make_asset):
    chair, tent = make_asset(name="เก้าอี้พลาสติก"), make_asset(name="เต็นท์", price=Decimal("12500.00"))
    a = new_loan(app, crew["staff"], [tent, chair], off_premises=True, start_in=10, days=2)
    b = new_loan(app, crew["other"], [chair, make_asset(name="โต๊ะพับ")], start_in=11, days=1)
    run(app, workflow.approve_loan, crew["officer"], a)
    with app.app_context():
        loan_a = db.session.get(Loan, a)
        ref, start, due = loan_a.ref, loan_a.start_on, loan_a.due_on
        version = db.session.get(Loan, b).version
        db.session.remove()
    officer = app.test_client()
    login(officer, crew["officer2"].username)  # Thai, the default

    resp = officer.post(
        f"/loans/{b}/approve", data={"version": str(version)}, headers={"Referer": f"/loans/{b}"}, follow_redirects=True
    )

    page = resp.get_data(as_text=True)
    assert f"ถูกจองไว้ในวันดังกล่าวโดยคำขอ {ref}" in page
    assert format_date(start, "th") in page and format_date(due, "th") in page
    assert start.isoformat() not in page and due.isoformat() not in page
    # the page offers to approve B without the chair, the chair ticked and A named in the reason
    assert 'id="kp-partial-form"' in page
    assert re.search(
        rf'name="drop" value="\d+" id="drop-\d+" checked>\s*<label[^>]*><span class="kp-number">'
        rf"{chair.asset_number}",
        page,
    )
    with app.app_context():
        assert db.session.get(Loan, b).officer_at is None
        db.session.remove()


def test_the_borrower_reads_why_an_item_was_left_out_on_the_loan_page_and_in_the_notification(app, crew, make_asset):
    chair, mic = make_asset(name="เก้าอี้พลาสติก"), make_asset(name="ไมโครโฟน")
    loan_id = new_loan(app, crew["staff"], [chair, mic])
    with app.app_context():
        loan = db.session.get(Loan, loan_id)
        chair_item, version = next(i.id for i in loan.items if i.asset_id == chair.id), loan.version
        db.session.remove()
    officer = signed_in(app, crew["officer"])

    resp = officer.post(
        f"/loans/{loan_id}/approve",
        data={"version": str(version), "drop": [str(chair_item)], "drop_reason": "เก้าอี้ส่งซ่อม"},
    )

    assert resp.status_code == 302
    borrower = signed_in(app, crew["staff"])
    page = borrower.get(f"/loans/{loan_id}").get_data(as_text=True)
    assert 'id="dropped"' in page and "Left out at approval" in page and "เก้าอี้ส่งซ่อม" in page
    assert chair.asset_number in page
    notes = borrower.get("/notifications").get_data(as_text=True)
    assert f"without {chair.asset_number}. Reason: เก้าอี้ส่งซ่อม" in notes
    with app.app_context():
        assert [d.reason for d in db.session.scalars(select(LoanDrop).where(LoanDrop.loan_id == loan_id))] == [
            "เก้าอี้ส่งซ่อม"
        ]
        assert [i.asset_id for i in db.session.get(Loan, loan_id).items] == [mic.id]
        db.session.remove()


def test_a_partial_approval_without_a_reason_is_refused_on_the_page(app, crew, make_asset):
    chair, mic = make_asset(), make_asset()
    loan_id = new_loan(app, crew["staff"], [chair, mic])
    with app.app_context():
        loan = db.session.get(Loan, loan_id)
        item, version = loan.items[0].id, loan.version
        db.session.remove()
    officer = signed_in(app, crew["officer"])

    resp = officer.post(
        f"/loans/{loan_id}/approve",
        data={"version": str(version), "drop": [str(item)], "drop_reason": ""},
        headers={"Referer": f"/loans/{loan_id}"},
        follow_redirects=True,
    )

    assert "Give the reason for leaving items out" in resp.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Loan, loan_id).status == "requested"
        db.session.remove()
