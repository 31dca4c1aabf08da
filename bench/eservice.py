"""Issue 12's budget for the public e-service page: `/e-service` under `wrk -t2 -c2 -d20s` (≥ 300 req/s).

    .venv/bin/python bench/eservice.py [--groups 4] [--group-size 300] [--bookings 200] [--wrk-seconds 20]

Builds a fresh SQLite instance, puts `--groups` public lending groups of `--group-size` numbered assets on
the register (chairs, tents, tables, sound systems …), books `--bookings` outside requests over the next
month through the real services (requested on the e-service, approved by the officer and the head, so
each one reserves its counts), then serves the app with gunicorn -w 2 and loads, with wrk -t2 -c2
(no login: the page is public), the catalogue without dates, the catalogue for a chosen week (a count per
day of every group), and one group's month calendar. Latencies come from wrk's own histogram
(bench/wrk_report.lua); each timed run follows a short warm-up, as in bench/register.py.

Do not run it on a busy machine; figures go to bench/RESULTS.md. A smoke run to see it works:
`--group-size 20 --bookings 5 --wrk-seconds 1`.
"""

from __future__ import annotations

import argparse
import random
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import PY, ROOT, fresh_instance  # noqa: E402
from bench.register import free_port, load, rss_mb, wrk  # noqa: E402

KINDS = [
    ("เก้าอี้พลาสติก สีน้ำเงิน", "เก้าอี้"),
    ("เต็นท์ผ้าใบ 4x8 เมตร", "เต็นท์"),
    ("โต๊ะพับอเนกประสงค์", "โต๊ะ"),
    ("ชุดเครื่องเสียงกลางแจ้ง", "เครื่องเสียง"),
]


def seed(env: dict, groups: int, size: int, bookings: int, seed_no: int = 12) -> list[int]:
    """The public groups and the month of approved bookings, through the real services; the group ids."""
    import os

    os.environ.update(env)
    from wsgi import create_app

    app = create_app()
    with app.app_context():
        from audit import record
        from audit.services import record_many
        from core.dates import bangkok_today
        from core.db import DomainError, begin_write, db
        from core.people import services as core_services
        from core.web import context
        from lending.groups.models import LendingGroup
        from lending.loans import services as workflow
        from lending.outside import services as outside
        from lending.register.models import Asset, compute_search_text
        from lending.register.services import unique_tag

        context.set_origin("127.0.0.1", "bench")
        s = db.session
        officer = core_services.create_user(
            s, None, "bench_officer", "นางสมศรี รักพัสดุ", {"supply_officer"}, "bench-password"
        )
        head = core_services.create_user(s, None, "bench_head", "นายวิชัย หัวหน้า", {"head"}, "bench-password")
        ids = []
        for g in range(groups):
            name, category = KINDS[g % len(KINDS)]
            begin_write(s)
            group = LendingGroup(
                name=f"{name} ชุดที่ {g + 1}", category=category, model="", description="", public=True, active=True
            )
            s.add(group)
            s.flush()
            record(s, None, "lending_group.created", group, {"after": group.state()})
            taken: set[str] = set()
            assets = []
            for i in range(size):
                tag = unique_tag(s, taken)
                taken.add(tag)
                asset = Asset(tag=tag, status="available", status_note="", lending_group_id=group.id)
                asset.apply(
                    {
                        "asset_number": f"{700 + g}-68-{i + 1:05d}",
                        "name": group.name,
                        "category": category,
                        "brand": "",
                        "model": "",
                        "serial_number": "",
                        "acquired_on": None,
                        "price": Decimal("350.00"),
                        "location": "โรงเก็บพัสดุ",
                        "department": "สำนักปลัด",
                        "lendable": True,
                    }
                )
                asset.search_text = compute_search_text(asset.state())
                assets.append(asset)
            s.add_all(assets)
            s.flush()
            record_many(s, None, "asset.created", [(a, {"after": a.state()}) for a in assets])
            s.commit()
            ids.append(group.id)
        rnd = random.Random(seed_no)
        today = bangkok_today()
        made = 0
        for n in range(bookings):
            start = today + timedelta(days=rnd.randrange(1, 31))
            kinds = rnd.sample(ids, rnd.randrange(1, len(ids) + 1))
            lines = [(gid, rnd.randrange(1, max(2, size // 20))) for gid in kinds]
            party = outside.PartyDetails(
                kind="group",
                name=f"กลุ่มทดสอบ {n}",
                contact_person="ผู้ประสานงาน",
                phone=f"08{rnd.randrange(10**8):08d}",
                village_no=str(rnd.randrange(1, 15)),
            )
            try:
                loan = outside.request_outside(
                    s,
                    None,
                    party,
                    lines,
                    start_on=start,
                    due_on=start + timedelta(days=rnd.randrange(0, 3)),
                    purpose="งานบุญประจำปีของหมู่บ้าน",
                    place="ศาลาประชาคม",
                )
                workflow.approve_loan(s, officer, loan.id)
                workflow.approve_loan(s, head, loan.id)
                made += 1
            except DomainError:
                s.rollback()  # that day is full: a real office refuses it too
        print(f"{groups} public groups of {size:,}, {made:,} of {bookings:,} bookings approved over the next month")
        s.remove()
    return ids


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--groups", type=int, default=4)
    parser.add_argument("--group-size", type=int, default=300)
    parser.add_argument("--bookings", type=int, default=200)
    parser.add_argument("--wrk-seconds", type=int, default=20)
    args = parser.parse_args()
    env = fresh_instance("eservice")
    proc = subprocess.run(
        [
            PY,
            "-c",
            "import json, sys; sys.path.insert(0, '.'); from bench.eservice import seed; "
            f"import os; print(json.dumps(seed(dict(os.environ), {args.groups}, {args.group_size}, "
            f"{args.bookings})))",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise SystemExit(proc.stdout + proc.stderr)
    import json

    lines = proc.stdout.strip().splitlines()
    print(f"- {lines[-2]}")
    group_ids = json.loads(lines[-1])
    port = free_port()
    server = subprocess.Popen(
        [str(Path(PY).parent / "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}", "wsgi:create_app()"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        import urllib.request
        from datetime import date

        base = f"http://127.0.0.1:{port}/e-service"
        assert urllib.request.urlopen(base).status == 200  # the page answers, with no login
        week = date.today() + timedelta(days=7)
        chosen = f"{base}?start={week.isoformat()}&end={(week + timedelta(days=6)).isoformat()}"
        pages = {
            "the public page, no dates": base,
            "the public page, a week chosen (a count per day of every group)": chosen,
            "one group's month calendar": f"{base}/calendar/{group_ids[0]}",
        }
        idle = rss_mb(server.pid)
        for label, url in pages.items():
            print(f"- gunicorn -w 2, wrk -t2 -c2 -d{args.wrk_seconds}s, {label}: {wrk(url, '', args.wrk_seconds)}")
        print(
            f"- server RSS (master + 2 workers): {idle:.0f} MB idle, {rss_mb(server.pid):.0f} MB after load "
            f"[load {load()}]"
        )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
