"""The office cancels an outside (e-service) request before the hand-over: the officer or the head, with a
reason; the borrower's tracking page shows it with the reason, a status mail goes where an address was
given, and the count the request reserved is free again."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from audit.models import AuditEntry
from core.dates import bangkok_today
from core.db import Conflict, DomainError, Forbidden, db
from core.models import User
from lending.groups import queries as group_queries
from lending.groups import services as groups
from lending.loans import services as workflow
from lending.loans.models import CANCELLED, Loan
from tests.conftest import sign_in, unique
from tests.integration.test_remind_mail import smtp  # noqa: F401  (the local SMTP server fixture)
from tests.web.test_eservice import chairs, form_for, fresh_client, ref_of, send  # noqa: F401  (chairs: a fixture)


def _loan_of(app, ref: str) -> Loan:
    with app.app_context():
        loan = db.session.execute(select(Loan).where(Loan.public_ref == ref)).scalar_one()
        db.session.expunge_all()
        db.session.remove()
        return loan


def _approve(app, loan_id: int, *user_ids: int) -> None:
    with app.app_context():
        for uid in user_ids:
            workflow.approve_loan(db.session, db.session.get(User, uid), loan_id)
        db.session.remove()


def _free(app, group_id: int, day) -> int:
    with app.app_context():
        free = group_queries.availability(db.session, [group_id], day, day, bangkok_today())[group_id][day]
        db.session.remove()
        return free


def test_the_officer_cancels_an_approved_e_service_request_with_a_reason_and_the_borrower_is_told(
    app,
    client,
    chairs,  # noqa: F811
    smtp,  # noqa: F811
    officer,
    make_user,
):
    group_id, _ = chairs
    head = make_user(roles=["head"])
    citizen = fresh_client(app)
    address = f"{unique('citizen')}@example.org"
    data = form_for(group_id, 12, email=address)
    ref = ref_of(send(citizen, data))
    loan = _loan_of(app, ref)
    _approve(app, loan.id, officer.id, head.id)
    day = loan.start_on
    reserved = _free(app, group_id, day)

    sign_in(client, officer)
    page = client.get(f"/loans/{loan.id}").get_data(as_text=True)
    assert f'action="/loans/{loan.id}/cancel-outside"' in page and "Cancel this request" in page
    version = _loan_of(app, ref).version

    no_reason = client.post(f"/loans/{loan.id}/cancel-outside", data={"reason": " ", "version": str(version)})
    assert no_reason.status_code == 302
    assert "Give the reason for cancelling the request" in client.get(f"/loans/{loan.id}").get_data(as_text=True)
    assert _loan_of(app, ref).status == "approved"

    resp = client.post(
        f"/loans/{loan.id}/cancel-outside",
        data={"reason": "เต็นท์ถูกใช้ในงานราชการเร่งด่วน", "version": str(version)},
    )
    assert resp.status_code == 302
    cancelled = _loan_of(app, ref)
    assert cancelled.status == CANCELLED and cancelled.cancelled_by_id == officer.id
    assert cancelled.decision_note == "เต็นท์ถูกใช้ในงานราชการเร่งด่วน"
    page = client.get(f"/loans/{loan.id}").get_data(as_text=True)
    assert "Cancelled by the office" in page and "Cancel this request" not in page
    assert f"Request cancelled by {officer.name} of the office" in page and "Cancelled by the borrower" not in page

    # the reserved count is free again
    assert _free(app, group_id, day) == reserved + 12

    # the borrower's tracking page says so, with the reason
    track = citizen.get(f"/e-service/track/{ref}").get_data(as_text=True)
    assert 'id="es-cancelled-by">The office cancelled this request.' in track
    assert "เต็นท์ถูกใช้ในงานราชการเร่งด่วน" in track
    mails = [m for m in smtp.to(address, ref) if "ถูกยกเลิก" in str(m["Subject"])]
    assert len(mails) == 1
    body = mails[0].get_content()
    assert "ขอยกเลิกคำขอของท่าน เหตุผล: เต็นท์ถูกใช้ในงานราชการเร่งด่วน" in body
    assert "has cancelled your request: เต็นท์ถูกใช้ในงานราชการเร่งด่วน" in body

    with app.app_context():
        entry = db.session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "loan.cancelled", AuditEntry.subject_id == str(loan.id))
            .order_by(AuditEntry.seq.desc())
        ).first()
        data = json.loads(entry.data)
        assert entry.actor == officer.username and data["by"] == "office"
        assert data["after"]["status"] == "cancelled" and data["after"]["cancelled_by_id"] == officer.id
        db.session.remove()


def test_the_head_cancels_a_request_still_waiting_and_no_address_means_no_mail(
    app,
    client,
    chairs,  # noqa: F811
    smtp,  # noqa: F811
    make_user,
):
    group_id, _ = chairs
    head = make_user(roles=["head"])
    citizen = fresh_client(app)
    ref = ref_of(send(citizen, form_for(group_id, 2)))
    loan = _loan_of(app, ref)
    sign_in(client, head)
    assert "Cancel this request" in client.get(f"/loans/{loan.id}").get_data(as_text=True)
    resp = client.post(f"/loans/{loan.id}/cancel-outside", data={"reason": "ซ้ำกับคำขอเดิม", "version": str(loan.version)})
    assert resp.status_code == 302
    assert _loan_of(app, ref).cancelled_by_id == head.id
    assert not [m for _rcpt, m in smtp.messages if ref in str(m["Subject"]) and "ถูกยกเลิก" in str(m["Subject"])]


def test_the_office_cannot_cancel_after_the_hand_over_nor_a_staff_request_nor_can_staff(
    app,
    chairs,  # noqa: F811
    officer,
    make_user,
):
    from lending.outside import services as outside

    group_id, asset_ids = chairs
    head, staff = make_user(roles=["head"]), make_user(roles=["staff"])
    today = bangkok_today()
    with app.app_context():
        s = db.session
        o, h, st = (s.get(User, u.id) for u in (officer, head, staff))
        party = outside.PartyDetails(kind="person", name="นางดี มีสุข", phone="0812223344", village_no="3", village="ดอน")
        loan = outside.request_outside(
            s, o, party, [(group_id, 1)], start_on=today, due_on=today, purpose="งาน", place="บ้าน", channel="counter"
        )
        with pytest.raises(Forbidden):
            outside.cancel_by_office(s, st, loan.id, "ไม่ให้")
        with pytest.raises(DomainError, match="Give the reason"):
            outside.cancel_by_office(s, o, loan.id, "")
        workflow.approve_loan(s, o, loan.id)
        workflow.approve_loan(s, h, loan.id)
        loan = s.get(Loan, loan.id)
        line = loan.lines[0]
        s.rollback()
        free = group_queries.suggest_assets(s, group_id, 1, today, today, today, exclude_loan_id=loan.id)
        s.rollback()
        groups.hand_over_lines(s, o, loan.id, {line.id: [free[0].id]})
        with pytest.raises(Conflict, match="not yet handed over"):
            outside.cancel_by_office(s, o, loan.id, "สาย")
        staff_loan = groups.request_by_count(
            s,
            st,
            [(group_id, 1)],
            purpose="ประชุม",
            place="ห้องประชุม",
            off_premises=False,
            start_on=today + timedelta(days=20),
            due_on=today + timedelta(days=20),
        )
        with pytest.raises(Forbidden):
            outside.cancel_by_office(s, o, staff_loan.id, "ไม่ใช่คำขอจากภายนอก")
        db.session.remove()
