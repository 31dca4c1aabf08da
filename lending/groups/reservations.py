"""The one rule of lending by count: on no day do a group's reservations exceed what the group holds.

Called by the approval (lending.loans.services.approve_loan) for every approval step, the officer's too — the
officer's approval already reserves the count until the head decides. The group rows are locked first
(FOR UPDATE on PostgreSQL; SQLite's write lock is already held by begin_write), so two approvals that
draw on one group queue here and the second counts what the first reserved.
"""

from __future__ import annotations

from collections import Counter
from datetime import date

from sqlalchemy import select

from core.dates import format_numeric
from core.db import N_, Conflict, Session
from lending.groups import queries
from lending.groups.models import LendingGroup
from lending.loans.models import Loan
from lending.register.models import Asset


def lock_groups(session: Session, group_ids: list[int]) -> list[LendingGroup]:
    stmt = select(LendingGroup).where(LendingGroup.id.in_(sorted(group_ids))).order_by(LendingGroup.id)
    if session.get_bind().dialect.name != "sqlite":
        stmt = stmt.with_for_update()
    return list(session.execute(stmt.execution_options(populate_existing=True)).scalars())


def needs_of(session: Session, loan: Loan) -> Counter:
    """What the loan takes from each group: its lines' counts, and its numbered items that belong to a group
    (items picked for a line replace the line's count once the loan is handed over)."""
    need: Counter = Counter()
    for line in loan.lines:
        need[line.group_id] += line.count
    loose = [i.asset_id for i in loan.items if i.line_id is None]
    if loose:
        for group_id in session.execute(
            select(Asset.lending_group_id).where(Asset.id.in_(loose), Asset.lending_group_id.is_not(None))
        ).scalars():
            need[group_id] += 1
    return need


def capacity_error(session: Session, loan: Loan, today: date) -> Conflict | None:
    """Lock the loan's groups and check that its counts fit on each of its days; the refusal, or None.

    The refusal names the group, the first day that is short, and how many are free that day.
    """
    need = needs_of(session, loan)
    if not need:
        return None
    groups = {g.id: g for g in lock_groups(session, list(need))}
    free = queries.availability(session, sorted(need), loan.start_on, loan.due_on, today, exclude_loan_id=loan.id)
    for group_id in sorted(need):
        for day, n in sorted(free[group_id].items()):
            if n < need[group_id]:
                return Conflict(
                    N_("Only %(free)d of %(group)s are free on %(day)s; this request needs %(need)d."),
                    free=n,
                    group=groups[group_id].name,
                    day=format_numeric(day),
                    need=need[group_id],
                )
    return None
