"""In-process page times on the demo data, for comparing two commits by turns on a noisy machine.

    .venv/bin/python bench/pages_inprocess.py [--profile [URL]] [--sort tottime]

Run it from the checkout to measure (a `git worktree` of another commit, with this venv): it loads the demo
into a fresh SQLite instance under a temporary folder, signs in as a supply officer of its own, and prints
p50/p95 of 200 GETs (after 20 warm-up ones) and the median CPU time of the process (less moved than the wall
clock by a neighbour taking the host's CPU) of the register, a Thai search, an asset page (the demo's first
asset, which has a loan in its history), the approval queue and the public e-service page. `--profile` adds
a cProfile of 50 GETs of URL (the register if none is given)."""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time

URLS = ("/assets", "/assets?q=เต็นท์", "/assets/1", "/loans/queue", "/e-service")


def signed_in_client(prefix: str):
    """A test client of this checkout's app (the working directory's `wsgi`) on a fresh demo instance in a
    temporary folder, signed in as a supply officer of its own."""
    folder = tempfile.mkdtemp(prefix=prefix)
    os.environ.update(
        DATABASE_URL=f"sqlite:///{folder}/pages.sqlite3",
        EVIDENCE_DIR=f"{folder}/files",
        JOBS_DB=f"{folder}/jobs.sqlite3",
        AUDIT_CHECKPOINT_LOG=f"{folder}/checkpoints.jsonl",
        SECRET_KEY=secrets.token_hex(32),
    )
    env = dict(os.environ, PYTHONPATH=".")
    flask = [sys.executable, "-m", "flask", "--app", "wsgi"]
    password = secrets.token_urlsafe(16)
    subprocess.run([*flask, "db", "upgrade"], env=env, check=True, capture_output=True)
    subprocess.run([*flask, "demo", "load"], env=env, check=True, capture_output=True)
    subprocess.run(
        [*flask, "users", "create", "bench", "--name", "Bench Officer", "--role", "supply_officer", "--password-stdin"],
        env=env,
        check=True,
        capture_output=True,
        input=f"{password}\n".encode(),
    )
    sys.path.insert(0, ".")
    from wsgi import create_app

    app = create_app()
    app.config["WTF_CSRF_ENABLED"] = False
    client = app.test_client()
    assert client.post("/login", data={"username": "bench", "password": password}).status_code == 302
    return client


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--profile", nargs="?", const="/assets", default=None, metavar="URL")
    parser.add_argument("--sort", default="cumulative", help="the profile's order (cumulative, tottime)")
    args = parser.parse_args()
    client = signed_in_client("khruphan-pages-")
    for url in URLS:
        for _ in range(20):
            client.get(url)
        times, cpu = [], []
        for _ in range(200):
            started, started_cpu = time.perf_counter(), time.process_time()
            resp = client.get(url)
            times.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
            assert resp.status_code == 200, (url, resp.status_code)
        times.sort()
        print(
            f"{url}: p50 {statistics.median(times):.2f} ms, p95 {times[189]:.2f} ms, "
            f"CPU p50 {statistics.median(cpu):.2f} ms (n=200)"
        )
    if args.profile:
        import cProfile
        import pstats

        profile = cProfile.Profile()
        profile.enable()
        for _ in range(50):
            client.get(args.profile)
        profile.disable()
        pstats.Stats(profile).sort_stats(args.sort).print_stats(40)


if __name__ == "__main__":
    main()
