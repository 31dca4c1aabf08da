"""Availability by count, computed in two statements (lending.groups.queries), means exactly what the rules
say: random bookings of every kind (statuses, the officer's reservation, overlaps, items out past their
due date, returned and damaged or lost items, items picked outside a line, assets of other groups, assets
in repair, lost, disposed or not lendable) and the per-day counts compared with a plain reference computed
here from the ORM, one loan at a time. Runs on SQLite and on PostgreSQL (DATABASE_URL).
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import insert, select

from audit import record
from core.db import begin_write, db
from lending.groups import queries
from lending.groups.models import LendingGroup, LoanLine
from lending.loans.models import APPROVED, CHECKED_OUT, REQUESTED, Loan, LoanItem
from lending.register.models import AVAILABLE, DISPOSED, ON_LOAN, Asset
from tests.conftest import unique

TODAY = date(2032, 3, 10)
WINDOW = (date(2032, 3, 1), date(2032, 4, 15))
STATUSES = ["requested", "requested", "approved", "approved", "checked_out", "checked_out", "returned", "rejected"]
ASSET_STATES = [AVAILABLE] * 6 + [ON_LOAN, ON_LOAN, "in_repair", "lost", DISPOSED]
CONDITIONS = [None, None, None, "good", "damaged", "lost"]


def _seed(app, borrower_id: int, seed_no: int) -> list[int]:
    """Three groups of assets in mixed states and 120 random loans on them; the group ids."""
    rnd = random.Random(seed_no)
    at = datetime(2032, 1, 1, tzinfo=UTC)
    with app.app_context():
        s = db.session
        begin_write(s)
        groups = [
            LendingGroup(name=unique("กลุ่มทดสอบ "), category="เก้าอี้", model="", description="", public=True, active=True)
            for _ in range(3)
        ]
        s.add_all(groups)
        s.flush()
        gids = [g.id for g in groups]
        prefix = unique("951-")
        rows = []
        for i in range(60):
            rows.append(
                {
                    "asset_number": f"{prefix}-{i:04d}",
                    "tag": unique("T").upper()[:12],
                    "name": "x",
                    "category": "x",
                    "brand": "",
                    "model": "",
                    "serial_number": "",
                    "price": 350,
                    "location": "",
                    "department": "",
                    "lendable": rnd.random() > 0.1,
                    "status": rnd.choice(ASSET_STATES),
                    "status_note": "",
                    "search_text": "",
                    "lending_group_id": gids[i % 3] if i < 54 else None,  # a few belong to no group
                    "version": 1,
                    "created_at": at,
                    "updated_at": at,
                }
            )
        s.execute(insert(Asset), rows)
        asset_ids = list(s.execute(select(Asset.id).where(Asset.asset_number.like(f"{prefix}-%"))).scalars())
        loans = []
        for _ in range(120):
            start = WINDOW[0] + timedelta(days=rnd.randrange(-25, 50))
            due = start + timedelta(days=rnd.choice([0, 0, 1, 2, 5, 20]))
            status = rnd.choice(STATUSES)
            loans.append(
                {
                    "ref": unique("EQ/"),
                    "borrower_id": borrower_id,
                    "party_id": None,
                    "channel": "staff",
                    "public_ref": None,
                    "purpose": "x",
                    "place": "x",
                    "off_premises": True,
                    "start_on": start,
                    "due_on": due,
                    "status": status,
                    "requested_at": at,
                    "needs_head": True,
                    # the officer's approval reserves too; also set on others, where it must not matter
                    "officer_at": at if rnd.random() < 0.5 else None,
                    "decided_at": None,
                    "decision_note": "",
                    "handover_note": "",
                    "imported": False,
                    "version": 1,
                    "checked_out_at": None,
                    "returned_at": None,
                }
            )
        s.execute(insert(Loan), loans)
        loan_ids = list(s.execute(select(Loan.id).where(Loan.ref.in_([x["ref"] for x in loans]))).scalars())
        lines = [
            {"loan_id": lid, "group_id": g, "count": rnd.randrange(1, 8), "handed_count": None}
            for lid in loan_ids
            for g in rnd.sample(gids, rnd.randrange(0, 3))
        ]
        if lines:
            s.execute(insert(LoanLine), lines)
        line_of = defaultdict(list)
        for line_id, lid in s.execute(select(LoanLine.id, LoanLine.loan_id).where(LoanLine.loan_id.in_(loan_ids))):
            line_of[lid].append(line_id)
        items = []
        for lid in loan_ids:
            for asset_id in rnd.sample(asset_ids, rnd.randrange(0, 6)):
                items.append(
                    {
                        "loan_id": lid,
                        "asset_id": asset_id,
                        # picked for a line, or loose (named one by one, or picked without a line)
                        "line_id": rnd.choice(line_of[lid]) if line_of[lid] and rnd.random() < 0.6 else None,
                        "value": 350,
                        "condition": rnd.choice(CONDITIONS),
                        "return_note": "",
                        "version": 1,
                    }
                )
        if items:
            s.execute(insert(LoanItem), items)
        record(s, None, "test.seeded", None, {"loans": len(loan_ids)})
        s.commit()
        return gids


def _reference(session, group_ids, start_on, end_on, today, exclude_loan_id=None):
    """The rules of lending.groups.queries read literally: per loan, per line, per item, per day."""
    days = [start_on + timedelta(days=i) for i in range((end_on - start_on).days + 1)]
    assets = list(session.execute(select(Asset).where(Asset.lending_group_id.in_(group_ids))).scalars())
    usable = {
        g: sum(1 for a in assets if a.lending_group_id == g and a.lendable and a.status in (AVAILABLE, ON_LOAN))
        for g in group_ids
    }
    members = {g: sum(1 for a in assets if a.lending_group_id == g and a.status != DISPOSED) for g in group_ids}
    held = {g: dict.fromkeys(days, 0) for g in group_ids}
    for loan in session.execute(select(Loan)).scalars():
        if loan.id == exclude_loan_id:
            continue
        officer_reserved = loan.status == REQUESTED and loan.officer_at is not None
        if loan.status == APPROVED or officer_reserved:
            for line in loan.lines:
                if line.group_id in held:
                    for d in days:
                        if loan.start_on <= d <= loan.due_on:
                            held[line.group_id][d] += line.count
        if loan.status in (APPROVED, CHECKED_OUT) or officer_reserved:
            overdue = loan.status == CHECKED_OUT and loan.due_on < today
            for item in loan.items:
                group_id = session.get(Asset, item.asset_id).lending_group_id
                if item.condition is not None or group_id not in held:
                    continue
                for d in days:
                    if loan.start_on <= d and (d <= loan.due_on or overdue):
                        held[group_id][d] += 1
    free = {g: {d: max(0, usable[g] - n) for d, n in held[g].items()} for g in group_ids}
    return usable, members, held, free


@pytest.mark.parametrize("seed_no", [1, 2, 3])
def test_per_day_counts_match_the_plain_reference(app, make_user, seed_no):
    borrower = make_user()
    gids = _seed(app, borrower.id, seed_no)
    with app.app_context():
        s = db.session
        windows = [WINDOW, (TODAY, TODAY), (date(2032, 2, 1), date(2032, 2, 28)), (date(2032, 4, 1), date(2032, 6, 30))]
        for start_on, end_on in windows:
            usable, members, held, free = _reference(s, gids, start_on, end_on, TODAY)
            assert queries.reserved_per_day(s, gids, start_on, end_on, TODAY) == held
            assert queries.availability(s, gids, start_on, end_on, TODAY) == free
            assert queries.capacity(s, gids) == usable
            rows = {r.id: r for r in queries.groups(s, start_on=start_on, end_on=end_on, today=TODAY) if r.id in gids}
            assert {g: (rows[g].total, rows[g].members, rows[g].per_day) for g in gids} == {
                g: (usable[g], members[g], free[g]) for g in gids
            }
            assert all(rows[g].available == min(free[g].values()) for g in gids)
        # the catalogue's filters: by category, public and active only
        chairs = {r.id for r in queries.groups(s, categories=("เก้าอี้",))}
        assert set(gids) <= chairs and not set(gids) & {r.id for r in queries.groups(s, categories=("เต็นท์x",))}
        assert set(gids) <= {r.id for r in queries.groups(s, public_only=True, active_only=False)}
        # one group alone, and leaving one loan out (the approval counts what the others hold)
        some = s.execute(select(LoanLine.loan_id).where(LoanLine.group_id == gids[0])).scalars().first()
        _, _, held, free = _reference(s, gids[:1], *WINDOW, TODAY, exclude_loan_id=some)
        assert queries.availability(s, gids[:1], *WINDOW, TODAY, exclude_loan_id=some) == free
        assert queries.reserved_per_day(s, gids[:1], *WINDOW, TODAY, exclude_loan_id=some) == held
        # the reference is not trivially zero: the random bookings do hold something
        _, _, held, _ = _reference(s, gids, *WINDOW, TODAY)
        assert any(n for per in held.values() for n in per.values())


def test_groups_without_assets_or_bookings_are_zero(app):
    with app.app_context():
        s = db.session
        begin_write(s)
        group = LendingGroup(name=unique("ว่าง "), category="x", model="", description="", public=True, active=True)
        s.add(group)
        s.flush()
        record(s, None, "lending_group.created", group, {"after": group.state()})
        s.commit()
        assert queries.availability(s, [group.id], *WINDOW, TODAY) == {
            group.id: dict.fromkeys([WINDOW[0] + timedelta(days=i) for i in range(46)], 0)
        }
        assert queries.sizes(s, [group.id]) == {group.id: (0, 0)}
        assert queries.availability(s, [], *WINDOW, TODAY) == {}
