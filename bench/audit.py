"""Issue 4's budgets: verify at 1,000,000 entries, the cost of auditing a write, the filtered log page.

    .venv/bin/python bench/audit.py [--entries 1000000] [--rebuild] [--no-append]
    .venv/bin/python bench/audit.py --write-cost [--entries 20000] [--rounds 300]   (that measure alone)

Builds (once; reused while it holds enough entries) a SQLite instance under bench/out/audit-<n>/ whose log
holds `--entries` entries written by the real writer, `record_many`, in chunks of 1,000 (one transaction
each) spread over three years (the writer's clock is moved per chunk, so the date filter has history to
cut), by 24 people, with a checkpoint every 100,000 entries. Then, in this one process:

- `audit verify` (the same function the command and the page call) over the whole chain, and the time to
  SHA-256 the very same canonical bytes alone (built beforehand), as a ratio;
- the cost of auditing a write: an asset edit through `lending.register.services.update_asset` with its entry,
  against the same call with `record` stubbed out (the guard told an entry was written), alternated;
- the auditor's log page through the Flask test client (the whole stack: login, CSRF, i18n, templates)
  for each kind of filter, p50/p95.

Prints Markdown lines and puts them in bench/RESULTS.md under "## Audit log (issue 4)" (that section only).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import OUT, ROOT, pct  # noqa: E402

HEADING = "## Audit log (issue 4)"
PASSWORD = "bench-password"  # noqa: S105 (a throwaway instance's account)
CHUNK = 1000
ACTIONS = (
    "asset.updated",
    "loan.requested",
    "loan.approved",
    "loan.checked_out",
    "loan.item_returned",
    "auth.login",
    "asset.status_changed",
    "demand.issued",
    "settings.changed",
    "loan.rejected",
)
PLACES = ("ห้องประชุมสภา", "โรงเก็บพัสดุ", "ห้องเก็บของ ชั้น 1", "ศูนย์พัฒนาเด็กเล็ก", "กองช่าง ชั้น 2")
START = datetime(2023, 10, 1, 1, 0, tzinfo=UTC)  # FY2567 onward
SPAN = timedelta(days=3 * 365)


def environment(base: Path) -> None:
    os.environ.update(
        {
            "DATABASE_URL": f"sqlite:///{base / 'db.sqlite3'}",
            "EVIDENCE_DIR": str(base / "files"),
            "AUDIT_CHECKPOINT_LOG": str(base / "audit-checkpoints.jsonl"),
            "SECRET_KEY": "bench",
            "BASE_URL": "http://127.0.0.1:5000",
        }
    )


def item(n: int) -> tuple[tuple[str, str], dict]:
    """One entry's subject and data: Thai text, before/after, an amount; a rare word once in 100,000."""
    place, other = PLACES[n % 5], PLACES[(n + 2) % 5]
    data = {
        "before": {"location": other, "price": f"{300 + n % 700}.00"},
        "after": {"location": place, "price": f"{310 + n % 700}.00"},
    }
    if n % 100_000 == 77:
        data["note"] = "ร่มสนามลายพิเศษ"
    return ("asset", str(n % 5000 + 1)), data


def build(n: int, base: Path, rebuild: bool) -> None:
    """A SQLite instance whose audit log holds at least `n` entries."""
    from flask_migrate import upgrade

    import audit.services as writer
    from audit.integrity import runner as queries
    from audit.integrity.checkpoints import log_path
    from core.db import begin_write, db
    from core.people import services as core_services
    from core.web import context
    from lending.register import services as lending_services
    from wsgi import create_app

    if rebuild and base.exists():
        shutil.rmtree(base)
    base.mkdir(parents=True, exist_ok=True)
    environment(base)
    app = create_app()
    with app.app_context():
        upgrade()
        context.set_origin("192.0.2.1", "bench/audit.py")
        head = queries.head_of(db.session)[0]
        if head >= n:
            print(f"(reusing {base}: {head:,} entries)", file=sys.stderr)
            return
        if head == 0:
            accounts = [
                ("auditor", "นางสาวตรวจ สอบดี", "auditor"),
                ("officer", "นางสมศรี รักพัสดุ", "supply_officer"),
                *[(f"staff{i:02d}", f"เจ้าหน้าที่ {i}", "staff") for i in range(22)],
            ]
            people = [
                core_services.create_user(db.session, None, name, full, {role}, PASSWORD)
                for name, full, role in accounts
            ]
            for i in range(20):
                lending_services.create_asset(
                    db.session,
                    people[1],
                    {
                        "asset_number": f"416-66-{i:04d}",
                        "name": "เก้าอี้พลาสติก",
                        "category": "เก้าอี้",
                        "brand": "",
                        "model": "",
                        "serial_number": "",
                        "acquired_on": "",
                        "price": "350.00",
                        "location": "ห้องเก็บของ",
                        "department": "สำนักปลัด",
                        "lendable": True,
                    },
                )
        from core.models import User

        people = db.session.query(User).order_by(User.id).all()
        head = queries.head_of(db.session)[0]
        chunks = (n - head + CHUNK - 1) // CHUNK
        step = SPAN / max(chunks, 1)
        started = time.perf_counter()
        real_clock = writer.utcnow
        try:
            for c in range(chunks):
                writer.utcnow = lambda c=c: START + step * c  # the chunk's moment in the three years
                begin_write(db.session)
                first = head + c * CHUNK
                writer.record_many(
                    db.session,
                    people[c % len(people)],
                    ACTIONS[c % len(ACTIONS)],
                    [item(first + i) for i in range(CHUNK)],
                )
                db.session.commit()
                if (first + CHUNK) % 100_000 < CHUNK:
                    writer.create_checkpoint(db.session, None, log=log_path(app.config))
                if c % 100 == 0:
                    took = time.perf_counter() - started
                    print(f"  {first + CHUNK:,} entries, {took:.0f} s", file=sys.stderr)
        finally:
            writer.utcnow = real_clock
        db.session.execute(db.text("ANALYZE"))
        db.session.commit()


def measure_verify(app) -> tuple[str, dict]:
    from audit.integrity import runner as queries
    from audit.integrity.chain import canonical_stored
    from audit.integrity.checkpoints import log_path
    from core.db import db

    def cpu() -> float:  # this process and its finished children (the workers of the walk in parts)
        own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime

    with app.app_context():
        runs, cpus = [], []
        for _ in range(2):
            started, cpu_started = time.perf_counter(), cpu()
            result = queries.verify_engine(db.engine, log=log_path(app.config))
            runs.append(time.perf_counter() - started)
            cpus.append(cpu() - cpu_started)
        assert result.ok, result.problem.message
        started, cpu_started = time.perf_counter(), cpu()
        single = queries.verify_engine(db.engine, log=log_path(app.config), parallel_from=10**12)
        single_wall, single_cpu = time.perf_counter() - started, cpu() - cpu_started
        assert single.ok and single.count == result.count
        with db.engine.connect() as conn:
            texts = [canonical_stored(row).encode("utf-8") for row in queries.iter_chain(conn)]
    commands = []
    for _ in range(3):  # the command itself, a fresh process: start-up, the walk in parts, the answer
        started = time.perf_counter()
        done = subprocess.run(
            [str(Path(sys.executable).with_name("flask")), "--app", "wsgi", "audit", "verify"],
            capture_output=True,
            text=True,
            check=False,
        )
        commands.append(time.perf_counter() - started)
        assert done.returncode == 0, done.stdout + done.stderr
    started = time.perf_counter()
    for data in texts:
        hashlib.sha256(data).hexdigest()
    hashing = time.perf_counter() - started
    size = sum(len(t) for t in texts) / 1e6
    return (
        (
            f"- verify {result.count:,} entries (`audit verify`'s function, one snapshot, streamed; "
            f"{result.checkpoints} checkpoints; in parts at once, one worker per core): **{min(runs):.2f} s** wall "
            f"(budget 10 s; runs {', '.join(f'{r:.2f}' for r in runs)} s), {min(cpus):.2f} s CPU in all; "
            f"SHA-256 of the same {size:.0f} MB of canonical bytes alone: {hashing:.2f} s → verify/hash "
            f"ratio **{min(runs) / hashing:.1f}×** (CPU/hash {min(cpus) / hashing:.1f}×); one walk in one "
            f"process: {single_wall:.2f} s wall, **{single_cpu:.2f} s CPU**; `flask --app wsgi audit verify` "
            f"(a fresh process): **{min(commands):.2f} s** (runs {', '.join(f'{r:.2f}' for r in commands)} s)"
        ),
        {"count": result.count},
    )


def measure_write_cost(app, rounds: int = 300) -> str:
    """The same service call, `update_asset`, with its audit entry and with `record` replaced by a stub that
    writes nothing (and tells the guard it did): the difference is the entry alone."""
    from sqlalchemy import select

    from core.db import db
    from core.models import User
    from core.web import context
    from lending.register import services
    from lending.register.models import Asset

    def fields(number: str, k: int) -> dict:
        return {
            "asset_number": number,
            "name": f"เก้าอี้พลาสติก ตัวที่ {k}",
            "category": "เก้าอี้",
            "brand": "",
            "model": "",
            "serial_number": "",
            "acquired_on": "",
            "price": f"{350 + k % 50}.00",
            "location": PLACES[k % 5],
            "department": "สำนักปลัด",
            "lendable": True,
        }

    def no_entry(session, *_args, **_kwargs):
        session.info["audit_recorded"] = True

    real_record = services.record
    with app.app_context():
        context.set_origin("192.0.2.1", "bench/audit.py")
        officer = db.session.execute(select(User).where(User.username == "officer")).scalar_one()
        assets = db.session.execute(select(Asset).order_by(Asset.id).limit(2)).scalars().all()
        state = {a.id: (a.asset_number, a.version) for a in assets}
        audited_id, plain_id = assets[0].id, assets[1].id
        db.session.rollback()
        timings: dict[str, list[float]] = {"with": [], "without": []}
        try:
            for k in range(1, rounds + 1):
                for kind, asset_id in (("with", audited_id), ("without", plain_id)):
                    services.record = real_record if kind == "with" else no_entry
                    number, version = state[asset_id]
                    started = time.perf_counter()
                    version = services.update_asset(db.session, officer, asset_id, version, fields(number, k)).version
                    timings[kind].append((time.perf_counter() - started) * 1000)
                    state[asset_id] = (number, version)
        finally:
            services.record = real_record
        db.session.remove()
    a, b = statistics.median(timings["with"]), statistics.median(timings["without"])
    return (
        f"- cost of auditing a write (`lending.register.services.update_asset`, the same edit with its entry and "
        f"with `record` stubbed out; {rounds} each, alternated, log at its full size): median "
        f"**{a:.2f} ms** with the entry, {b:.2f} ms without → **{a / b:.2f}×** "
        f"(p95 {pct(timings['with'], 95):.2f} / "
        f"{pct(timings['without'], 95):.2f} ms)"
    )


def measure_pages(app, count: int) -> list[str]:
    from datetime import date

    app.config["WTF_CSRF_ENABLED"] = False
    client = app.test_client()
    assert client.post("/login", data={"username": "auditor", "password": PASSWORD}).status_code == 302
    mid = date(2025, 3, 1)
    be = f"01/{mid.month:02d}/{mid.year + 543}"
    be_end = f"31/{mid.month:02d}/{mid.year + 543}"
    kinds = {
        "newest page, no filter": ["/audit/"],
        "keyset pages deep in the log": [f"/audit/?before={count * f // 10}" for f in (1, 3, 5, 7, 9)],
        "by user": ["/audit/?actor=staff07", f"/audit/?actor=staff03&before={count // 2}"],
        "by action": ["/audit/?action=loan.approved", f"/audit/?action=demand.issued&before={count // 3}"],
        "by record (type + id)": ["/audit/?type=asset&id=17", "/audit/?type=asset&id=4242"],
        "B.E. date range (one month)": [
            f"/audit/?from={be}&to={be_end}",
            f"/audit/?from={be}&to={be_end}&action=asset.updated",
        ],
        "free text, common (Thai)": ["/audit/?q=ห้องประชุมสภา"],
        "free text, rare or absent (whole window)": ["/audit/?q=ร่มสนามลายพิเศษ", "/audit/?q=ไม่มีคำนี้เลย"],
        "user + dates + text": [f"/audit/?actor=staff05&from={be}&to=31/12/2568&q=โรงเก็บ"],
    }
    lines, every, every_cpu = [], [], []
    for name, urls in kinds.items():
        times, cpu_times = [], []
        for _ in range(max(30 // len(urls), 12)):
            for url in urls:
                started, cpu_started = time.perf_counter(), time.process_time()
                resp = client.get(url)
                times.append((time.perf_counter() - started) * 1000)
                cpu_times.append((time.process_time() - cpu_started) * 1000)
                assert resp.status_code == 200, (url, resp.status_code)
        every += times
        every_cpu += cpu_times
        lines.append(
            f"  - {name}: p50 {statistics.median(times):.1f} ms, p95 {pct(times, 95):.1f} ms "
            f"(CPU p95 {pct(cpu_times, 95):.1f} ms)"
        )
    head = (
        f"- the auditor's log page at {count:,} entries (Flask test client, whole stack, 50 rows, "
        f"keyset pages; {len(every)} requests): **p95 {pct(every, 95):.1f} ms** over all filters "
        f"(budget 100 ms); CPU time p95 {pct(every_cpu, 95):.1f} ms"
    )
    return [head, *lines]


def write_results(lines: list[str]) -> None:
    path = ROOT / "bench" / "RESULTS.md"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    section = HEADING + "\n\n" + "\n".join(lines) + "\n"
    if HEADING in text:
        before, _, rest = text.partition(HEADING)
        after = rest[rest.find("\n## ") :] if "\n## " in rest else ""
        text = before + section + after.lstrip("\n").join(["\n", ""]) if after else before + section
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--no-append", action="store_true", help="print only; leave bench/RESULTS.md alone")
    parser.add_argument(
        "--write-cost", action="store_true", help="only the cost of auditing a write; prints, writes nothing"
    )
    parser.add_argument("--rounds", type=int, default=300, help="edits of each kind for --write-cost")
    args = parser.parse_args()
    if args.write_cost:
        base = OUT / f"audit-{args.entries}"
        build(args.entries, base, args.rebuild)
        environment(base)
        from wsgi import create_app

        print(f"`.venv/bin/python bench/audit.py --write-cost --entries {args.entries} --rounds {args.rounds}`")
        print(measure_write_cost(create_app(), args.rounds))
        return
    base = OUT / f"audit-{args.entries}"
    started = time.perf_counter()
    build(args.entries, base, args.rebuild)
    built = time.perf_counter() - started
    environment(base)
    from wsgi import create_app

    app = create_app()
    size = (base / "db.sqlite3").stat().st_size / 1e6
    verify_line, info = measure_verify(app)
    lines = [
        f"`.venv/bin/python bench/audit.py --entries {args.entries}` — {datetime.now(UTC):%Y-%m-%d}, "
        f"SQLite (WAL), {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} while measuring "
        f"(the 1-minute figure, this run included); log of {info['count']:,} entries, "
        f"database {size:.0f} MB (built by `record_many` in chunks of {CHUNK:,} in {built:.0f} s "
        f"when not reused)",
        "",
        verify_line,
        measure_write_cost(app),
        *measure_pages(app, info["count"]),
    ]
    print("\n".join(lines))
    if not args.no_append:
        write_results(lines)


if __name__ == "__main__":
    main()
