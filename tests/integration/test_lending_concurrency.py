"""Real concurrency against the real database (SQLite and PostgreSQL): the issue's acceptance test.

Threads are released together by a barrier, each in its own app context with its own db.session (its own
connection and transaction). Whatever the interleaving, exactly one wins and every loser gets a domain
Conflict with a clear message — never "database is locked", an OperationalError, an IntegrityError, a
StaleDataError or a 500. Every round uses a fresh asset, fresh requests and fresh people.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from audit.models import AuditEntry
from core.db import Conflict, db
from core.web import context
from lending.loans import cases
from lending.loans import services as workflow
from lending.loans.models import (
    APPROVED,
    CHECKED_OUT,
    DAMAGED,
    GOOD,
    REQUESTED,
    Demand,
    Incident,
    Loan,
    Notification,
)
from lending.register.models import Asset
from tests.conftest import login

NOW = datetime(2032, 1, 5, 2, 0, tzinfo=UTC)  # 09:00 on 5 January 2032 in Bangkok
START = date(2032, 1, 6)  # the day after NOW: handing over the day before is allowed
THREADS = 20
ROUNDS = 5


def at_once(app, calls: list[Callable[[Any], Any]]) -> list[tuple[str, Any]]:
    """Run each call(session) in its own thread and app context, all released together.

    Returns ("ok", value) or ("error", exception) per call, in order. Any exception is captured, so a
    test can assert the type and message of every loser.
    """
    barrier = threading.Barrier(len(calls))
    outcomes: list[tuple[str, Any]] = [("not run", None)] * len(calls)

    def work(i: int, call: Callable[[Any], Any]) -> None:
        with app.app_context():
            context.set_origin("127.0.0.1", f"pytest-thread-{i}")
            try:
                barrier.wait(timeout=60)
                outcomes[i] = ("ok", call(db.session))
            except BaseException as e:  # noqa: BLE001 — every failure is the test's business
                outcomes[i] = ("error", e)
            finally:
                db.session.rollback()
                db.session.remove()

    threads = [threading.Thread(target=work, args=(i, c), daemon=True) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread hung (a deadlock or a lock never released)"
    return outcomes


def split(outcomes) -> tuple[list[Any], list[BaseException]]:
    wins = [value for kind, value in outcomes if kind == "ok"]
    errors = [value for kind, value in outcomes if kind == "error"]
    assert len(wins) + len(errors) == len(outcomes), outcomes
    return wins, errors


def describe(errors: list[BaseException]) -> str:
    return "; ".join(sorted({f"{type(e).__module__}.{type(e).__name__}: {e}" for e in errors}))


def chain_is_contiguous(session, since_seq: int) -> list[AuditEntry]:
    """The entries written after `since_seq`: one per seq, each linked to the one before."""
    session.rollback()
    stmt = select(AuditEntry).where(AuditEntry.seq >= since_seq).order_by(AuditEntry.seq)
    rows = list(session.scalars(stmt))
    for prev, entry in zip(rows, rows[1:], strict=False):
        assert entry.seq == prev.seq + 1 and entry.prev_hash == prev.hash, (prev.seq, entry.seq)
    return rows


def head_seq(session) -> int:
    session.rollback()
    return session.scalar(select(AuditEntry.seq).order_by(AuditEntry.seq.desc()).limit(1)) or 0


def loans_by_id(session, ids) -> dict[int, Loan]:
    session.rollback()
    return {lo.id: lo for lo in session.scalars(select(Loan).where(Loan.id.in_(list(ids))))}


@pytest.fixture
def officers(make_user):
    """Four supply officers, to act in turn across the threads."""
    return [make_user(roles=["supply_officer"]) for _ in range(4)]


# --- 20 approvals of overlapping requests for one asset --------------------------------------------


@pytest.mark.parametrize("round_no", range(ROUNDS))
def test_of_twenty_simultaneous_approvals_of_overlapping_requests_exactly_one_wins(
    app, session, make_user, make_asset, officers, round_no
):
    borrowers = [make_user(roles=["staff"]) for _ in range(2)]
    projector = make_asset(name="เครื่องฉายภาพ", price=Decimal("9500.00"))
    loan_ids = []
    for i in range(THREADS):  # all overlap on 12 January; requests are accepted while nothing is approved
        start = START + timedelta(days=i % 3)
        loan = workflow.request_loan(
            session,
            borrowers[i % 2],
            [projector.id],
            purpose=f"อบรม รุ่น {i}",
            place="ห้องประชุม",
            off_premises=False,
            start_on=start,
            due_on=start + timedelta(days=2),
            now=NOW,
        )
        loan_ids.append(loan.id)
    since = head_seq(session) + 1

    def approve(loan_id: int, officer):
        return lambda s: workflow.approve_loan(s, officer, loan_id, now=NOW).id

    outcomes = at_once(app, [approve(loan_id, officers[i % 4]) for i, loan_id in enumerate(loan_ids)])

    wins, errors = split(outcomes)
    assert len(wins) == 1, f"{len(wins)} approvals won; errors: {describe(errors)}"
    assert all(type(e) is Conflict for e in errors), describe(errors)
    winner = loans_by_id(session, [wins[0]])[wins[0]]
    for e in errors:
        assert e.params["number"] == projector.asset_number and e.params["ref"] == winner.ref, str(e)
        assert str(e).startswith(f"{projector.asset_number} is already lent for those days (loan {winner.ref}"), str(e)
    loans = loans_by_id(session, loan_ids)
    assert Counter(lo.status for lo in loans.values()) == {APPROVED: 1, REQUESTED: THREADS - 1}
    assert loans[wins[0]].status == APPROVED
    new_entries = chain_is_contiguous(session, since)
    approvals = [e for e in new_entries if e.action == "loan.approved" and int(e.subject_id) in loans]
    assert [int(e.subject_id) for e in approvals] == [wins[0]]


# --- two officers, one loan ------------------------------------------------------------------------


def approved_loan(session, make_user, make_asset, officer, *, items: int = 1) -> tuple[int, list[int]]:
    borrower = make_user(roles=["staff"])
    assets = [make_asset() for _ in range(items)]
    loan = workflow.request_loan(
        session,
        borrower,
        [a.id for a in assets],
        purpose="งานกีฬาตำบล",
        place="สนามกีฬา",
        off_premises=False,
        start_on=START,
        due_on=START + timedelta(days=2),
        now=NOW,
    )
    workflow.approve_loan(session, officer, loan.id, now=NOW)
    return loan.id, [a.id for a in assets]


@pytest.mark.parametrize("with_version", [False, True], ids=["no-version", "same-page-version"])
def test_two_officers_handing_over_the_same_loan_at_once_one_succeeds_the_other_is_told(
    app, session, make_user, make_asset, officers, with_version
):
    for _ in range(3):
        loan_id, asset_ids = approved_loan(session, make_user, make_asset, officers[0], items=2)
        seen = loans_by_id(session, [loan_id])[loan_id].version if with_version else None
        since = head_seq(session) + 1

        outcomes = at_once(
            app,
            [
                lambda s, o=o, loan_id=loan_id, seen=seen: (
                    workflow.hand_over(s, o, loan_id, note=o.username, version=seen, now=NOW).id
                )
                for o in officers[1:3]
            ],
        )

        wins, errors = split(outcomes)
        assert len(wins) == 1 and len(errors) == 1, describe(errors)
        (error,) = errors
        assert type(error) is Conflict, describe(errors)
        assert any(
            text in str(error)
            for text in (
                "Only an approved loan can be handed over",
                "This loan is Handed over",
                "Someone else changed this loan",
            )
        ), str(error)
        loan = loans_by_id(session, [loan_id])[loan_id]
        assert loan.status == CHECKED_OUT
        assert {session.get(Asset, i).status for i in asset_ids} == {"on_loan"}
        handovers = [
            e
            for e in chain_is_contiguous(session, since)
            if e.action == "loan.checked_out" and e.subject_id == str(loan_id)
        ]
        assert len(handovers) == 1 and handovers[0].actor_id == loan.checked_out_by_id


def test_two_officers_receiving_the_same_item_at_once_one_succeeds_the_other_is_told(
    app, session, make_user, make_asset, officers
):
    for _ in range(3):
        loan_id, (asset_id,) = approved_loan(session, make_user, make_asset, officers[0])
        workflow.hand_over(session, officers[0], loan_id, now=NOW)
        item_id = loans_by_id(session, [loan_id])[loan_id].items[0].id
        since = head_seq(session) + 1

        outcomes = at_once(
            app,
            [
                lambda s, o=o, loan_id=loan_id, item_id=item_id: (
                    workflow.receive_items(s, o, loan_id, [workflow.ItemReturn(item_id, GOOD)], now=NOW).id
                )
                for o in officers[1:3]
            ],
        )

        wins, errors = split(outcomes)
        assert len(wins) == 1 and len(errors) == 1, describe(errors)
        (error,) = errors
        assert type(error) is Conflict, describe(errors)
        assert any(
            text in str(error)
            for text in (
                "already been received back",
                "Only items that were handed over",
                "This loan is Returned",
                "Someone else changed",
            )
        ), str(error)
        loan = loans_by_id(session, [loan_id])[loan_id]
        assert loan.status == "returned" and loan.items[0].condition == GOOD
        assert session.get(Asset, asset_id).status == "available"
        entries = chain_is_contiguous(session, since)
        returned = [e for e in entries if e.action == "loan.item_returned" and e.subject_id == str(item_id)]
        assert len(returned) == 1
        assert len([e for e in entries if e.action == "loan.returned" and e.subject_id == str(loan_id)]) == 1


def test_a_cancellation_and_a_hand_over_at_the_same_moment_do_not_both_happen(
    app, session, make_user, make_asset, officers
):
    for _ in range(3):
        borrower = make_user(roles=["staff"])
        asset = make_asset()
        loan = workflow.request_loan(
            session,
            borrower,
            [asset.id],
            purpose="งานวัด",
            place="วัด",
            off_premises=False,
            start_on=START,
            due_on=START,
            now=NOW,
        )
        loan_id = loan.id
        workflow.approve_loan(session, officers[0], loan_id, now=NOW)

        outcomes = at_once(
            app,
            [
                lambda s, loan_id=loan_id: workflow.hand_over(s, officers[1], loan_id, now=NOW).status,
                lambda s, loan_id=loan_id, borrower=borrower: (
                    workflow.cancel_loan(s, borrower, loan_id, "ไม่ใช้แล้ว", now=NOW).status
                ),
            ],
        )

        wins, errors = split(outcomes)
        assert len(wins) == 1 and len(errors) == 1 and type(errors[0]) is Conflict, describe(errors)
        final = loans_by_id(session, [loan_id])[loan_id].status
        assert final == wins[0]
        assert session.get(Asset, asset.id).status == ("on_loan" if final == CHECKED_OUT else "available")


# --- through the web -------------------------------------------------------------------------------


def test_two_officers_posting_approvals_of_overlapping_loans_never_get_a_500(
    app, session, make_user, make_asset, officers
):
    if "lending.loan_approve" not in {r.endpoint for r in app.url_map.iter_rules()}:
        pytest.skip("the loan pages (lending.loan_approve) are not built yet")
    clients = [app.test_client() for _ in range(2)]
    for client, officer in zip(clients, officers[:2], strict=True):
        # a context of its own, as a real request has (Flask-Login caches the signed-in user in g)
        with app.app_context():
            assert login(client, officer.username).status_code == 302
    borrower = make_user(roles=["staff"])

    for round_no in range(4):
        asset = make_asset()
        ids = []
        for i in range(2):
            loan = workflow.request_loan(
                session,
                borrower,
                [asset.id],
                purpose="ประชุม",
                place="ห้องประชุม",
                off_premises=False,
                start_on=START + timedelta(days=i),
                due_on=START + timedelta(days=i + 1),
                now=NOW,
            )
            ids.append(loan.id)
        # rounds 0 and 2: each officer approves a different loan; 1 and 3: both click on the same loan
        targets = ids if round_no % 2 == 0 else [ids[0], ids[0]]
        versions = {lo.id: lo.version for lo in loans_by_id(session, ids).values()}

        def post(client, loan_id, version):
            return lambda _s: client.post(f"/loans/{loan_id}/approve", data={"version": str(version)})

        outcomes = at_once(app, [post(c, t, versions[t]) for c, t in zip(clients, targets, strict=True)])

        responses, errors = split(outcomes)
        assert errors == [], describe(errors)
        statuses = sorted(r.status_code for r in responses)
        assert 500 not in statuses, [r.get_data(as_text=True)[:300] for r in responses]
        assert statuses == [302, 409], statuses
        refused = next(r for r in responses if r.status_code == 409).get_data(as_text=True)
        assert "database is locked" not in refused.lower()
        loans = loans_by_id(session, ids)
        assert Counter(lo.status for lo in loans.values()) == {APPROVED: 1, REQUESTED: 1}


# --- cases and the daily run -----------------------------------------------------------------------


def test_two_officers_settling_the_same_case_at_once_one_succeeds_the_other_is_told(
    app, session, make_user, make_asset, officers
):
    for _ in range(2):
        loan_id, (asset_id,) = approved_loan(session, make_user, make_asset, officers[0])
        workflow.hand_over(session, officers[0], loan_id, now=NOW)
        item_id = loans_by_id(session, [loan_id])[loan_id].items[0].id
        broken = workflow.ItemReturn(item_id, DAMAGED, "จอแตก")
        workflow.receive_items(session, officers[0], loan_id, [broken], now=NOW)
        session.rollback()
        incident_id = session.scalar(select(Incident.id).where(Incident.loan_item_id == item_id))

        outcomes = at_once(
            app,
            [
                lambda s, o=o, incident_id=incident_id, how=how: (
                    cases.settle_incident(s, o, incident_id, how, amount=Decimal("9500.00"), now=NOW).resolution
                )
                for o, how in ((officers[1], "repaired"), (officers[2], "paid"))
            ],
        )

        wins, errors = split(outcomes)
        assert len(wins) == 1 and len(errors) == 1 and type(errors[0]) is Conflict, describe(errors)
        assert "already settled" in str(errors[0]), str(errors[0])
        session.rollback()
        incident = session.get(Incident, incident_id)
        assert (incident.status, incident.resolution) == ("settled", wins[0])
        assert session.get(Asset, asset_id).status == ("available" if wins[0] == "repaired" else "in_repair")
        settled = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "incident.settled", AuditEntry.subject_id == str(incident_id))
        ).all()
        assert len(settled) == 1


def test_two_daily_runs_at_the_same_moment_make_one_demand_and_no_error(app, session, make_user, make_asset, officers):
    borrower = make_user(roles=["staff"])
    asset = make_asset()
    due = date(2032, 2, 10)
    loan = workflow.request_loan(
        session,
        borrower,
        [asset.id],
        purpose="ซ้อมดับเพลิง",
        place="ลานหน้า อบต.",
        off_premises=False,
        start_on=date(2032, 2, 8),
        due_on=due,
        now=NOW,
    )
    loan_id = loan.id
    workflow.approve_loan(session, officers[0], loan_id, now=NOW)
    workflow.hand_over(session, officers[0], loan_id, now=datetime(2032, 2, 8, 2, 0, tzinfo=UTC))
    morning = datetime(2032, 2, 12, 0, 30, tzinfo=UTC)

    outcomes = at_once(app, [lambda s: cases.remind(s, now=morning).demands for _ in range(2)])

    runs, errors = split(outcomes)
    assert errors == [], describe(errors)
    assert sum(runs) >= 1  # one of the runs made this loan's demand (others' overdue loans may add more)
    session.rollback()
    assert len(session.scalars(select(Demand).where(Demand.loan_id == loan_id)).all()) == 1
    assert (
        len(
            session.scalars(
                select(Notification).where(Notification.loan_id == loan_id, Notification.kind == "overdue")
            ).all()
        )
        == 1
    )
