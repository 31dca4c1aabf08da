"""Lending by count to outside borrowers: the services on SQLite and PostgreSQL, with their audit entries."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from audit.integrity.runner import verify_on
from audit.models import AuditEntry
from core.db import Conflict, DomainError, Forbidden, db
from lending.groups import queries as group_queries
from lending.groups import services as groups
from lending.loans import services as workflow
from lending.loans.models import APPROVED, CHECKED_OUT, RETURNED, Incident, Loan
from lending.outside import events
from lending.outside import queries as outside_queries
from lending.outside import services as outside
from lending.outside.models import OutsideParty, mask_national_id
from lending.register.models import AVAILABLE, IN_REPAIR, Asset
from tests.groups import make_group

NOW = datetime(2031, 3, 3, 3, 0, tzinfo=UTC)  # 10:00 on 3 March 2031 in Bangkok
SAT = date(2031, 3, 8)
NATIONAL_ID = "1101700230708"  # a made-up number with a valid check digit


def citizen(**fields) -> outside.PartyDetails:
    values = {
        "kind": "person",
        "name": "นางสมศรี ใจดี",
        "phone": "081-234-5678",
        "village_no": "4",
        "village": "หนองบัว",
        "address": "12",
        "national_id": NATIONAL_ID,
        **fields,
    }
    return outside.PartyDetails(**values)


@pytest.fixture
def head(make_user):
    return make_user(roles=["head"])


def ask(session, group_id: int, count: int, start=SAT, due=None, **party):
    return outside.request_outside(
        session,
        None,
        citizen(**party),
        [(group_id, count)],
        start_on=start,
        due_on=due or start + timedelta(days=1),
        purpose="งานบุญประจำปี",
        place="ศาลาประชาคม หมู่ 4",
        now=NOW,
    )


@pytest.fixture
def heard():
    """The events of outside loans, as a listener registered for the test hears them."""
    got: list[tuple[int, str]] = []

    def listener(session, loan, event):
        got.append((loan.id, event))

    events.register(listener)
    yield got
    events.unregister(listener)


def test_a_citizens_request_goes_from_the_form_to_the_return_with_two_damaged_chairs(
    app, session, officer, head, make_user, heard
):
    group_id, chair_ids = make_group(app, 12)
    since = session.scalar(select(AuditEntry.seq).order_by(AuditEntry.seq.desc()).limit(1))
    loan = ask(session, group_id, 10)
    assert loan.status == "requested" and loan.needs_head and loan.borrower_id is None
    assert loan.public_ref.startswith("K-") and loan.channel == "eservice"
    party = session.get(OutsideParty, loan.party_id)
    assert party.national_id_masked == "x-xxxx-xxxx0-70-8" and NATIONAL_ID not in repr(party.__dict__)

    workflow.approve_loan(session, officer, loan.id, now=NOW)
    assert session.get(Loan, loan.id).waiting_for_head
    workflow.approve_loan(session, head, loan.id, now=NOW)
    loan = session.get(Loan, loan.id)
    assert loan.status == APPROVED

    [line] = loan.lines
    suggested = group_queries.suggest_assets(
        session, group_id, line.count, loan.start_on, loan.due_on, date(2031, 3, 7), exclude_loan_id=loan.id
    )
    assert [a.id for a in suggested] == chair_ids[:10]
    session.rollback()
    handed = groups.hand_over_lines(
        session, officer, loan.id, {line.id: [a.id for a in suggested]}, now=datetime(2031, 3, 7, 2, 0, tzinfo=UTC)
    )
    assert handed.status == CHECKED_OUT and len(handed.items) == 10 and handed.lines[0].handed_count == 10
    assert {a.status for a in session.scalars(select(Asset).where(Asset.id.in_(chair_ids[:10])))} == {"on_loan"}

    damaged = [i.id for i in handed.items][:2]
    session.rollback()
    back = groups.receive_by_count(
        session,
        officer,
        loan.id,
        line.id,
        8,
        [groups.Exception_(i, "damaged", "ขาหัก") for i in damaged],
        now=datetime(2031, 3, 9, 5, 0, tzinfo=UTC),
    )
    assert back.status == RETURNED
    cases = list(session.scalars(select(Incident).where(Incident.loan_item_id.in_(damaged))))
    assert len(cases) == 2 and {c.kind for c in cases} == {"damaged"}
    statuses = [session.get(Asset, a).status for a in chair_ids[:10]]
    assert statuses.count(IN_REPAIR) == 2 and statuses.count(AVAILABLE) == 8

    assert [e for i, e in heard if i == loan.id] == ["approved", "checked_out", "returned"]
    answer = outside.record_survey(
        session, loan.public_ref, "+66812345678", 5, "บริการดีมาก", now=datetime(2031, 3, 10, 5, 0, tzinfo=UTC)
    )
    assert answer.score == 5
    with pytest.raises(Conflict):
        outside.record_survey(session, loan.public_ref, "0812345678", 4)

    # the audit log names the party by reference only
    entries = list(session.scalars(select(AuditEntry).where(AuditEntry.data.contains(party.ref))))
    assert entries
    for e in session.scalars(select(AuditEntry).where(AuditEntry.seq > since)):
        for secret in ("สมศรี", "5678", "หนองบัว", NATIONAL_ID, "0-70-8", "บริการดีมาก"):
            assert secret not in e.data, (e.action, secret)


def test_a_miscounted_return_is_refused_and_the_missing_chairs_are_named_as_still_out(app, session, officer, head):
    group_id, _ = make_group(app, 5)
    loan = ask(session, group_id, 5)
    workflow.approve_loan(session, officer, loan.id, now=NOW)
    workflow.approve_loan(session, head, loan.id, now=NOW)
    loan = session.get(Loan, loan.id)
    line = loan.lines[0]
    picks = [a.id for a in group_queries.suggest_assets(session, group_id, 5, SAT, SAT, NOW.date())]
    session.rollback()
    loan = groups.hand_over_lines(session, officer, loan.id, {line.id: picks}, now=NOW + timedelta(days=4))
    items = [i.id for i in loan.items]
    session.rollback()
    with pytest.raises(DomainError, match="should be back"):
        groups.receive_by_count(session, officer, loan.id, line.id, 4, [], now=NOW + timedelta(days=6))
    loan = groups.receive_by_count(
        session, officer, loan.id, line.id, 4, [groups.Exception_(items[0], "out")], now=NOW + timedelta(days=6)
    )
    assert loan.status == CHECKED_OUT and [i.id for i in loan.open_items] == [items[0]]


def test_approvals_never_reserve_more_than_the_group_holds_and_the_officers_approval_already_reserves(
    app, session, officer, head, make_user
):
    group_id, _ = make_group(app, 6)
    first = ask(session, group_id, 4)
    second = ask(session, group_id, 4, phone="0899999999")
    workflow.approve_loan(session, officer, first.id, now=NOW)  # waiting for the head, but reserving
    with pytest.raises(Conflict) as refused:
        workflow.approve_loan(session, officer, second.id, now=NOW)
    assert refused.value.params["free"] == 2 and refused.value.params["need"] == 4
    assert refused.value.params["day"] == "08/03/2574"  # B.E.
    free = group_queries.availability(session, [group_id], SAT, SAT + timedelta(days=2), NOW.date())[group_id]
    assert list(free.values()) == [2, 2, 6]
    with pytest.raises(Conflict):  # the form already says so before it is sent
        ask(session, group_id, 3)


def test_a_staff_request_by_count_competes_for_the_same_chairs(app, session, officer, make_user):
    staff = make_user(roles=["staff"])
    group_id, _ = make_group(app, 3)
    mine = groups.request_by_count(
        session,
        staff,
        [(group_id, 3)],
        purpose="ประชุมประชาคม",
        place="อบต.",
        off_premises=False,
        start_on=SAT,
        due_on=SAT,
        now=NOW,
    )
    assert mine.channel == "staff" and not mine.needs_head
    workflow.approve_loan(session, officer, mine.id, now=NOW)
    with pytest.raises(Conflict, match="Only 0"):
        ask(session, group_id, 1)


def test_tracking_needs_the_right_phone_and_says_nothing_otherwise(app, session, officer):
    group_id, _ = make_group(app, 2)
    loan = ask(session, group_id, 1)
    assert outside.find_request(session, loan.public_ref, "081 234 5678").id == loan.id
    assert outside.find_request(session, loan.public_ref.lower(), "0812345678").id == loan.id
    assert outside.find_request(session, loan.public_ref, "0812345679") is None
    assert outside.find_request(session, "K-NOSUCH00", "0812345678") is None
    status = outside.request_status(session, loan, NOW.date())
    assert status.status == "requested" and status.lines[0].count == 1 and status.can_cancel
    assert _waiting(session, loan.id), "the officers were told a request waits"
    outside.cancel_outside_request(session, loan.public_ref, "0812345678", now=NOW)
    assert session.get(Loan, loan.id).status == "cancelled"
    assert not _waiting(session, loan.id), "a withdrawn request still waits in the officers' notifications"


def _waiting(session, loan_id: int) -> list:
    from lending.loans.models import Notification

    return session.scalars(
        select(Notification).where(
            Notification.loan_id == loan_id, Notification.kind == "request_waiting", Notification.read_at.is_(None)
        )
    ).all()


def test_the_form_refuses_bad_details_and_what_the_rules_do_not_lend(app, session, admin):
    group_id, _ = make_group(app, 2, category="เต็นท์")
    with pytest.raises(DomainError, match="ID card"):
        ask(session, group_id, 1, national_id="1101700230709")
    with pytest.raises(DomainError, match="phone"):
        ask(session, group_id, 1, phone="12")
    with pytest.raises(DomainError, match="at most 7 days"):
        ask(session, group_id, 1, due=SAT + timedelta(days=7))
    with pytest.raises(Forbidden):
        outside.request_outside(
            session,
            None,
            citizen(),
            [(group_id, 1)],
            start_on=SAT,
            due_on=SAT,
            purpose="x",
            place="y",
            channel="counter",
            now=NOW,
        )
    hidden, _ = make_group(app, 2, public=False)
    with pytest.raises(DomainError, match="not offered"):
        ask(session, hidden, 1)
    before = outside.current_rules(session)
    try:
        outside.save_rules(
            session,
            admin,
            {"person": {"categories": ["เก้าอี้"], "max_days": 3, "head_approval": True, "deposit": False}},
            0,
        )
        with pytest.raises(DomainError, match="not lent to this kind"):
            ask(session, group_id, 1)
        assert [
            g.id
            for g in outside_queries.public_groups(session, SAT, SAT, NOW.date(), kind="person")
            if g.id == group_id
        ] == []
    finally:
        outside.save_rules(
            session, admin, {k: r.__dict__ for k, r in before["rules"].items()}, before["retention_setting"]
        )


def test_the_masked_id_keeps_only_the_last_four_digits():
    assert mask_national_id("1-1017-00230-70-8") == "x-xxxx-xxxx0-70-8"
    assert mask_national_id("") == ""


def test_contact_details_are_anonymised_after_the_retention_period_and_the_chain_still_verifies(app, session, officer):
    group_id, _ = make_group(app, 2)
    loan = ask(session, group_id, 1)
    outside.cancel_outside_request(session, loan.public_ref, "0812345678", now=NOW)
    party_id = loan.party_id
    later = NOW + timedelta(days=365 * 10 + 10)
    assert loan.party.ref in outside.anonymise_expired(session, None, now=later, dry_run=True)
    assert session.get(OutsideParty, party_id).phone == "081-234-5678"
    assert outside.anonymise_expired(session, None, now=NOW + timedelta(days=30)) == []
    done = outside.anonymise_expired(session, None, now=later)
    party = session.get(OutsideParty, party_id)
    assert party.ref in done and party.is_anonymised
    assert party.name == "—" and party.phone == "—" and party.phone_key == "" and party.national_id_masked == "—"
    assert outside.find_request(session, loan.public_ref, "0812345678") is None
    session.rollback()
    result = verify_on(db.session)
    assert result.ok, result.problem


def test_the_years_eservice_figures_count_channels_decisions_items_by_count_returns_and_the_survey(
    app, session, officer, head, make_user
):
    """FY2577 (2033-10-01 … 2034-09-30) is this test's alone."""
    from evidence.report.figures import eservice_figures

    t0 = datetime(2034, 2, 1, 3, 0, tzinfo=UTC)
    day = date(2034, 2, 4)
    group_id, _ = make_group(app, 10)
    staff = make_user(roles=["staff"])

    def public(phone, n, **kw):
        return outside.request_outside(
            session,
            None,
            citizen(phone=phone),
            [(group_id, n)],
            start_on=day,
            due_on=day,
            purpose="งาน",
            place="หมู่ 4",
            now=t0,
            **kw,
        )

    def lend_and_return(loan, decided_at, back_at, score):
        workflow.approve_loan(session, officer, loan.id, now=decided_at)
        workflow.approve_loan(session, head, loan.id, now=decided_at)
        line = session.get(Loan, loan.id).lines[0]
        picks = [
            a.id
            for a in group_queries.suggest_assets(session, group_id, line.count, day, day, day, exclude_loan_id=loan.id)
        ]
        session.rollback()
        groups.hand_over_lines(session, officer, loan.id, {line.id: picks}, now=datetime(2034, 2, 4, 1, tzinfo=UTC))
        session.rollback()
        groups.receive_by_count(session, officer, loan.id, line.id, line.count, [], now=back_at)
        outside.record_survey(session, loan.public_ref, loan.party.phone, score, now=back_at)

    on_time, late = public("0810000001", 3), public("0810000002", 2)
    lend_and_return(on_time, t0 + timedelta(days=1), datetime(2034, 2, 4, 9, tzinfo=UTC), 4)
    lend_and_return(late, t0 + timedelta(days=2), datetime(2034, 2, 6, 3, tzinfo=UTC), 5)
    refused = outside.request_outside(
        session,
        officer,
        citizen(kind="agency", contact_person="ครูใหญ่", national_id="", phone="043000000"),
        [(group_id, 1)],
        start_on=day,
        due_on=day,
        purpose="กีฬา",
        place="โรงเรียน",
        channel="agency",
        now=t0,
    )
    workflow.reject_loan(session, officer, refused.id, "ไม่ว่าง", now=t0 + timedelta(days=3))
    groups.request_by_count(
        session,
        staff,
        [(group_id, 1)],
        purpose="ประชุม",
        place="อบต.",
        off_premises=False,
        start_on=day,
        due_on=day,
        now=t0,
    )

    got = eservice_figures(session, date(2033, 10, 1), date(2034, 9, 30))
    assert got == {
        "requests_staff": 1,
        "requests_eservice": 2,
        "requests_counter": 0,
        "requests_agency": 1,
        "outside_requests": 3,
        "outside_approved": 2,
        "outside_rejected": 1,
        "outside_median_days_to_decision": 2.0,  # 1, 2 and 3 days
        "loans_by_count": 2,
        "items_lent_by_count": 5,
        "outside_items_returned": 5,
        "outside_items_returned_on_time": 3,
        "outside_on_time_return_rate": 60.0,
        "survey_answers": 2,
        "survey_average": 4.5,
    }
