"""The office's pages of lending by count and to outsiders, through the test client."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from core.dates import bangkok_today, format_numeric
from core.db import db
from lending.groups.models import LendingGroup
from lending.loans import services as workflow
from lending.loans.models import Incident, Loan
from lending.outside.models import OutsideParty
from lending.register.models import Asset
from tests.conftest import sign_in, unique
from tests.groups import make_group

NATIONAL_ID = "1101700230708"


def _counter_request(client, group_id: int, count: int, start) -> int:
    resp = client.post(
        "/loans/outside/new",
        data={
            "action": "send",
            "channel": "counter",
            "kind": "person",
            "name": "นายมานะ ตั้งใจ",
            "phone": "0891234567",
            "village_no": "5",
            "village": "ดอนแดง",
            "national_id": NATIONAL_ID,
            "purpose": "งานบวช",
            "place": "บ้านเลขที่ 3 หมู่ 5",
            "start_on": format_numeric(start),
            "due_on": format_numeric(start + timedelta(days=1)),
            f"count-{group_id}": str(count),
        },
    )
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    return int(resp.headers["Location"].rsplit("/", 1)[1])


def test_an_officer_enters_a_counter_request_and_the_page_shows_only_the_masked_id(app, client, officer, monkeypatch):
    from lending.loans import queries as loan_queries

    # the queue lists each stage's oldest requests; the session's database holds other tests' requests
    monkeypatch.setattr(loan_queries, "QUEUE_PAGE", 100_000)
    group_id, _ = make_group(app, 6)
    sign_in(client, officer)
    loan_id = _counter_request(client, group_id, 4, bangkok_today() + timedelta(days=3))
    page = client.get(f"/loans/{loan_id}").get_data(as_text=True)
    assert "x-xxxx-xxxx0-70-8" in page and NATIONAL_ID not in page and "นายมานะ ตั้งใจ" in page
    assert '× <span class="kp-number">4</span>' in page
    queue = client.get("/loans/queue").get_data(as_text=True)
    assert "Outsider, at the counter" in queue


def test_the_hand_over_takes_a_scanned_run_and_the_return_by_count_opens_a_case_for_a_damaged_chair(
    app, client, officer, make_user
):
    group_id, asset_ids = make_group(app, 8)
    head = make_user(roles=["head"])
    sign_in(client, officer)
    loan_id = _counter_request(client, group_id, 5, bangkok_today())
    with app.app_context():
        from core.models import User

        people = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_([officer.id, head.id])))}
        db.session.rollback()
        workflow.approve_loan(db.session, people[officer.id], loan_id)
        workflow.approve_loan(db.session, people[head.id], loan_id)
        loan = db.session.get(Loan, loan_id)
        line_id, version = loan.lines[0].id, loan.version
        numbers = [db.session.get(Asset, i).asset_number for i in asset_ids]
        db.session.remove()
    page = client.get(f"/loans/{loan_id}/pick").get_data(as_text=True)
    assert page.count(f'name="pick-{line_id}"') == 8 and page.count("checked") >= 5
    first, last = numbers[2], numbers[6]
    run = f"{first}..{last.rsplit('-', 1)[1]}"
    resp = client.post(
        f"/loans/{loan_id}/pick", data={"action": "hand_over", "version": str(version), f"scan-{line_id}": run}
    )
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    with app.app_context():
        loan = db.session.get(Loan, loan_id)
        assert loan.status == "checked_out"
        assert sorted(i.asset.asset_number for i in loan.items) == numbers[2:7]
        version = loan.version
        db.session.remove()
    page = client.get(f"/loans/{loan_id}/return-count").get_data(as_text=True)
    assert "Counted back in good condition" in page
    miscount = client.post(
        f"/loans/{loan_id}/return-count",
        data={
            "version": str(version),
            "line": str(line_id),
            "counted": "5",
            "scan": numbers[3],
            "scan_condition": "damaged",
            "scan_note": "ขาหัก",
        },
    )
    assert miscount.status_code == 200 and "should be back in good condition" in miscount.get_data(as_text=True)
    resp = client.post(
        f"/loans/{loan_id}/return-count",
        data={
            "version": str(version),
            "line": str(line_id),
            "counted": "4",
            "scan": numbers[3],
            "scan_condition": "damaged",
            "scan_note": "ขาหัก",
        },
    )
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    with app.app_context():
        assert db.session.get(Loan, loan_id).status == "returned"
        case = db.session.scalars(select(Incident).where(Incident.asset_id == asset_ids[3])).one()
        assert case.kind == "damaged" and case.description == "ขาหัก"
        db.session.remove()


def test_an_officer_sets_up_a_group_and_adds_its_chairs_by_a_run_of_numbers(app, client, officer, make_asset):
    prefix = unique("917-")
    ids = [make_asset(asset_number=f"{prefix}-{n:04d}").id for n in range(1, 4)]
    sign_in(client, officer)
    name = unique("เก้าอี้ทดสอบ ")
    resp = client.post("/lending-groups/new", data={"name": name, "category": "เก้าอี้", "public": "y", "active": "y"})
    assert resp.status_code == 302
    with app.app_context():
        group_id = db.session.scalars(select(LendingGroup.id).where(LendingGroup.name == name)).one()
        db.session.remove()
    resp = client.post(f"/lending-groups/{group_id}/members", data={"codes": f"{prefix}-0001..0003"})
    assert resp.status_code == 302
    with app.app_context():
        assert {a.lending_group_id for a in db.session.scalars(select(Asset).where(Asset.id.in_(ids)))} == {group_id}
        db.session.remove()
    assert "Free today: 3" in client.get("/lending-groups").get_data(as_text=True)
    resp = client.post(f"/lending-groups/{group_id}/members", data={"codes": "NO-SUCH-1"}, follow_redirects=True)
    assert "Not on the register: NO-SUCH-1" in resp.get_data(as_text=True)


def test_the_admin_sets_the_rules_per_kind_of_borrower(app, client, admin):
    sign_in(client, admin)
    page = client.get("/admin/outside-rules").get_data(as_text=True)
    assert 'name="person-max_days" value="7"' in page
    data = {"retention": "0"}
    for kind in ("person", "group", "agency"):
        data.update({f"{kind}-max_days": "5" if kind == "person" else "7", f"{kind}-head_approval": "y"})
    try:
        assert client.post("/admin/outside-rules", data=data).status_code == 302
        assert 'name="person-max_days" value="5"' in client.get("/admin/outside-rules").get_data(as_text=True)
        bad = client.post("/admin/outside-rules", data={**data, "person-max_days": "900"})
        assert bad.status_code == 200 and "1 to 90 days" in bad.get_data(as_text=True)
    finally:
        client.post("/admin/outside-rules", data={**data, "person-max_days": "7"})


def test_the_party_table_never_holds_the_full_id_number(app):
    with app.app_context():
        assert all(NATIONAL_ID not in (p.national_id_masked or "") for p in db.session.scalars(select(OutsideParty)))
        db.session.remove()
