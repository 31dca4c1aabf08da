"""Issue 3's budgets, with 100,000 historical loans built through the paper-ledger import.

    .venv/bin/python bench/lending.py [--loans 100000] [--assets 5000] [--borrowers 300] [--threads 8]
                                      [--per-thread 50] [--only sqlite|postgresql]

1. A fresh SQLite instance under bench/out/lending/ (bench/common.py fresh_instance), 5,000 assets through
   `assets import`, 300 borrowers and 6 officers (written in bulk, one password hash).
2. A generated ledger of ten years: 100,000 loans in about 120,000 rows (multi-item loans, every decision,
   partial returns, late returns, demands, damaged and lost items, items still out, pending requests),
   written as two files: the first 100,000 rows, then the rest. Each is imported through the real CLI
   (`flask loans import`, timed with peak memory); then the first file again (a no-op).
3. The approval queue and "my loans" pages through the Flask test client (server-side time per request)
   when their routes exist, else the same queries directly; p50/p95.
4. `flask loans remind` over that data (twice: the second run finds every demand made).
5. On PostgreSQL (kp_bench): the same data through the same import, then approve + hand over on pre-made
   requests by 8 threads, each with its own app context and session; loans/s. The same on SQLite.

Prints Markdown for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import resource
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import OUT, PY, ROOT, fresh_instance, pct, summary, timed, write_assets_csv  # noqa: E402

FLASK = str(Path(PY).parent / "flask")
PASSWORD = "bench-password"  # noqa: S105  (the bench instance's, as in bench/common.py)
PG_URL = "postgresql://kp:kp@127.0.0.1/kp_bench"
PURPOSES = [
    "จัดประชุมประชาคมหมู่บ้าน",
    "งานวันเด็กแห่งชาติ",
    "อบรมอาสาสมัครสาธารณสุข",
    "ประชุมสภา อบต.",
    "งานกีฬาสีตำบล",
    "ออกหน่วยบริการเคลื่อนที่",
    "งานประเพณีลอยกระทง",
    "ถ่ายภาพกิจกรรมโครงการ",
]
COLUMNS = [
    "ref",
    "asset_number",
    "borrower",
    "purpose",
    "requested_on",
    "decision",
    "decided_by",
    "decided_on",
    "checked_out_on",
    "due_on",
    "returned_on",
    "condition",
    "demanded_on",
]
THAI_DIGITS = str.maketrans("0123456789", "๐๑๒๓๔๕๖๗๘๙")


# --- the ledger ------------------------------------------------------------------------------------


def _fmt(day: date | None, style: int) -> str:
    if day is None:
        return ""
    if style == 0:
        return day.isoformat()
    text = f"{day.day:02d}/{day.month:02d}/{day.year + 543}"
    return text.translate(THAI_DIGITS) if style == 2 else text


def generate_loans(
    n_loans: int,
    numbers: list[str],
    borrowers: list[str],
    officers: list[str],
    today: date,
    seed: int = 3,
    years: int = 10,
) -> list[list[list[str]]]:
    """Loans in order of request over `years` up to `today`, never holding an asset twice at once."""
    rnd = random.Random(seed)
    start = today - timedelta(days=365 * years)
    span = (today - start).days
    free: dict[str, int] = {n: 0 for n in numbers}  # asset → first day (ordinal) it may go out again
    never = date.max.toordinal()
    loans = []
    per_fy: dict[int, int] = {}
    for i in range(n_loans):
        requested = start + timedelta(days=i * span // n_loans)
        age = (today - requested).days
        r = rnd.random()
        if age <= 10 and r < 0.4:
            decision = ""
        elif r < 0.06:
            decision = "rejected"
        elif r < 0.10:
            decision = "cancelled"
        else:
            decision = "approved"
        decided = min(today, requested + timedelta(days=rnd.choice((0, 0, 1, 1, 2, 3)))) if decision else None
        handed = due = None
        if decision == "approved":
            handed = decided + timedelta(days=rnd.choice((0, 0, 1, 2, 3)))
            if handed > today:
                handed = None
                due = decided + timedelta(days=rnd.randint(2, 10))
            else:
                due = handed + timedelta(days=rnd.randint(1, 14))
        elif decision in ("", "rejected") or rnd.random() < 0.5:
            due = requested + timedelta(days=rnd.randint(1, 10))
        k = 1 if rnd.random() < 0.8 else rnd.choice((2, 2, 3, 4, 5))
        hold_start = (handed or requested).toordinal()
        chosen: list[str] = []
        for _ in range(60 * k):
            if len(chosen) == k:
                break
            number = rnd.choice(numbers)
            if number in chosen:
                continue
            if decision == "approved" and free[number] > hold_start:
                continue
            chosen.append(number)
        if not chosen:
            continue
        fy = requested.year + 543 + (1 if requested.month >= 10 else 0)
        per_fy[fy] = per_fy.get(fy, 0) + 1
        ref = f"{per_fy[fy]}/{fy}"
        borrower = rnd.choice(borrowers)
        officer = rnd.choice(officers) if decision in ("approved", "rejected") else ""
        purpose = rnd.choice(PURPOSES)
        style = rnd.choice((0, 0, 0, 0, 0, 1, 1, 1, 1, 2))
        # the loan's common return: most on time, some late, a few (in the last year) never
        base_back = None
        if handed is not None:
            roll = rnd.random()
            if roll < 0.85:
                base_back = handed + timedelta(days=rnd.randint(0, (due - handed).days))
            elif roll < 0.98 or age > 365:
                base_back = due + timedelta(days=rnd.randint(1, 30))
        rows = []
        for number in chosen:
            back = condition = demanded = None
            if handed is not None:
                back = base_back
                if back is not None and k > 1 and rnd.random() < 0.1:
                    back = back + timedelta(days=rnd.randint(1, 5))  # a partial return
                if back is not None and back > today:
                    back = None
                if back is not None:
                    roll = rnd.random()
                    condition = "good" if roll < 0.975 else ("damaged" if roll < 0.997 else "lost")
                late_until = back or today
                if late_until > due and rnd.random() < 0.75:
                    demanded = due + timedelta(days=rnd.randint(1, 12))
                    if demanded > late_until:
                        demanded = None
                end = back.toordinal() if back else never
                free[number] = never if condition == "lost" else end
            elif decision == "approved":
                free[number] = due.toordinal() + 1
            rows.append(
                [
                    ref,
                    number,
                    borrower,
                    purpose,
                    _fmt(requested, style),
                    decision,
                    officer,
                    _fmt(decided, style),
                    _fmt(handed, style),
                    _fmt(due, style),
                    _fmt(back, style),
                    condition or "",
                    _fmt(demanded, style),
                ]
            )
        loans.append(rows)
    return loans


def write_ledgers(loans: list[list[list[str]]], first_rows: int) -> tuple[Path, Path, int, int]:
    """The first `first_rows` rows (a loan that would cross the line loses its extra items), then the rest."""
    a, b = OUT / f"ledger-{first_rows}.csv", OUT / "ledger-rest.csv"
    count_a = loans_a = 0
    with a.open("w", newline="", encoding="utf-8-sig") as fa, b.open("w", newline="", encoding="utf-8-sig") as fb:
        wa, wb = csv.writer(fa), csv.writer(fb)
        wa.writerow(COLUMNS)
        wb.writerow(COLUMNS)
        for rows in loans:
            if count_a < first_rows:
                rows = rows[: first_rows - count_a]
                wa.writerows(rows)
                count_a += len(rows)
                loans_a += 1
            else:
                wb.writerows(rows)
    return a, b, count_a, loans_a


# --- people ----------------------------------------------------------------------------------------


def seed_users(app, borrowers: list[str], officers: list[str]) -> None:
    """Borrowers and officers in bulk, one password hash for all, with their audit entries."""
    from sqlalchemy import insert

    from audit.services import record_many
    from core.db import begin_write, db
    from core.models import User, UserRole
    from core.people.services import _hasher
    from core.web import context

    with app.app_context():
        context.set_origin("cli", "bench/lending.py")
        hashed = _hasher.hash(PASSWORD)
        people = [(u, "staff") for u in borrowers] + [(u, "supply_officer") for u in officers]
        people.append(("head1", "head"))
        begin_write(db.session)
        values = [
            {
                "username": u,
                "name": f"ผู้ใช้ {u}",
                "position": "",
                "department": "สำนักปลัด",
                "email": f"{u}@kp.test",
                "password_hash": hashed,
                "active": True,
                "language": "th",
                "created_at": datetime.now(UTC),
                "version": 1,
            }
            for u, _ in people
        ]
        ids = db.session.scalars(insert(User).returning(User.id, sort_by_parameter_order=True), values).all()
        db.session.execute(
            insert(UserRole), [{"user_id": i, "role": role} for i, (_, role) in zip(ids, people, strict=True)]
        )
        record_many(
            db.session,
            None,
            "user.created",
            [
                (("user", i), {"after": {"username": u, "roles": [role]}})
                for i, (u, role) in zip(ids, people, strict=True)
            ],
        )
        db.session.commit()
        db.session.remove()


def make_app(env: dict):
    from wsgi import create_app

    app = create_app({k: env[k] for k in ("DATABASE_URL", "EVIDENCE_DIR", "SECRET_KEY", "BASE_URL")})
    app.config["WTF_CSRF_ENABLED"] = False
    return app


# --- measures --------------------------------------------------------------------------------------


def cli(env: dict, *args: str) -> tuple[float, float, str]:
    """Run a `flask` command; (wall seconds, peak MB, last line of output). The CPU seconds it used are
    kept in CPU[0]: on a machine shared with other sessions the wall time varies with their load."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    seconds, peak, out = timed([FLASK, "--app", "wsgi", *args], env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU[0] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, peak, out.strip().splitlines()[-1] if out.strip() else ""


CPU = [0.0]


def pages(app, officer: str, borrower: str, repeat: int) -> list[str]:
    """The approval queue and "my loans": through the test client if the routes exist, else the queries."""
    from core.dates import bangkok_date
    from core.db import db, utcnow
    from core.models import User
    from lending.loans import queries as lq

    endpoints = {rule.endpoint: rule.rule for rule in app.url_map.iter_rules()}
    out = []
    for label, endpoint, user in (
        ("approval queue", "lending.loan_queue", officer),
        ('"my loans"', "lending.loans_mine", borrower),
    ):
        if endpoint in endpoints:
            client = app.test_client()
            r = client.post("/login", data={"username": user, "password": PASSWORD})
            assert r.status_code == 302, r.status_code
            url = endpoints[endpoint]
            size = len(client.get(url).data)
            times = []
            for _ in range(repeat):
                start = time.perf_counter()
                resp = client.get(url)
                times.append((time.perf_counter() - start) * 1000)
                assert resp.status_code == 200, (url, resp.status_code)
            out.append(f"{label} page `{url}` as `{user}` (Flask test client, {size // 1024} KB): {summary(times)}")
        else:
            with app.app_context():
                uid = db.session.query(User.id).filter(User.username == user).scalar()
                times = []
                for _ in range(repeat):
                    start = time.perf_counter()
                    if endpoint == "lending.loan_queue":
                        lq.approval_queue(db.session, utcnow())
                    else:
                        lq.my_loans(db.session, uid, bangkok_date(utcnow()), 1, 50)
                    times.append((time.perf_counter() - start) * 1000)
                    db.session.rollback()
                db.session.remove()
            out.append(f"{label} (route {endpoint} not found; its query measured directly): {summary(times)}")
    return out


def queue_size(app, borrower: str) -> str:
    from sqlalchemy import func, select

    from core.db import db
    from core.models import User
    from lending.loans.models import REQUESTED, Loan

    with app.app_context():
        waiting = db.session.scalar(select(func.count()).select_from(Loan).where(Loan.status == REQUESTED))
        mine = db.session.scalar(
            select(func.count())
            .select_from(Loan)
            .join(User, User.id == Loan.borrower_id)
            .where(User.username == borrower)
        )
        total = db.session.scalar(select(func.count()).select_from(Loan))
        db.session.remove()
    return f"{total:,} loans in the database; {waiting} requests waiting; the borrower measured has {mine}"


def busiest_borrower(app) -> str:
    from sqlalchemy import func, select

    from core.db import db
    from core.models import User
    from lending.loans.models import Loan

    with app.app_context():
        name = db.session.execute(
            select(User.username)
            .join(Loan, Loan.borrower_id == User.id)
            .group_by(User.username)
            .order_by(func.count().desc())
            .limit(1)
        ).scalar_one()
        db.session.remove()
    return name


def make_requests(app, borrowers: list[str], n: int) -> list[int]:
    """`n` requests on distinct free assets for the next three days, by many borrowers (cheapest first)."""
    from sqlalchemy import exists, select

    from core.dates import bangkok_date
    from core.db import db, utcnow
    from core.models import User
    from lending.loans import services as workflow
    from lending.loans.models import HOLDING, Loan, LoanItem
    from lending.register.models import AVAILABLE, Asset

    with app.app_context():
        held = exists().where(
            LoanItem.asset_id == Asset.id,
            LoanItem.loan_id == Loan.id,
            Loan.status.in_(HOLDING),
            LoanItem.condition.is_(None),
        )
        stmt = select(Asset.id).where(Asset.lendable.is_(True), Asset.status == AVAILABLE, ~held)
        asset_ids = db.session.scalars(stmt.order_by(Asset.price, Asset.id).limit(n)).all()
        assert len(asset_ids) == n, f"only {len(asset_ids)} free assets"
        users = {u.username: u for u in db.session.scalars(select(User).where(User.username.in_(borrowers)))}
        for u in users.values():
            db.session.expunge(u)
        db.session.rollback()
        start = bangkok_date(utcnow()) + timedelta(days=1)  # handed over from the day before the start
        ids = []
        for i, asset_id in enumerate(asset_ids):
            loan = workflow.request_loan(
                db.session,
                users[borrowers[i % len(borrowers)]],
                [asset_id],
                purpose="ทดสอบความเร็ว",
                place="ห้องประชุม",
                off_premises=False,
                start_on=start,
                due_on=start + timedelta(days=2),
            )
            ids.append(loan.id)
        db.session.remove()
    return ids


def throughput(app, officer: str, loan_ids: list[int], threads: int) -> str:
    """Approve and hand over `loan_ids`, split over `threads` threads, each with its own app context.

    A request at or above the head's threshold (settings) takes the head's approval too, as in the app.
    """
    from sqlalchemy import select

    from core.db import db
    from core.models import User
    from core.web import context
    from lending.loans import services as workflow
    from lending.loans.models import APPROVED

    with app.app_context():
        actor = db.session.scalars(select(User).where(User.username == officer)).one()
        head = db.session.scalars(select(User).where(User.username == "head1")).one()
        db.session.expunge_all()
        db.session.remove()
    two_step = []
    chunks = [loan_ids[i::threads] for i in range(threads)]
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(threads + 1)

    def work(ids: list[int]) -> None:
        with app.app_context():
            context.set_origin("bench", "bench/lending.py")
            barrier.wait()
            mine = []
            for loan_id in ids:
                start = time.perf_counter()
                try:
                    loan = workflow.approve_loan(db.session, actor, loan_id)
                    if loan.status != APPROVED:
                        workflow.approve_loan(db.session, head, loan_id)
                        two_step.append(loan_id)
                    workflow.hand_over(db.session, actor, loan_id, note="ครบ")
                except Exception as e:  # counted and shown: the budget is "no errors"
                    db.session.rollback()
                    with lock:
                        errors.append(f"{type(e).__name__}: {e}")
                mine.append((time.perf_counter() - start) * 1000)
            db.session.remove()
            with lock:
                latencies.extend(mine)

    workers = [threading.Thread(target=work, args=(c,)) for c in chunks]
    for w in workers:
        w.start()
    barrier.wait()
    start = time.perf_counter()
    for w in workers:
        w.join()
    seconds = time.perf_counter() - start
    done = len(loan_ids) - len(errors)
    text = (
        f"{done} loans approved and handed over by {threads} threads in {seconds:.2f} s: "
        f"**{done / seconds:.0f} loans/s**; per loan (approve + hand over) p50 "
        f"{statistics.median(latencies):.0f} ms, p95 {pct(latencies, 95):.0f} ms; {len(two_step)} of "
        f"them needed the head's approval too; errors: {len(errors)}"
    )
    if errors:
        text += f" (first: {errors[0][:200]})"
    return text


def reset_postgres(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


# --- the run ---------------------------------------------------------------------------------------


def build(
    env: dict, label: str, assets_csv: Path, ledger_a: Path, ledger_b: Path, borrowers: list[str], officers: list[str]
) -> tuple[object, list[str]]:
    lines = []
    seconds, peak, out = cli(env, "assets", "import", str(assets_csv))
    lines.append(f"- {label}: asset import ({out}): {seconds:.1f} s")
    app = make_app(env)
    seed_users(app, borrowers, officers)
    runs = (("first file", ledger_a), ("second file", ledger_b), ("first file again (no-op)", ledger_a))
    for name, path in runs:
        seconds, peak, out = cli(env, "loans", "import", str(path))
        lines.append(
            f"- {label}: `loans import` {name} — {out} — **{seconds:.1f} s** "
            f"({CPU[0]:.1f} s of CPU, load average {os.getloadavg()[0]:.1f}), peak {peak:.0f} MB"
        )
    return app, lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--loans", type=int, default=100_000)
    parser.add_argument("--first-rows", type=int, default=100_000)
    parser.add_argument("--assets", type=int, default=5_000)
    parser.add_argument("--borrowers", type=int, default=300)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--per-thread", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--only", choices=("sqlite", "postgresql"), default=None)
    parser.add_argument(
        "--measure-only",
        action="store_true",
        help="reuse the instances a previous run built; measure pages, remind, throughput",
    )
    args = parser.parse_args()
    os.chdir(ROOT)

    today = datetime.now(UTC).astimezone().date()
    assets_csv = write_assets_csv(OUT / f"assets-{args.assets}.csv", args.assets)
    with assets_csv.open(encoding="utf-8-sig") as fh:
        numbers = [row[0] for row in list(csv.reader(fh))[1:]]
    borrowers = [f"staff{i:03d}" for i in range(args.borrowers)]
    officers = ["officer", *[f"officer{i}" for i in range(1, 6)]]
    started = time.perf_counter()
    loans = generate_loans(args.loans, numbers, borrowers, officers, today - timedelta(days=1))
    ledger_a, ledger_b, rows_a, loans_a = write_ledgers(loans, args.first_rows)
    total_rows = sum(len(x) for x in loans)
    print(f"\n### {len(loans):,} loans, {args.assets:,} assets, {args.borrowers} borrowers\n")
    print(
        f"- machine: {os.cpu_count()} cores; load average at the start {os.getloadavg()[0]:.1f} "
        "(other sessions' tests and benchmarks share it)"
    )
    print(
        f"- ledger generated in {time.perf_counter() - started:.1f} s: {total_rows:,} rows; "
        f"first file {rows_a:,} rows ({loans_a:,} loans), second {total_rows - rows_a:,} rows "
        f"({len(loans) - loans_a:,} loans)"
    )

    if args.measure_only:
        base = OUT / "lending"
        env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{base / 'db.sqlite3'}",
            "EVIDENCE_DIR": str(base / "files"),
            "SECRET_KEY": "bench",
            "BASE_URL": "http://127.0.0.1:5000",
        }
    else:
        env = fresh_instance("lending")
    n = args.threads * args.per_thread
    if args.only != "postgresql":
        sqlite(env, args, assets_csv, ledger_a, ledger_b, borrowers, officers, n)
    if args.only != "sqlite":
        postgresql(env, args, assets_csv, ledger_a, ledger_b, borrowers, officers, n)


def sqlite(env, args, assets_csv, ledger_a, ledger_b, borrowers, officers, n) -> None:
    if args.measure_only:
        app = make_app(env)
    else:
        app, lines = build(env, "SQLite", assets_csv, ledger_a, ledger_b, borrowers, officers[1:])
        print("\n".join(lines))
    borrower = busiest_borrower(app)
    print(f"- {queue_size(app, borrower)}")
    for line in pages(app, "officer", borrower, args.repeat):
        print(f"- SQLite, {line}")
    for run in () if args.measure_only else ("first run", "second run, same day"):
        seconds, peak, out = cli(env, "loans", "remind")
        print(
            f"- SQLite, `loans remind` {run} — {out} — **{seconds:.1f} s** ({CPU[0]:.1f} s of CPU), peak {peak:.0f} MB"
        )
    ids = make_requests(app, borrowers, n)
    print(f"- SQLite, approve + hand over: {throughput(app, 'officer', ids, args.threads)}")
    seconds, _peak, out = cli(env, "audit", "verify")
    print(f"- SQLite, `audit verify` afterwards: {out} ({seconds:.1f} s); load average now {os.getloadavg()[0]:.1f}")


def postgresql(env, args, assets_csv, ledger_a, ledger_b, borrowers, officers, n) -> None:
    pg = {**env, "DATABASE_URL": PG_URL, "EVIDENCE_DIR": str(OUT / "lending-pg-files")}
    if args.measure_only:
        app = make_app(pg)
    else:
        reset_postgres(PG_URL)
        subprocess.run([FLASK, "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=pg, check=True, capture_output=True)
        subprocess.run(
            [
                FLASK,
                "--app",
                "wsgi",
                "users",
                "create",
                "officer",
                "--name",
                "นางสมศรี รักพัสดุ",
                "--role",
                "supply_officer",
                "--password-stdin",
            ],
            cwd=ROOT,
            env=pg,
            input=PASSWORD + "\n",
            text=True,
            check=True,
            capture_output=True,
        )
        app, lines = build(pg, "PostgreSQL", assets_csv, ledger_a, ledger_b, borrowers, officers[1:])
        print("\n".join(lines))
    borrower = busiest_borrower(app)
    for line in pages(app, "officer", borrower, args.repeat):
        print(f"- PostgreSQL, {line}")
    if not args.measure_only:
        seconds, peak, out = cli(pg, "loans", "remind")
        print(f"- PostgreSQL, `loans remind` — {out} — **{seconds:.1f} s** ({CPU[0]:.1f} s of CPU), peak {peak:.0f} MB")
    ids = make_requests(app, borrowers, n)
    print(f"- PostgreSQL, approve + hand over: {throughput(app, 'officer', ids, args.threads)}")
    print(f"- load average at the end {os.getloadavg()[0]:.1f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
