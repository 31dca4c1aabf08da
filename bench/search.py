"""The register search in-process at 50,000 assets: `list_assets` for each search of bench/register.py.

    .venv/bin/python bench/search.py [--size 50000] [--turns 7] [--repeat 20] [--reuse]

Builds a fresh SQLite instance as bench/register.py does (a generated CSV imported through the real CLI),
then times `lending.register.queries.list_assets` for every search in `bench.register.SEARCHES`, on page 1
and page 5, inside one app context: no HTTP, no template, only the queries. Each turn runs every case
`--repeat` times and keeps the median; the figure printed is the median of the turns' medians, with their
spread (min–max). Each case twice: 'new', a search the process has not kept (its kept pages emptied before
each call), and 'again', one it has (the same page asked before). It also prints the SQL statements one
search page costs (list_assets alone, both ways) and the total it found. To compare with another branch,
copy this file into a worktree of it and run it there too (each tree builds its instance in its own
bench/out; `--reuse` keeps it between runs).
"""

from __future__ import annotations

import argparse
import os
import re
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
    from lending.register import queries
    from lending.register.queries import AssetFilter, list_assets
    from wsgi import create_app

    app = create_app()
    cases = [(q, p) for q in SEARCHES for p in PAGES]

    def forget() -> None:
        """Empty the process's kept pages (a branch without them has nothing to empty)."""
        pages = getattr(queries, "_pages", None)
        if pages is not None:
            pages.clear()

    with app.app_context():
        session = db.session
        statements: list[str] = []
        engine = session.get_bind().engine
        noise = re.compile(r"^\s*(BEGIN|SAVEPOINT|RELEASE|ROLLBACK|COMMIT|PRAGMA)\b", re.I)  # as test_request_cost
        event.listen(engine, "before_cursor_execute", lambda *a: None if noise.match(a[2]) else statements.append(a[2]))
        facts = {}
        list_assets(session, AssetFilter(q="warm-up"))  # the index's existence, looked up once per process
        for q, p in cases:
            forget()
            statements.clear()
            page = list_assets(session, AssetFilter(q=q), page=p)
            cold = len(statements)
            statements.clear()
            list_assets(session, AssetFilter(q=q), page=p)
            facts[(q, p)] = (cold, len(statements), page.total, len(page.rows))
            session.rollback()
        runs: dict[str, dict[tuple[str, int], list[float]]] = {"new": {}, "again": {}}
        for kind in runs:
            runs[kind] = {c: [] for c in cases}
        for _ in range(args.turns):
            for kind, per_turn in runs.items():
                for c in cases:
                    times = []
                    for _ in range(args.repeat):
                        if kind == "new":
                            forget()
                        start = time.perf_counter()
                        list_assets(session, AssetFilter(q=c[0]), page=c[1])
                        times.append((time.perf_counter() - start) * 1000)
                        session.rollback()  # each request is its own transaction
                    per_turn[c].append(statistics.median(times))
    print(
        f"list_assets at {args.size:,} assets, ms: median of {args.turns} turns (each the median of {args.repeat} "
        "calls), spread min–max of the turns; 'new' = the search not seen before by the process, 'again' = seen"
    )
    print("| search | page | total | rows | statements new/again | ms new | spread | ms again | spread |")
    print("|---|---|---|---|---|---|---|---|---|")
    for c in cases:
        cold, warm, total, rows = facts[c]
        new, again = runs["new"][c], runs["again"][c]
        print(
            f"| {c[0]} | {c[1]} | {total} | {rows} | {cold}/{warm} | {statistics.median(new):.2f} "
            f"| {min(new):.2f}–{max(new):.2f} | {statistics.median(again):.2f} | {min(again):.2f}–{max(again):.2f} |"
        )
    for kind, per_turn in runs.items():
        print(f"sum of medians, {kind}: {sum(statistics.median(v) for v in per_turn.values()):.1f} ms")


if __name__ == "__main__":
    main()
