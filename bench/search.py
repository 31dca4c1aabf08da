"""The register search in-process at 50,000 assets: `list_assets` for each search of bench/register.py.

    .venv/bin/python bench/search.py [--size 50000] [--turns 7] [--repeat 20] [--reuse]

Builds a fresh SQLite instance as bench/register.py does (a generated CSV imported through the real CLI),
then times `lending.register.queries.list_assets` for every search in `bench.register.SEARCHES`, on page 1
and page 5, inside one app context: no HTTP, no template, only the queries. Each turn runs every case
`--repeat` times and keeps the median; the figure printed is the median of the turns' medians, with their
spread (min–max). It also prints the SQL statements one search page costs (list_assets alone) and the
total it found, so that two branches can be compared on the same instance (`--reuse`).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import OUT, PY, fresh_instance, timed, write_assets_csv  # noqa: E402
from bench.register import SEARCHES  # noqa: E402

PAGES = (1, 5)


def build(n: int, name: str, reuse: bool) -> dict:
    base = OUT / name
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{base / 'db.sqlite3'}",
        "EVIDENCE_DIR": str(base / "files"),
        "SECRET_KEY": "bench",
        "BASE_URL": "http://127.0.0.1:5000",
    }
    if reuse and (base / "db.sqlite3").exists():
        from bench.common import flask

        flask(env, "db", "upgrade")  # the branch's migrations, if the instance was built by another one
        return env
    env = fresh_instance(name)
    csv_path = write_assets_csv(OUT / f"assets-{n}.csv", n)
    seconds, _, _ = timed([str(Path(PY).parent / "flask"), "--app", "wsgi", "assets", "import", str(csv_path)], env)
    print(f"built {n:,} assets in {seconds:.1f} s", file=sys.stderr)
    return env


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=50000)
    ap.add_argument("--turns", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--reuse", action="store_true", help="use the instance left by a previous run")
    args = ap.parse_args()
    env = build(args.size, f"search-{args.size}", args.reuse)
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "EVIDENCE_DIR", "SECRET_KEY", "BASE_URL")})

    from sqlalchemy import event

    from core.db import db
    from lending.register.queries import AssetFilter, list_assets
    from wsgi import create_app

    app = create_app()
    cases = [(q, p) for q in SEARCHES for p in PAGES]
    with app.app_context():
        session = db.session
        statements: list[str] = []
        engine = session.get_bind().engine
        event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
        facts = {}
        for q, p in cases:
            statements.clear()
            page = list_assets(session, AssetFilter(q=q), page=p)
            facts[(q, p)] = (len(statements), page.total, len(page.rows))
        per_turn: dict[tuple[str, int], list[float]] = {c: [] for c in cases}
        for _ in range(args.turns):
            for c in cases:
                times = []
                for _ in range(args.repeat):
                    start = time.perf_counter()
                    list_assets(session, AssetFilter(q=c[0]), page=c[1])
                    times.append((time.perf_counter() - start) * 1000)
                    session.rollback()  # each request is its own transaction
                per_turn[c].append(statistics.median(times))
    print(f"| search | page | total | rows | statements | ms (median of {args.turns} turns) | spread |")
    print("|---|---|---|---|---|---|---|")
    for c in cases:
        ms = per_turn[c]
        n_stmt, total, rows = facts[c]
        print(
            f"| {c[0]} | {c[1]} | {total} | {rows} | {n_stmt} | {statistics.median(ms):.2f} "
            f"| {min(ms):.2f}–{max(ms):.2f} |"
        )
    all_ms = [statistics.median(per_turn[c]) for c in cases]
    print(f"\nsum of medians over {len(cases)} cases: {sum(all_ms):.1f} ms")


if __name__ == "__main__":
    main()
