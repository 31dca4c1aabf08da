"""Long work as jobs, through gunicorn with its default settings (-w 2, 30 s worker timeout) and the job
service beside it: a 200,000-row asset import, a 5,000-label sheet and a 500,000-entry XLSX export of the
audit log. Measures how long the request that starts each takes (it must return in under a second), how
long the job takes to finish, and the progress the job's status endpoint showed on the way.

    .venv/bin/python bench/jobs.py [--rows 200000] [--labels 5000] [--entries 500000]

A fresh SQLite instance under bench/out/jobs; the queue is huey's SQLite storage (the default).
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import OUT, PY, ROOT, write_assets_csv  # noqa: E402

PASSWORD = "bench-password"  # noqa: S105 (a throwaway instance's account)
BIN = Path(PY).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load() -> str:
    return os.getloadavg()[0].__format__(".2f")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Browser:
    """A signed-in session over HTTP; POSTs are not followed, so a job's start is timed alone."""

    def __init__(self, base: str, username: str):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect)
        page = self.get("/login")
        token = self.token(page)
        self.post("/login", {"username": username, "password": PASSWORD, "csrf_token": token})
        self.csrf = self.token(self.get("/assets"))

    @staticmethod
    def token(html: str) -> str:
        match = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', html)
        return match.group(1)

    def get(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=120) as resp:
            return resp.read().decode()

    def post(self, path: str, fields: dict, files: dict | None = None) -> tuple[int, str, float]:
        """(status, Location, seconds)."""
        if files:
            boundary = uuid.uuid4().hex
            parts = []
            for k, v in fields.items():
                parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode())
            for k, (name, data) in files.items():
                parts.append(
                    f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"; filename="{name}"\r\n'
                    f"Content-Type: text/csv\r\n\r\n".encode()
                    + data
                    + b"\r\n"
                )
            body = b"".join(parts) + f"--{boundary}--\r\n".encode()
            headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        else:
            body = urllib.parse.urlencode(fields, doseq=True).encode()
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
        request = urllib.request.Request(self.base + path, data=body, headers=headers, method="POST")  # noqa: S310
        start = time.perf_counter()
        try:
            with self.opener.open(request, timeout=120) as resp:
                status, location = resp.status, resp.headers.get("Location", "")
                resp.read()
        except urllib.error.HTTPError as err:
            status, location = err.code, err.headers.get("Location", "")
        return status, location, time.perf_counter() - start


def wait_for(browser: Browser, job_path: str) -> tuple[float, dict, list[tuple[float, int, int | None]]]:
    """Poll the job's status every half second until it ends; (seconds, last status, progress samples)."""
    start = time.perf_counter()
    samples: list[tuple[float, int, int | None]] = []
    while True:
        status = json.loads(browser.get(job_path + "/status"))
        elapsed = time.perf_counter() - start
        if status["status"] == "running":
            samples.append((elapsed, status["done"], status["total"]))
        if status["status"] in ("done", "failed"):
            return elapsed, status, samples
        time.sleep(0.5)


def progress_line(samples: list[tuple[float, int, int | None]]) -> str:
    distinct = sorted({(d, t) for _, d, t in samples}, key=lambda p: (p[0], p[1] or 0))
    if not distinct:
        return "no running state seen"
    shown = [f"{d:,}/{t:,}" if t else f"{d:,}" for d, t in distinct[:: max(1, len(distinct) // 5)]]
    return f"{len(distinct)} distinct progress values seen, e.g. {', '.join(shown)}"


def fill_audit_log(env: dict, entries: int) -> None:
    """More entries in the log, written in chunks as the app writes them (bench/audit.py's generator)."""
    code = (
        "import sys; sys.path.insert(0, '.'); from pathlib import Path; import bench.audit as a; "
        f"a.build({entries}, Path({str(env['KP_BASE'])!r}), False)"
    )
    subprocess.run([PY, "-c", code], cwd=ROOT, env=env, check=True, stderr=subprocess.DEVNULL)


def export(auditor: Browser, say) -> None:
    """The whole audit log as XLSX."""
    status, location, took = auditor.post("/audit/export.xlsx", {"csrf_token": auditor.csrf})
    assert status == 302 and "/jobs/" in location, (status, location)
    job_took, final, samples = wait_for(auditor, urllib.parse.urlsplit(location).path)
    assert final["status"] == "done", final
    say(
        f"- XLSX export of the whole audit log: request {took * 1000:.0f} ms (HTTP {status}); "
        f"the job {job_took:.1f} s ({final['message']}), {progress_line(samples)} [load {load()}]"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--labels", type=int, default=5000)
    parser.add_argument("--entries", type=int, default=500_000)
    parser.add_argument(
        "--only-export",
        action="store_true",
        help="reuse bench/out/jobs as a run left it and measure only the XLSX export",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="reuse bench/out/jobs as a run left it: skip the import, measure labels and export",
    )
    args = parser.parse_args()

    base = OUT / "jobs"
    if not (args.only_export or args.reuse):
        subprocess.run(["rm", "-rf", str(base)], check=True)
        base.mkdir(parents=True)
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{base / 'db.sqlite3'}",
        "EVIDENCE_DIR": str(base / "files"),
        "AUDIT_CHECKPOINT_LOG": str(base / "audit-checkpoints.jsonl"),
        "JOBS_DB": str(base / "jobs.sqlite3"),
        "SECRET_KEY": "bench",
        "BASE_URL": f"http://127.0.0.1:{port}",
        "MAX_UPLOAD_MB": "100",
        "KP_BASE": str(base),
    }
    env.pop("REDIS_URL", None)
    lines: list[str] = []

    def say(line: str) -> None:  # each figure as soon as it is measured (a long run may be cut short)
        lines.append(line)
        print(line, flush=True)

    # the log before the import: the import adds one entry per row, the rest is made here
    before = max(1000, args.entries - args.rows - 10)
    if not (args.only_export or args.reuse):
        started = time.perf_counter()
        fill_audit_log(env, before)
        print(f"(audit log filled to {before:,} entries in {time.perf_counter() - started:.0f} s)", file=sys.stderr)
        data = write_assets_csv(base / "assets.csv", args.rows).read_bytes()

    server = subprocess.Popen(
        [str(BIN / "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}", "wsgi:create_app()"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    worker = subprocess.Popen(
        [str(BIN / "flask"), "--app", "wsgi", "jobs", "worker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(base / "worker.log").open("w"),
    )
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        officer = Browser(f"http://127.0.0.1:{port}", "officer")
        auditor = Browser(f"http://127.0.0.1:{port}", "auditor")

        if args.only_export:
            export(auditor, say)
            return
        if not args.reuse:
            import_rows(officer, data, args, say)
        labels(officer, base, args, say)
        export(auditor, say)
    finally:
        worker.send_signal(2)
        server.terminate()
        worker.wait(120)
        server.wait(60)


def import_rows(officer: Browser, data: bytes, args, say) -> None:
    """The import: the upload (checked by a job, its page the preview), then applying it."""
    status, location, took = officer.post(
        "/assets/import", {"csrf_token": officer.csrf}, {"file": ("assets.csv", data)}
    )
    assert status == 302 and "/jobs/" in location, (status, location)
    path = urllib.parse.urlsplit(location).path
    job_took, final, samples = wait_for(officer, path)
    assert final["status"] == "done", final
    say(
        f"- upload of {args.rows:,} rows ({len(data) / 1e6:.1f} MB): request {took * 1000:.0f} ms "
        f"(HTTP {status}); the check job {job_took:.1f} s, {progress_line(samples)} [load {load()}]"
    )
    preview = officer.get(path.replace("/jobs/", "/assets/import/preview?job="))
    sha = re.search(r'name="sha256" type="hidden" value="([0-9a-f]{64})"', preview).group(1)
    status, location, took = officer.post(
        "/assets/import/apply", {"csrf_token": officer.csrf, "sha256": sha, "filename": "assets.csv"}
    )
    assert status == 302 and "/jobs/" in location, (status, location)
    job_took, final, samples = wait_for(officer, urllib.parse.urlsplit(location).path)
    assert final["status"] == "done", final
    say(
        f"- applying the {args.rows:,}-row import: request {took * 1000:.0f} ms (HTTP {status}); "
        f"the job {job_took:.1f} s ({final['message']}), {progress_line(samples)} [load {load()}]"
    )


def labels(officer: Browser, base: Path, args, say) -> None:
    """The label sheet of the first N assets of the register, sent as the register's selection is."""
    import sqlite3

    with sqlite3.connect(base / "db.sqlite3") as conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM assets ORDER BY id DESC LIMIT ?", (args.labels,))]
    status, location, took = officer.post(
        "/assets/labels", {"csrf_token": officer.csrf, "layout": "3x8", "start_at": "0", "ids": ",".join(map(str, ids))}
    )
    assert status == 302 and "/jobs/" in location, (status, location)
    job_took, final, samples = wait_for(officer, urllib.parse.urlsplit(location).path)
    assert final["status"] == "done", final
    say(
        f"- label sheet of {args.labels:,} assets (3x8): request {took * 1000:.0f} ms "
        f"(HTTP {status}); the job {job_took:.1f} s ({final['message']}), {progress_line(samples)} "
        f"[load {load()}]"
    )


if __name__ == "__main__":
    main()
