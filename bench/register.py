"""Issue 2's budgets: import, register list and search, gunicorn + wrk, and a 1,000-label PDF.

    .venv/bin/python bench/register.py [--sizes 10000 50000] [--wrk-seconds 20]

Builds a fresh SQLite instance per size by importing a generated CSV through the real CLI (timed, with
peak memory), measures the register list and searches in-process (server-side time per request through
the whole Flask stack), then serves it with gunicorn -w 2 and loads it with wrk -t2 -c2, and reports the
server's total RSS. Prints a Markdown table for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import OUT, PY, ROOT, fresh_instance, summary, timed, write_assets_csv  # noqa: E402

SEARCHES = ["เต็นท์", "โปรเจคเตอร์", "416-5", "SN1234", "ห้องประชุม", "ลำโพงเคลื่อนที่", "๔๒๐-", "canon"]


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
        "list, page 1": summary(measure(["/assets"], 200)),
        "list, deep pages": summary(measure([f"/assets?page={p}" for p in (10, 200, 500, 900)], 50)),
        "list, filtered (category + status)": summary(measure(
            ["/assets?category=เต็นท์&status=available", "/assets?department=กองช่าง&lendable=yes"], 100)),
        "search (Thai, number, serial, location)": summary(measure([f"/assets?q={q}" for q in SEARCHES], 25)),
    }
    from sqlalchemy import select

    from core.db import db
    from lending.models import Asset
    with app.app_context():
        first = db.session.execute(select(Asset.id).order_by(Asset.id).limit(1)).scalar_one()
    results["asset page"] = summary(measure([f"/assets/{first + i}" for i in range(0, 200, 7)], 10))
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
    out = subprocess.run(["wrk", "-t2", "-c2", f"-d{seconds}s", "--latency", "-H", f"Cookie: {cookie}", url],
                         capture_output=True, text=True, check=True).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)
    lat = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", out, re.M))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return f"{float(rps):.0f} req/s, p50 {lat.get('50')}, p90 {lat.get('90')}, p99 {lat.get('99')}" + \
        (f", NON-2xx {non2xx.group(1)}" if non2xx else "")


def under_gunicorn(env: dict, seconds: int) -> dict[str, str]:
    port = free_port()
    proc = subprocess.Popen([str(Path(PY).parent / "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}",
                             "wsgi:create_app()"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        import http.cookiejar
        import urllib.parse
        import urllib.request

        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        page = opener.open(base + "/login").read().decode()
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        opener.open(base + "/login", urllib.parse.urlencode(
            {"username": "officer", "password": "bench-password", "csrf_token": token}).encode())
        cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
        idle = rss_mb(proc.pid)
        out = {"register page (50 rows)": wrk(base + "/assets", cookie, seconds)}
        out["asset page"] = wrk(base + "/assets/1234", cookie, seconds)
        out["server RSS (master + 2 workers)"] = f"{idle:.0f} MB idle, {rss_mb(proc.pid):.0f} MB after load"
        return out
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def labels(env: dict) -> str:
    seconds, peak, out = timed([str(Path(PY).parent / "flask"), "--app", "wsgi", "assets", "labels",
                                "--out", str(OUT / "labels-1000.pdf"), "--q", "เต็นท์"], env)
    return f"{out.strip()} — {seconds:.2f} s, peak {peak:.0f} MB"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", nargs="+", type=int, default=[10_000, 50_000])
    parser.add_argument("--wrk-seconds", type=int, default=20)
    args = parser.parse_args()
    for n in args.sizes:
        env = fresh_instance(f"register-{n}")
        csv_path = write_assets_csv(OUT / f"assets-{n}.csv", n)
        seconds, peak, _ = timed([str(Path(PY).parent / "flask"), "--app", "wsgi", "assets", "import",
                                  str(csv_path)], env)
        print(f"\n### {n:,} assets\n")
        print(f"- import of {n:,} rows (CLI, all-or-nothing, with audit entries): {seconds:.1f} s, peak {peak:.0f} MB")
        if n == 10_000:  # the search "เต็นท์" matches every tenth asset: 1,000 labels
            print(f"- label sheet, 3x8 on A4: {labels(env)}")
        # in-process measures need the app importable with this instance's environment
        proc = subprocess.run([PY, "-c", "import json,sys; sys.path.insert(0, '.'); "
                               "from bench.register import in_process; import os; "
                               "print(json.dumps(in_process(dict(os.environ))))"],
                              cwd=ROOT, env=env, capture_output=True, text=True, check=True)
        import json
        for key, value in json.loads(proc.stdout.strip().splitlines()[-1]).items():
            print(f"- server-side {key}: {value}")
        for key, value in under_gunicorn(env, args.wrk_seconds).items():
            print(f"- gunicorn -w 2, wrk -t2 -c2 -d{args.wrk_seconds}s, {key}: {value}")


if __name__ == "__main__":
    main()
