"""Issue 2's budgets: import, register list and search, gunicorn + wrk, and a 1,000-label PDF.

    .venv/bin/python bench/register.py [--sizes 10000 50000] [--wrk-seconds 20]

Builds a fresh SQLite instance per size by importing a generated CSV through the real CLI (timed, with
peak memory), measures the register list and searches in-process (server-side time per request through
the whole Flask stack), then serves it with gunicorn -w 2 and loads it with wrk -t2 -c2, and reports the
server's total RSS. Prints a Markdown table for bench/RESULTS.md.

wrk runs with bench/wrk_report.lua, which prints p50/p95/p99 from wrk's own latency histogram (wrk's
--latency table has no p95). Before each timed wrk run the same URL is loaded for a few seconds with two
connections, so both workers have served it (templates compiled, statements cached, pages in memory)
and first-request costs are not in the figures. The machine is shared: each measure carries the 1-minute
load average before and after it.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import OUT, PY, ROOT, fresh_instance, pct, summary, timed, write_assets_csv  # noqa: E402

SEARCHES = ["เต็นท์", "โปรเจคเตอร์", "416-5", "SN1234", "ห้องประชุม", "ลำโพงเคลื่อนที่", "๔๒๐-", "canon"]
WRK_SCRIPT = Path(__file__).resolve().parent / "wrk_report.lua"
WARM_SECONDS = 3


def load() -> str:
    return f"{os.getloadavg()[0]:.2f}"


def with_load(measure):
    """The measure's result, with the 1-minute load average before and after it."""
    before = load()
    result = measure()
    return f"{result} [load {before} → {load()}]"


def in_process(env: dict) -> dict[str, str]:
    """Server-side time of register requests through the Flask test client (no network)."""
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "EVIDENCE_DIR", "SECRET_KEY", "BASE_URL")})
    from wsgi import create_app

    app = create_app()
    client = app.test_client()
    app.config["WTF_CSRF_ENABLED"] = False
    r = client.post("/login", data={"username": "officer", "password": "bench-password"})
    assert r.status_code == 302, r.status_code

    def measure(urls: list[str], repeat: int) -> list[float]:
        times = []
        for _ in range(repeat):
            for url in urls:
                start = time.perf_counter()
                resp = client.get(url)
                times.append((time.perf_counter() - start) * 1000)
                assert resp.status_code == 200, (url, resp.status_code)
        return times

    results = {
        "list, page 1": with_load(lambda: summary(measure(["/assets"], 200))),
        "list, deep pages": with_load(lambda: summary(measure([f"/assets?page={p}" for p in (10, 200, 500, 900)], 50))),
        "list, filtered (category + status)": with_load(
            lambda: summary(
                measure(["/assets?category=เต็นท์&status=available", "/assets?department=กองช่าง&lendable=yes"], 100)
            )
        ),
    }
    per_key: dict[str, list[float]] = {q: [] for q in SEARCHES}

    def searches() -> str:
        times = measure([f"/assets?q={q}" for q in SEARCHES], 25)
        for i, t in enumerate(times):
            per_key[SEARCHES[i % len(SEARCHES)]].append(t)
        return summary(times)

    results["search (Thai, number, serial, location)"] = with_load(searches)
    results["search, p50/p95 per key"] = ", ".join(
        f"{q} {statistics.median(ts):.1f}/{pct(ts, 95):.1f} ms" for q, ts in per_key.items()
    )
    from sqlalchemy import select

    from core.db import db
    from lending.register.models import Asset

    with app.app_context():
        first = db.session.execute(select(Asset.id).order_by(Asset.id).limit(1)).scalar_one()
    results["asset page"] = with_load(lambda: summary(measure([f"/assets/{first + i}" for i in range(0, 200, 7)], 10)))
    return results


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    """Total RSS of a process and its children (gunicorn master + workers)."""
    out = subprocess.run(["ps", "-o", "rss=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    own = subprocess.run(["ps", "-o", "rss=", "-p", str(pid)], capture_output=True, text=True).stdout
    return sum(int(x) for x in (out + own).split()) / 1024


def wrk(url: str, cookie: str, seconds: int) -> str:
    """A warm-up run (not counted), then the timed run; p50/p95/p99 from wrk_report.lua."""
    base = ["wrk", "-t2", "-c2", "-H", f"Cookie: {cookie}"]
    subprocess.run([*base, f"-d{WARM_SECONDS}s", url], capture_output=True, text=True, check=True)
    before = load()
    out = subprocess.run(
        [*base, f"-d{seconds}s", "-s", str(WRK_SCRIPT), url], capture_output=True, text=True, check=True
    ).stdout
    fields = dict(re.findall(r"(\w+)=([\d.]+)", re.search(r"^KP_WRK .*$", out, re.M).group(0)))
    errors = {k: int(fields[k]) for k in ("connect", "read", "write", "timeout", "non2xx") if int(fields[k])}

    def ms(key: str) -> str:
        return f"{int(fields[key]) / 1000:.2f} ms"

    return (
        f"{float(fields['rps']):.0f} req/s, p50 {ms('p50_us')}, p95 {ms('p95_us')}, p99 {ms('p99_us')}, "
        f"max {ms('max_us')} ({int(fields['requests']):,} requests)"
        + (f", ERRORS {errors}" if errors else "")
        + f" [load {before} → {load()}]"
    )


def _serve(env: dict, app_spec: str) -> tuple[subprocess.Popen, str]:
    """gunicorn -w 2 serving `app_spec` on a free port, once it accepts connections."""
    port = free_port()
    proc = subprocess.Popen(
        [str(Path(PY).parent / "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}", app_spec],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    return proc, f"http://127.0.0.1:{port}"


def rps(figure: str) -> float:
    return float(figure.split(" req/s", 1)[0])


def beside(figure: str, ceiling: str) -> str:
    """A figure of the app with the bare page's, measured just before it, and the ratio of the two."""
    return f"{figure} — bare page {rps(ceiling):.0f} req/s, **{rps(figure) / rps(ceiling):.0%}** of it"


def under_gunicorn(env: dict, seconds: int) -> dict[str, str]:
    """The app and bench/bare.py, both under gunicorn -w 2, each page loaded by the same wrk command:
    the bare page first, then the app's, so each pair is measured a few seconds apart."""
    proc, base = _serve(env, "wsgi:create_app()")
    bare, bare_base = _serve(env, "bench.bare:create_app()")
    try:
        import http.cookiejar
        import urllib.parse
        import urllib.request

        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        page = opener.open(base + "/login").read().decode()
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        opener.open(
            base + "/login",
            urllib.parse.urlencode({"username": "officer", "password": "bench-password", "csrf_token": token}).encode(),
        )
        cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
        # Signed in, or wrk would time a redirect to the login page (a 302 is no error to wrk).
        assert opener.open(base + "/assets").geturl() == base + "/assets"
        idle = rss_mb(proc.pid)
        out = {
            "register page (50 rows)": beside(
                wrk(base + "/assets", cookie, seconds), wrk(bare_base + "/assets", "", seconds)
            )
        }
        out["register search, Thai (1 asset in 6 matches)"] = wrk(
            base + "/assets?q=" + urllib.parse.quote("ห้องประชุม"), cookie, seconds
        )
        out["asset page"] = beside(
            wrk(base + "/assets/1234", cookie, seconds), wrk(bare_base + "/assets/1234", "", seconds)
        )
        out["server RSS (master + 2 workers)"] = f"{idle:.0f} MB idle, {rss_mb(proc.pid):.0f} MB after load"
        return out
    finally:
        for server in (proc, bare):
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=10)


def labels(env: dict) -> str:
    seconds, peak, out = timed(
        [
            str(Path(PY).parent / "flask"),
            "--app",
            "wsgi",
            "assets",
            "labels",
            "--out",
            str(OUT / "labels-1000.pdf"),
            "--q",
            "เต็นท์",
        ],
        env,
    )
    return f"{out.strip()} — {seconds:.2f} s, peak {peak:.0f} MB"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", nargs="+", type=int, default=[10_000, 50_000])
    parser.add_argument("--wrk-seconds", type=int, default=20)
    args = parser.parse_args()
    for n in args.sizes:
        env = fresh_instance(f"register-{n}")
        csv_path = write_assets_csv(OUT / f"assets-{n}.csv", n)
        before = load()
        seconds, peak, _ = timed(
            [str(Path(PY).parent / "flask"), "--app", "wsgi", "assets", "import", str(csv_path)], env
        )
        print(f"\n### {n:,} assets\n")
        print(
            f"- import of {n:,} rows (CLI, all-or-nothing, with audit entries): {seconds:.1f} s, peak {peak:.0f} MB "
            f"[load {before} → {load()}]"
        )
        if n == 10_000:  # the search "เต็นท์" matches every tenth asset: 1,000 labels
            print(f"- label sheet, 3x8 on A4: {labels(env)}")
        # in-process measures need the app importable with this instance's environment
        proc = subprocess.run(
            [
                PY,
                "-c",
                "import json,sys; sys.path.insert(0, '.'); "
                "from bench.register import in_process; import os; "
                "print(json.dumps(in_process(dict(os.environ))))",
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        import json

        for key, value in json.loads(proc.stdout.strip().splitlines()[-1]).items():
            print(f"- server-side {key}: {value}")
        for key, value in under_gunicorn(env, args.wrk_seconds).items():
            print(f"- gunicorn -w 2, wrk -t2 -c2 -d{args.wrk_seconds}s, {key}: {value}")


if __name__ == "__main__":
    main()
