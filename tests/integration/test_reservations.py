"""The officer's approval reserves the assets until the head decides, and either may approve part of a request.

Issue 14's story: request A (tents and chairs, off the premises, so the head approves too) is approved by the
supply officer; request B for the same chairs on an overlapping day must then be refused with A named, not
approved and left to fail at the head's approval of A. The approvers may leave the clashing items out (a
partial approval) with a reason the borrower reads, and the audit entry says what was left out and why.
"""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from core.db import Conflict, DomainError
from lending.loans import queries as lq
from lending.loans import services as workflow
from lending.loans.models import APPROVED, REQUESTED, LoanDrop, LoanItem
from tests.integration.test_workflow import DUE, NOW, START, People, ask, entries, fresh_loan, notes


@pytest.fixture
def people(make_user):
    """A borrower, two supply officers and a head, fresh for the test (made on first use)."""
    return People(make_user)


@pytest.fixture
def story(session, people, make_asset):
    """A tent and two chairs; request A for all three, used off the premises (the head approves too)."""
    tent = make_asset(name="เต็นท์ผ้าใบ 4x8 ม.", category="เต็นท์", price=Decimal("12500.00"))
    chairs = [make_asset(name="เก้าอี้พลาสติก") for _ in range(2)]
    people.make("head", "officer", "officer2")  # in office before the request, so each is notified
    a = ask(
        session, people.borrower, [tent, *chairs], off_premises=True, place="วัดบ้านหนองบัว", purpose="งานบุญประจำปีของหมู่บ้าน"
    )
    return {"tent": tent, "chairs": chairs, "a": a}


def test_a_later_request_for_chairs_the_officer_approved_to_a_is_refused_naming_a(session, people, story):
    workflow.approve_loan(session, people.officer, story["a"], now=NOW)
    a = fresh_loan(session, story["a"])
    assert a.waiting_for_head

    with pytest.raises(Conflict) as refused:
        ask(session, people.borrower, [story["chairs"][0]], start=DUE, due=DUE + timedelta(days=1))

    assert story["chairs"][0].asset_number in str(refused.value) and a.ref in str(refused.value)
    assert "waiting for the head of agency" in refused.value.message
    assert refused.value.params["start"] == START and refused.value.params["due"] == DUE  # shown as B.E.


def test_b_asked_before_the_officer_approved_a_cannot_be_approved_after_and_a_still_can(session, people, story):
    b = ask(session, people.borrower, [story["chairs"][1]], start=DUE, due=DUE + timedelta(days=1))
    workflow.approve_loan(session, people.officer, story["a"], now=NOW)
    a_ref = fresh_loan(session, story["a"]).ref

    with pytest.raises(Conflict) as refused:
        workflow.approve_loan(session, people.officer2, b, now=NOW + timedelta(minutes=5))

    assert a_ref in str(refused.value) and story["chairs"][1].asset_number in str(refused.value)
    assert fresh_loan(session, b).status == REQUESTED and fresh_loan(session, b).officer_at is None
    workflow.approve_loan(session, people.head, story["a"], now=NOW + timedelta(hours=1))
    assert fresh_loan(session, story["a"]).status == APPROVED


def test_a_rejection_by_the_head_frees_the_reserved_assets(session, people, story):
    workflow.approve_loan(session, people.officer, story["a"], now=NOW)
    workflow.reject_loan(session, people.head, story["a"], "ไม่อนุมัติให้นำออกนอกสถานที่", now=NOW)

    b = ask(session, people.borrower, story["chairs"], start=START, due=DUE)

    assert fresh_loan(session, b).status == REQUESTED


def test_the_officer_approves_b_without_the_chair_a_holds_and_the_borrower_reads_why(session, people, story):
    b = ask(session, people.borrower, [story["chairs"][0]], start=DUE, due=DUE + timedelta(days=2))
    workflow.approve_loan(session, people.officer, story["a"], now=NOW)
    # B asked for a chair A now holds and for a microphone nobody holds
    mic = _extra_item(session, b)
    b_loan = fresh_loan(session, b)
    chair_item = next(i for i in b_loan.items if i.asset_id == story["chairs"][0].id)
    reason = "เก้าอี้ถูกจองให้คำขอ " + fresh_loan(session, story["a"]).ref

    workflow.approve_loan(
        session, people.officer2, b, now=NOW + timedelta(minutes=5), drop_item_ids=[chair_item.id], drop_reason=reason
    )

    loan = fresh_loan(session, b)
    assert loan.status == APPROVED and [i.asset_id for i in loan.items] == [mic]
    (drop,) = session.scalars(select(LoanDrop).where(LoanDrop.loan_id == b))
    assert (drop.asset_id, drop.stage, drop.reason, drop.dropped_by_id) == (
        story["chairs"][0].id,
        "officer",
        reason,
        people.officer2.id,
    )
    (entry,) = entries(session, "loan", b, "loan.approved")
    data = json.loads(entry.data)
    assert data["drop_reason"] == reason
    assert [d["asset_number"] for d in data["dropped"]] == [story["chairs"][0].asset_number]
    assert sorted(data["before"]["assets"]) == sorted([story["chairs"][0].id, mic])
    assert data["after"]["assets"] == [mic]
    assert len(notes(session, people.borrower, "approved", b)) == 1
    assert lq.drops_by_loan(session, {b})[b] == {"items": story["chairs"][0].asset_number, "reason": reason}


def _extra_item(session, loan_id: int) -> int:
    """Add a free asset to a waiting request (as if asked for with it), without a service: set-up only."""
    from audit import record
    from core.db import begin_write
    from lending.register.models import Asset
    from lending.register.services import unique_tag
    from tests.conftest import unique

    begin_write(session)
    mic = Asset(tag=unique_tag(session), status="available", status_note="")
    mic.apply(
        {
            "asset_number": unique("901-69-"),
            "name": "ไมโครโฟนไร้สาย",
            "category": "เครื่องเสียง",
            "brand": "",
            "model": "",
            "serial_number": "",
            "acquired_on": None,
            "price": Decimal("2500"),
            "location": "ห้องเก็บของ",
            "department": "สำนักปลัด",
            "lendable": True,
        }
    )
    session.add(mic)
    session.flush()
    session.add(LoanItem(loan_id=loan_id, asset_id=mic.id, value=mic.price))
    record(session, None, "asset.created", mic, {"after": mic.state()})
    session.commit()
    return mic.id


def test_the_head_approves_a_without_the_tent_and_the_audit_entry_says_what_and_why(session, people, story):
    workflow.approve_loan(session, people.officer, story["a"], now=NOW)
    tent_item = next(i for i in fresh_loan(session, story["a"]).items if i.asset_id == story["tent"].id)

    workflow.approve_loan(
        session,
        people.head,
        story["a"],
        now=NOW + timedelta(hours=1),
        drop_item_ids=[tent_item.id],
        drop_reason="เต็นท์ต้องใช้ในงานของ อบต. วันเดียวกัน",
    )

    loan = fresh_loan(session, story["a"])
    assert loan.status == APPROVED and {i.asset_id for i in loan.items} == {c.id for c in story["chairs"]}
    (entry,) = entries(session, "loan", story["a"], "loan.approved")
    data = json.loads(entry.data)
    assert entry.actor == people.head.username
    assert [d["asset_number"] for d in data["dropped"]] == [story["tent"].asset_number]
    assert data["drop_reason"] == "เต็นท์ต้องใช้ในงานของ อบต. วันเดียวกัน"
    (drop,) = lq.loan_drops(session, story["a"])
    assert (drop.stage, drop.asset_id) == ("head", story["tent"].id)
    # the tent is free again for those days
    assert workflow.clashes(session, [story["tent"].id], START, DUE) == []


def test_an_officers_partial_first_approval_tells_the_borrower_before_the_head_decides(session, people, story):
    chair_item = next(i for i in fresh_loan(session, story["a"]).items if i.asset_id == story["chairs"][1].id)

    workflow.approve_loan(
        session, people.officer, story["a"], now=NOW, drop_item_ids=[chair_item.id], drop_reason="เก้าอี้ตัวนี้ชำรุด"
    )

    loan = fresh_loan(session, story["a"])
    assert loan.waiting_for_head and len(loan.items) == 2
    assert len(notes(session, people.borrower, "items_dropped", story["a"])) == 1
    (entry,) = entries(session, "loan", story["a"], "loan.officer_approved")
    assert json.loads(entry.data)["drop_reason"] == "เก้าอี้ตัวนี้ชำรุด"


@pytest.mark.parametrize(
    "drop, reason, message",
    [
        ("all", "เหตุผล", "Keep at least one item"),
        ("one", "  ", "Give the reason for leaving items out"),
        ("other", "เหตุผล", "not part of this loan"),
    ],
)
def test_a_partial_approval_that_drops_everything_has_no_reason_or_foreign_items_is_refused(
    session, people, story, drop, reason, message
):
    items = fresh_loan(session, story["a"]).items
    ids = {"all": [i.id for i in items], "one": [items[0].id], "other": [10**8]}[drop]

    with pytest.raises(DomainError, match=message):
        workflow.approve_loan(session, people.officer, story["a"], now=NOW, drop_item_ids=ids, drop_reason=reason)

    loan = fresh_loan(session, story["a"])
    assert loan.officer_at is None and len(loan.items) == 3
    assert entries(session, "loan", story["a"], "loan.officer_approved") == []


def test_deciding_a_request_clears_the_waiting_notifications_of_the_others(session, people, story):
    officers = [people.officer, people.officer2]
    assert all(len(notes(session, o, "request_waiting", story["a"])) == 1 for o in officers)

    workflow.approve_loan(session, people.officer, story["a"], now=NOW)

    assert all(n.read_at is not None for o in officers for n in notes(session, o, "request_waiting", story["a"]))
    (head_note,) = notes(session, people.head, "request_waiting", story["a"])
    assert head_note.read_at is None  # it waits for the head now
    before = lq.unread_count(session, people.head.id)

    workflow.approve_loan(session, people.head, story["a"], now=NOW + timedelta(hours=1))

    assert notes(session, people.head, "request_waiting", story["a"])[0].read_at is not None
    assert lq.unread_count(session, people.head.id) == before - 1
