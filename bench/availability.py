"""Issue 12's budget: the availability of a 300-item lending group over a month, at 10,000 loans.

    .venv/bin/python bench/availability.py [--loans 10000] [--group 300] [--repeat 200]
                                           [--database-url URL]

1. A fresh SQLite instance under bench/out/availability/ (bench/common.py fresh_instance), or the empty
   database named by --database-url (PostgreSQL: migrated here, then emptied of nothing — use a fresh one;
   vacuumed and analysed after the bulk load, as autovacuum would soon do).
2. One public lending group of `--group` numbered chairs, a second group of 20 tents, and `--loans` loans
   written in bulk: most of them history over two years (handed over and returned, their picked chairs
   named), the rest in the measured month and around it — approved requests by count, requests approved by
   the officer and waiting for the head, loans handed over with their chairs out (some past their due
   date), pending and rejected requests — from staff and from outside parties.
3. `lending.groups.queries.availability` for the group over the month (what the public page and the
   approval ask), timed server-side `--repeat` times after a warm-up: p50/p95. Also
   `lending.outside.queries.public_groups` for the same month, and the public page `/e-service` through
   the Flask test client when that route exists.

Prints Markdown for bench/RESULTS.md. The budget: p95 <= 20 ms.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import fresh_instance, summary  # noqa: E402

MONTH = date(2031, 6, 1)  # the measured month: June 2031 (B.E. 2574)
TODAY = date(2031, 5, 20)


def _app(url: str | None, env: dict | None):
    from wsgi import create_app

    overrides = {
        "DATABASE_URL": url or env["DATABASE_URL"],
        "SECRET_KEY": "bench",
        "TESTING": True,
        "WTF_CSRF_ENABLED": False,
    }
    if env is not None:
        overrides["EVIDENCE_DIR"] = env["EVIDENCE_DIR"]
    app = create_app(overrides)
    if url:
        from flask_migrate import upgrade

        with app.app_context():
            upgrade()
    return app


def seed(app, loans: int, group_size: int, seed_no: int = 12) -> int:
    """Write the group, its chairs and the loans in bulk; returns the group's id."""
    from sqlalchemy import insert, select

    from audit import record
    from core.db import begin_write, db
    from core.models import User
    from core.people import services as core_services
    from lending.groups.models import LendingGroup, LoanLine
    from lending.loans.models import Loan, LoanItem
    from lending.outside.models import OutsideParty
    from lending.register.models import Asset

    rnd = random.Random(seed_no)
    with app.app_context():
        s = db.session
        if not s.execute(select(User.id).where(User.username == "bench_staff")).first():
            core_services.create_user(s, None, "bench_staff", "ทดสอบ ผู้ยืม", {"staff"}, "bench-password-1")
        staff_id = s.execute(select(User.id).where(User.username == "bench_staff")).scalar_one()
        begin_write(s)
        chairs = LendingGroup(
            name="เก้าอี้พลาสติก (bench)", category="เก้าอี้", model="", description="", public=True, active=True
        )
        tents = LendingGroup(name="เต็นท์ (bench)", category="เต็นท์", model="", description="", public=True, active=True)
        s.add_all([chairs, tents])
        s.flush()
        rows = []
        for gid, prefix, n in ((chairs.id, "916-74", group_size), (tents.id, "916-73", 20)):
            rows += [
                {
                    "asset_number": f"{prefix}-{i:04d}",
                    "tag": f"B{gid}X{i:05d}",
                    "name": "bench",
                    "category": "x",
                    "brand": "",
                    "model": "",
                    "serial_number": "",
                    "price": 350,
                    "location": "",
                    "department": "",
                    "lendable": True,
                    "status": "available",
                    "status_note": "",
                    "search_text": "",
                    "lending_group_id": gid,
                    "version": 1,
                    "created_at": datetime(2030, 1, 1, tzinfo=UTC),
                    "updated_at": datetime(2030, 1, 1, tzinfo=UTC),
                }
                for i in range(1, n + 1)
            ]
        s.execute(insert(Asset), rows)
        chair_ids = list(
            s.execute(
                select(Asset.id).where(Asset.lending_group_id == chairs.id).order_by(Asset.asset_number)
            ).scalars()
        )
        tent_ids = list(s.execute(select(Asset.id).where(Asset.lending_group_id == tents.id)).scalars())
        parties = [
            {
                "ref": f"P-B{i:07d}",
                "kind": "person",
                "name": "ผู้ยืม ทดสอบ",
                "contact_person": "",
                "phone": "0810000000",
                "phone_key": "0810000000",
                "email": "",
                "address": "1",
                "village_no": "1",
                "village": "",
                "subdistrict": "",
                "district": "",
                "province": "",
                "letter_no": "",
                "national_id_masked": "",
                "created_at": datetime(2030, 1, 1, tzinfo=UTC),
                "version": 1,
            }
            for i in range(loans)
        ]
        s.execute(insert(OutsideParty), parties)
        party_ids = list(
            s.execute(select(OutsideParty.id).where(OutsideParty.ref.like("P-B%")).order_by(OutsideParty.id)).scalars()
        )
        loan_rows, plans = [], []
        history_start = MONTH - timedelta(days=730)
        for i in range(loans):
            kind = rnd.random()
            if kind < 0.80:  # history: handed over and returned
                start = history_start + timedelta(days=rnd.randrange(0, 700))
                status = "returned"
            else:  # around the measured month
                start = MONTH - timedelta(days=10) + timedelta(days=rnd.randrange(0, 45))
                status = rnd.choice(
                    ["approved", "approved", "checked_out", "checked_out", "requested", "requested_officer", "rejected"]
                )
            due = start + timedelta(days=rnd.randrange(0, 3))
            outside = rnd.random() < 0.7
            at = datetime.combine(start - timedelta(days=5), datetime.min.time(), tzinfo=UTC)
            real = "requested" if status == "requested_officer" else status
            loan_rows.append(
                {
                    "ref": f"B/{i:06d}",
                    "borrower_id": None if outside else staff_id,
                    "party_id": party_ids[i] if outside else None,
                    "channel": "eservice" if outside else "staff",
                    "public_ref": f"K-B{i:07d}" if outside else None,
                    "purpose": "bench",
                    "place": "bench",
                    "off_premises": True,
                    "start_on": start,
                    "due_on": due,
                    "status": real,
                    "requested_at": at,
                    "needs_head": True,
                    "officer_at": at + timedelta(hours=1) if status != "requested" else None,
                    "decided_at": at + timedelta(hours=2)
                    if real in ("approved", "checked_out", "returned", "rejected")
                    else None,
                    "decision_note": "",
                    "handover_note": "",
                    "imported": False,
                    "version": 1,
                    "checked_out_at": datetime.combine(start, datetime.min.time(), tzinfo=UTC)
                    if real in ("checked_out", "returned")
                    else None,
                    "returned_at": datetime.combine(due, datetime.min.time(), tzinfo=UTC)
                    if real == "returned"
                    else None,
                }
            )
            plans.append((real, rnd.randrange(5, 40), rnd.randrange(0, 3)))
        s.execute(insert(Loan), loan_rows)
        loan_ids = list(s.execute(select(Loan.id).where(Loan.ref.like("B/%")).order_by(Loan.ref)).scalars())
        lines = []
        for loan_id, (status, n_chairs, n_tents) in zip(loan_ids, plans, strict=True):
            lines.append(
                {
                    "loan_id": loan_id,
                    "group_id": chairs.id,
                    "count": n_chairs,
                    "handed_count": n_chairs if status in ("checked_out", "returned") else None,
                }
            )
            if n_tents:
                lines.append(
                    {
                        "loan_id": loan_id,
                        "group_id": tents.id,
                        "count": n_tents,
                        "handed_count": n_tents if status in ("checked_out", "returned") else None,
                    }
                )
        s.execute(insert(LoanLine), lines)
        line_of = {(lid, gid): x for lid, gid, x in s.execute(select(LoanLine.loan_id, LoanLine.group_id, LoanLine.id))}
        items = []
        out_now: set[int] = set()
        for loan_id, (status, n_chairs, n_tents) in zip(loan_ids, plans, strict=True):
            if status not in ("checked_out", "returned"):
                continue
            for gid, ids, n in ((chairs.id, chair_ids, n_chairs), (tents.id, tent_ids, n_tents)):
                if not n:
                    continue
                if status == "checked_out":  # chairs out now: never the same chair in two loans
                    free = [a for a in ids if a not in out_now]
                    picked = free[:n]
                    out_now.update(picked)
                else:
                    first = rnd.randrange(0, max(1, len(ids) - n))
                    picked = ids[first : first + n]
                items += [
                    {
                        "loan_id": loan_id,
                        "asset_id": a,
                        "line_id": line_of[(loan_id, gid)],
                        "value": 350,
                        "condition": "good" if status == "returned" else None,
                        "return_note": "",
                        "version": 1,
                    }
                    for a in picked
                ]
        for start in range(0, len(items), 5000):
            s.execute(insert(LoanItem), items[start : start + 5000])
        record(s, None, "bench.seeded", None, {"loans": loans, "items": len(items)})
        s.commit()
        print(f"seeded {loans} loans, {len(lines)} lines, {len(items)} items; group of {group_size}", file=sys.stderr)
        return chairs.id


def measure(app, group_id: int, repeat: int) -> list[str]:
    from core.db import db
    from lending.groups import queries
    from lending.outside import queries as outside_queries

    end = date(MONTH.year, MONTH.month + 1, 1) - timedelta(days=1)
    out = []
    with app.app_context():
        s = db.session
        for _ in range(5):  # warm-up
            queries.availability(s, [group_id], MONTH, end, TODAY)
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            free = queries.availability(s, [group_id], MONTH, end, TODAY)[group_id]
            times.append((time.perf_counter() - t) * 1000)
            s.rollback()
        out.append(f"| availability, one group, {len(free)} days | {summary(times)} |")
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            outside_queries.public_groups(s, MONTH, end, TODAY)
            times.append((time.perf_counter() - t) * 1000)
            s.rollback()
        out.append(f"| public_groups (every public group), {len(free)} days | {summary(times)} |")
    if any(r.rule == "/e-service" for r in app.url_map.iter_rules()):
        client = app.test_client()
        url = f"/e-service?start={MONTH.isoformat()}&end={end.isoformat()}"
        client.get(url)
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            resp = client.get(url)
            times.append((time.perf_counter() - t) * 1000)
            assert resp.status_code == 200, resp.status_code
        out.append(f"| GET {url} (test client) | {summary(times)} |")
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--loans", type=int, default=10_000)
    p.add_argument("--group", type=int, default=300)
    p.add_argument("--repeat", type=int, default=200)
    p.add_argument("--database-url", default=None, help="an empty PostgreSQL database (default: fresh SQLite)")
    a = p.parse_args()
    env = None if a.database_url else fresh_instance("availability")
    app = _app(a.database_url, env)
    group_id = seed(app, a.loans, a.group)
    if a.database_url:
        # PostgreSQL plans by its statistics and reads an index alone only where its visibility map says so;
        # autovacuum does both within a minute or so of a bulk load. Measured before that, the figures are
        # the race with autovacuum, not the queries' cost.
        from core.db import db

        with app.app_context(), db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in ("assets", "loans", "loan_lines", "loan_items"):
                conn.exec_driver_sql(f"VACUUM ANALYZE {table}")
    rows = measure(app, group_id, a.repeat)
    backend = "PostgreSQL" if a.database_url else "SQLite"
    print(f"### Availability of a {a.group}-item group over a month ({backend}, {a.loans:,} loans)\n")
    print("| what | server-side |\n|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
