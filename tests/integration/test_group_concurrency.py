"""The last 20 chairs of a day, asked for three times and approved at the same instant (SQLite and PostgreSQL).

Two requests from the public e-service and one staff request, each for 20 of a group whose other chairs are
already lent that day, are approved by three officers in three sessions released together. Whatever the
interleaving, one approval wins, the others are refused with a clear Conflict, and no day ever has more
chairs reserved than the group holds.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from core.db import Conflict
from lending.groups import queries as group_queries
from lending.groups import services as groups
from lending.loans import services as workflow
from lending.loans.models import Loan
from lending.outside import services as outside
from tests.groups import make_group
from tests.integration.test_lending_concurrency import at_once, describe, split

NOW = datetime(2032, 2, 2, 3, 0, tzinfo=UTC)
DAY = date(2032, 2, 7)  # a Saturday


def _citizen(phone: str) -> outside.PartyDetails:
    return outside.PartyDetails(kind="person", name="นายทดสอบ พร้อมกัน", phone=phone, village_no="3", village="โนนสูง")


@pytest.mark.parametrize("round_no", range(2))
def test_three_simultaneous_approvals_for_the_last_twenty_chairs_reserve_no_more_than_the_group_holds(
    app, session, make_user, round_no
):
    group_id, _ = make_group(app, 25)
    staff, early = make_user(roles=["staff"]), make_user(roles=["staff"])
    officers = [make_user(roles=["supply_officer"]) for _ in range(3)]
    # five chairs of the day are already lent: twenty are left
    first = groups.request_by_count(
        session,
        early,
        [(group_id, 5)],
        purpose="ประชุม",
        place="อบต.",
        off_premises=False,
        start_on=DAY,
        due_on=DAY,
        now=NOW,
    )
    workflow.approve_loan(session, officers[0], first.id, now=NOW)
    asks = [
        outside.request_outside(
            session,
            None,
            _citizen(phone),
            [(group_id, 20)],
            start_on=DAY,
            due_on=DAY + timedelta(days=1),
            purpose="งานบวช",
            place="บ้านเลขที่ 9",
            now=NOW,
        ).id
        for phone in ("0811111111", "0822222222")
    ]
    asks.append(
        groups.request_by_count(
            session,
            staff,
            [(group_id, 20)],
            purpose="กีฬาสี",
            place="โรงเรียน",
            off_premises=False,
            start_on=DAY - timedelta(days=1),
            due_on=DAY,
            now=NOW,
        ).id
    )
    session.rollback()

    def approve(loan_id: int, officer):
        return lambda s: workflow.approve_loan(s, officer, loan_id, now=NOW).id

    outcomes = at_once(app, [approve(loan_id, officers[i]) for i, loan_id in enumerate(asks)])

    wins, errors = split(outcomes)
    assert len(wins) == 1, f"{len(wins)} approvals won; errors: {describe(errors)}"
    assert all(type(e) is Conflict for e in errors), describe(errors)
    assert all(e.params["free"] == 0 and e.params["need"] == 20 for e in errors), describe(errors)
    session.rollback()
    held = group_queries.reserved_per_day(
        session, [group_id], DAY - timedelta(days=1), DAY + timedelta(days=1), NOW.date()
    )[group_id]
    assert max(held.values()) <= 25 and held[DAY] == 25
    reserving = [lo for lo in (session.get(Loan, i) for i in asks) if lo.officer_at is not None]
    assert [lo.id for lo in reserving] == wins
