"""Background jobs: the lifecycle (queued → running → done, with progress), failure with a reason and
nothing applied, retry, who may see a job, the audit entry written only when the result exists, and a real
huey consumer running jobs from the SQLite queue and from a real redis-server."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import threading

import pytest
from sqlalchemy import func, select

from audit.models import AuditEntry
from core import jobs
from core.db import N_, db
from core.models import Job
from lending.register import importing
from lending.register.models import Asset
from tests.conftest import login, sign_in, unique
from tests.jobs import follow_job, job_id_of, run_job

HEADER = "asset_number,name,category,price\r\n"


def csv_file(prefix: str, n: int = 3) -> bytes:
    return (HEADER + "".join(f"{prefix}-{i:03d},เก้าอี้พลาสติก,เก้าอี้,350.00\r\n" for i in range(n))).encode()


def job_row(app, job_id: str) -> Job:
    with app.app_context():
        row = db.session.get(Job, job_id)
        db.session.expunge(row)
        db.session.remove()
    return row


def count(app, model, *where) -> int:
    with app.app_context():
        n = db.session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()
        db.session.remove()
    return n


def entries(app, action: str, needle: str = "") -> list[AuditEntry]:
    with app.app_context():
        rows = (
            db.session.execute(
                select(AuditEntry)
                .where(AuditEntry.action == action, AuditEntry.data.contains(needle))
                .order_by(AuditEntry.seq)
            )
            .scalars()
            .all()
        )
        for row in rows:
            db.session.expunge(row)
        db.session.remove()
    return rows


def keep_in_store(app, data: bytes) -> str:
    """A file put in the store the way the preview keeps an upload (the preview itself is not needed)."""
    from core.files import FileStore

    return FileStore(app.config["EVIDENCE_DIR"]).write(data)


def start_import(client, sha: str, filename: str = "list.csv"):
    return client.post("/assets/import/apply", data={"sha256": sha, "filename": filename})


# --- the lifecycle -------------------------------------------------------------------------------


def test_an_import_job_is_queued_then_done_with_its_rows_counted(app, client, officer):
    sign_in(client, officer)
    p = unique("710-69-")
    data = csv_file(p, 3)
    started = start_import(client, keep_in_store(app, data))
    job_id = job_id_of(started)

    queued = job_row(app, job_id)
    assert (queued.status, queued.kind, queued.owner_id) == ("queued", "assets.import", officer.id)
    assert len(job_id) >= 22  # a random token, not a number to count up
    assert count(app, Asset, Asset.asset_number.startswith(p)) == 0
    page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert "Waiting for the job service" in page and 'http-equiv="refresh"' in page and "jobs.js" in page

    assert run_job(app, job_id) == jobs.DONE

    done = job_row(app, job_id)
    assert done.status == "done" and done.attempts == 1 and done.started_at and done.finished_at
    assert done.done == done.total and done.total > 0
    assert done.outcome["created"] == 3
    assert count(app, Asset, Asset.asset_number.startswith(p)) == 3
    status = client.get(f"/jobs/{job_id}/status").get_json()
    assert status["status"] == "done" and status["percent"] == 100
    assert status["message"] == "Imported: 3 added, 0 changed, 0 unchanged."
    assert run_job(app, job_id) == jobs.SKIPPED  # a second message for the same job changes nothing
    assert count(app, Asset, Asset.asset_number.startswith(p)) == 3


PROBES: dict = {}


def _progress_kind(ctx: jobs.JobContext) -> None:
    """A job that reports 3 of 10 done, then asks (through PROBES) what its page sees at that moment."""
    ctx.progress(3, 10, force=True)
    PROBES[ctx.id]()
    ctx.finish(message=N_("Done."))


jobs.register("test.progress", _progress_kind, title=N_("Done."))


def test_the_status_shows_running_with_progress_while_the_job_works(app, client, officer):
    sign_in(client, officer)
    seen: dict = {}
    with app.test_request_context():
        job_id = jobs.start(db.session, "test.progress", officer, {}, lang="en").id
        db.session.remove()
    PROBES[job_id] = lambda: seen.update(client.get(f"/jobs/{job_id}/status").get_json())
    assert client.get(f"/jobs/{job_id}/status").get_json()["status"] == "queued"

    assert run_job(app, job_id) == jobs.DONE

    assert (seen["status"], seen["done"], seen["total"], seen["percent"]) == ("running", 3, 10, 30)
    assert seen["progress_text"] == "3 of 10"
    assert client.get(f"/jobs/{job_id}/status").get_json()["status"] == "done"


def test_a_job_page_shows_times_in_the_buddhist_era(app, client, officer):
    with client.session_transaction() as cookie:
        cookie["lang"] = "th"
    assert login(client, officer.username).status_code == 302
    started = start_import(client, keep_in_store(app, csv_file(unique("711-69-"), 1)))
    job_id = job_id_of(started)
    run_job(app, job_id)
    html = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    year_be = str(job_row(app, job_id).created_at.year + 543)
    assert year_be in html and "นำเข้า" in html  # "Imported: …" in Thai, and a B.E. year


# --- failure and retry ---------------------------------------------------------------------------


def test_a_file_with_bad_rows_fails_the_job_with_each_row_named_and_imports_nothing(app, client, officer):
    sign_in(client, officer)
    p = unique("712-69-")
    data = (HEADER + f"{p}-001,โต๊ะ,โต๊ะ,แพง\r\n{p}-002,โต๊ะ,โต๊ะ,100\r\n").encode()
    job_id = job_id_of(start_import(client, keep_in_store(app, data)))

    assert run_job(app, job_id) == jobs.FAILED

    failed = job_row(app, job_id)
    assert failed.status == "failed" and failed.attempts == 1  # a domain error is not retried
    assert failed.outcome["errors"][0]["row"] == 2 and failed.outcome["errors"][0]["column"] == "price"
    html = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert "1 problems were found. Nothing was imported" in html and "not a number" in html
    assert count(app, Asset, Asset.asset_number.startswith(p)) == 0
    assert not entries(app, "assets.imported", hashlib.sha256(data).hexdigest())


def test_a_job_that_breaks_is_retried_then_failed_and_applies_nothing(app, client, officer, monkeypatch):
    sign_in(client, officer)
    p = unique("713-69-")
    data = csv_file(p, 4)

    def broken(*_a, **_k):
        raise RuntimeError("the disk went away")

    monkeypatch.setattr(importing, "record", broken)  # after the rows are inserted, before the commit
    job_id = job_id_of(start_import(client, keep_in_store(app, data)))

    assert run_job(app, job_id) == jobs.RETRY
    again = job_row(app, job_id)
    assert (again.status, again.attempts) == ("queued", 1)
    assert run_job(app, job_id) == jobs.FAILED

    failed = job_row(app, job_id)
    assert failed.status == "failed" and failed.attempts == 2 and failed.finished_at
    assert failed.error_params == {"error": "RuntimeError"}
    status = client.get(f"/jobs/{job_id}/status").get_json()
    assert status["error"] == "The job stopped with an unexpected error (RuntimeError); nothing was applied."
    assert count(app, Asset, Asset.asset_number.startswith(p)) == 0  # one transaction: nothing half-applied
    assert not entries(app, "asset.created", p)


def test_a_retried_job_succeeds_on_its_second_attempt(app, client, officer, monkeypatch):
    sign_in(client, officer)
    p = unique("714-69-")
    real, calls = importing.record, []

    def once_broken(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("the database connection dropped")
        return real(*args, **kwargs)

    monkeypatch.setattr(importing, "record", once_broken)
    job_id = job_id_of(start_import(client, keep_in_store(app, csv_file(p, 2))))
    assert run_job(app, job_id) == jobs.RETRY
    assert count(app, Asset, Asset.asset_number.startswith(p)) == 0
    assert run_job(app, job_id) == jobs.DONE
    assert count(app, Asset, Asset.asset_number.startswith(p)) == 2
    assert job_row(app, job_id).attempts == 2


def test_a_job_left_running_by_a_dead_service_is_queued_again_at_start(app, client, officer):
    sign_in(client, officer)
    job_id = job_id_of(start_import(client, keep_in_store(app, csv_file(unique("715-69-"), 1))))
    with app.app_context():
        db.session.get(Job, job_id).status = "running"  # as a killed worker leaves it
        db.session.commit()
        db.session.remove()
    jobs.recover(app)
    assert job_row(app, job_id).status == "queued"
    assert run_job(app, job_id) == jobs.DONE
    jobs.queue_of(app).huey.flush()  # the messages recover() sent again are not for later tests


# --- who may see a job ---------------------------------------------------------------------------


def test_another_person_s_job_does_not_exist_for_them(app, client, officer, make_user):
    sign_in(client, officer)
    job_id = job_id_of(
        client.post("/assets/labels", data={"layout": "3x8", "start_at": "0", "ids": str(_asset_id(app))})
    )
    run_job(app, job_id)
    with client.get(f"/jobs/{job_id}/download") as mine:
        assert mine.status_code == 200 and mine.data.startswith(b"%PDF-")

    other = app.test_client()
    sign_in(other, make_user(roles=["supply_officer"]))
    for path in (f"/jobs/{job_id}", f"/jobs/{job_id}/status", f"/jobs/{job_id}/download"):
        assert other.get(path).status_code == 404, path
    admin = app.test_client()
    sign_in(admin, make_user(roles=["admin"]))
    assert admin.get(f"/jobs/{job_id}/download").status_code == 404
    anonymous = app.test_client()
    resp = anonymous.get(f"/jobs/{job_id}")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


def _asset_id(app) -> int:
    with app.app_context():
        asset_id = db.session.execute(select(Asset.id).limit(1)).scalar_one()
        db.session.remove()
    return asset_id


# --- the audit entry comes with the result -------------------------------------------------------


def test_an_export_is_recorded_only_when_its_file_exists(app, client, make_user):
    auditor = make_user(roles=["auditor"])
    sign_in(client, auditor)
    token = unique("หาไม่พบ")
    job_id = job_id_of(client.post("/audit/export.xlsx", query_string={"q": token}))
    assert not entries(app, "audit.exported", token)  # asked for, not made: nothing recorded yet
    assert client.get(f"/jobs/{job_id}/download").status_code == 404

    run_job(app, job_id)

    (entry,) = entries(app, "audit.exported", token)
    assert entry.actor == auditor.username and entry.request_id and entry.user_agent
    done = job_row(app, job_id)
    assert done.result_sha256 and done.result_name.startswith("audit-log-")
    with client.get(f"/jobs/{job_id}/download") as resp:
        assert resp.status_code == 200 and resp.data.startswith(b"PK")


def test_a_label_sheet_that_cannot_be_made_records_nothing(app, client, officer):
    sign_in(client, officer)
    before = len(entries(app, "assets.labels_printed"))
    asset_id = _asset_id(app)
    job_id = job_id_of(client.post("/assets/labels", data={"layout": "3x8", "start_at": "0", "ids": str(asset_id)}))
    with app.app_context():  # the asset is filtered out between the click and the job
        job = db.session.get(Job, job_id)
        job.params = {**job.params, "ids": [10**9]}
        db.session.commit()
        db.session.remove()
    assert run_job(app, job_id) == jobs.FAILED
    assert job_row(app, job_id).error == "No assets match; nothing to print."
    assert len(entries(app, "assets.labels_printed")) == before


def test_the_cli_still_imports_without_a_queue(app, tmp_path):
    p = unique("716-69-")
    path = tmp_path / "list.csv"
    path.write_bytes(csv_file(p, 2))
    result = app.test_cli_runner().invoke(args=["assets", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert count(app, Asset, Asset.asset_number.startswith(p)) == 2


# --- a real consumer -----------------------------------------------------------------------------


def _run_through_consumer(app, queue: jobs.Queue, client) -> str:
    """Start an export from the page, let a real huey consumer (threads) run it, return the job id."""
    from huey.signals import SIGNAL_COMPLETE, SIGNAL_ERROR

    finished = threading.Event()
    ended: list[str] = []

    @queue.huey.signal(SIGNAL_COMPLETE, SIGNAL_ERROR)
    def _ended(signal, task, *_args, **_kwargs):
        ended.append(signal)
        finished.set()

    consumer = jobs.start_consumer_thread(app, workers=1, queue=queue)
    try:
        job_id = job_id_of(client.post("/audit/export.csv", query_string={"action": "asset.created"}))
        assert finished.wait(120), "the consumer did not run the job"
    finally:
        consumer.stop(graceful=True)
        queue.huey.disconnect_signal(_ended)
    assert ended == [SIGNAL_COMPLETE]
    return job_id


def test_a_real_consumer_runs_a_job_from_the_sqlite_queue(app, client, make_user):
    sign_in(client, make_user(roles=["auditor"]))
    queue = jobs.queue_of(app)
    assert type(queue.huey).__name__ == "SqliteHuey"
    queue.huey.flush()  # messages of earlier tests, whose jobs they ran themselves
    job_id = _run_through_consumer(app, queue, client)
    assert job_row(app, job_id).status == "done"
    resp = follow_job_result(client, job_id)
    assert resp.data.startswith("\ufeff".encode())


def follow_job_result(client, job_id: str):
    resp = client.get(f"/jobs/{job_id}/download")
    resp.get_data()
    resp.close()
    assert resp.status_code == 200
    return resp


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def redis_url(tmp_path):
    """TEST_REDIS_URL (CI starts redis-server), else a redis-server of our own; skipped where there is none."""
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        yield url
        return
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is missing (.ci/run installs and starts it)")
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    import redis

    port = _free_port()
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        client = redis.Redis(
            port=port,
            socket_connect_timeout=1,
            retry=redis.retry.Retry(redis.backoff.ExponentialBackoff(cap=0.5), 40),
            retry_on_error=[redis.exceptions.ConnectionError],
        )
        assert client.ping()
        client.close()
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(30)


def test_a_real_consumer_runs_a_job_from_redis(app, client, make_user, redis_url):
    from huey import RedisHuey

    sign_in(client, make_user(roles=["auditor"]))
    saved = app.extensions[jobs.EXTENSION]
    queue = jobs.Queue(app, RedisHuey(unique("kp-test"), url=redis_url, results=False))
    app.extensions[jobs.EXTENSION] = queue
    try:
        job_id = _run_through_consumer(app, queue, client)
        status = client.get(f"/jobs/{job_id}/status").get_json()
        assert status["status"] == "done" and status["download_url"]
        assert follow_job_result(client, job_id).data.startswith("\ufeff".encode())
        queue.huey.flush()
    finally:
        app.extensions[jobs.EXTENSION] = saved
        queue.huey.storage.pool.disconnect()


def test_follow_job_helper_gives_the_file(app, client, make_user):
    """The helper the page tests use: it runs the job here and returns its file."""
    sign_in(client, make_user(roles=["auditor"]))
    resp = follow_job(app, client, client.post("/audit/export.csv", query_string={"action": "no.such"}))
    assert resp.status_code == 200 and resp.mimetype == "text/csv"


def test_a_long_list_is_checked_by_a_job_whose_page_is_the_preview(app, client, officer, monkeypatch):
    """A long upload (over half a megabyte; 64 KiB here) is checked by a job; its page is the preview."""
    import io

    from lending.register import views

    monkeypatch.setattr(views, "CHECK_IN_REQUEST_BYTES", 64 * 1024)  # the test client spools bigger bodies
    sign_in(client, officer)
    p = unique("717-69-")
    name = "เก้าอี้พลาสติกสีน้ำเงินสำหรับงานประชุมประจำเดือนของหมู่บ้าน"
    rows = "".join(f"{p}-{i:05d},{name},เก้าอี้,350.00\r\n" for i in range(400))
    data = (HEADER + rows + f"{p}-bad,{name},เก้าอี้,แพง\r\n").encode()
    assert len(data) > 64 * 1024
    started = client.post(
        "/assets/import", data={"file": (io.BytesIO(data), "ยาว.csv")}, content_type="multipart/form-data"
    )
    job_id = job_id_of(started)
    assert run_job(app, job_id) == jobs.DONE
    preview = client.get(f"/jobs/{job_id}", follow_redirects=True)
    html = preview.get_data(as_text=True)
    assert preview.request.path == "/assets/import/preview"
    assert "401 rows read." in html and "1 problems were found. Nothing was imported" in html
    assert "/assets/import/apply" not in html
    assert count(app, Asset, Asset.asset_number.startswith(p)) == 0

    good = (HEADER + rows).encode()
    job_id = job_id_of(
        client.post("/assets/import", data={"file": (io.BytesIO(good), "ยาว.csv")}, content_type="multipart/form-data")
    )
    run_job(app, job_id)
    html = client.get(f"/jobs/{job_id}", follow_redirects=True).get_data(as_text=True)
    assert "New assets: 400" in html and "… and 200 more." in html and "/assets/import/apply" in html
    applied = follow_job(app, client, start_import(client, hashlib.sha256(good).hexdigest(), "ยาว.csv"))
    assert "Imported: 400 added, 0 changed, 0 unchanged." in applied.get_data(as_text=True)
    assert count(app, Asset, Asset.asset_number.startswith(p)) == 400
    other = app.test_client()
    sign_in(other, officer)
    assert client.get("/assets/import/preview?job=nothing").status_code == 404
