"""Helpers for tests of pages that start a job: run the job here, then follow to its result."""

from __future__ import annotations

from urllib.parse import urlsplit

from core import jobs


def job_id_of(resp) -> str:
    """The id of the job a response redirected to (its page is /jobs/<id>)."""
    assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
    path = urlsplit(resp.headers["Location"]).path
    assert path.startswith("/jobs/"), path
    return path.removeprefix("/jobs/")


def run_job(app, job_id: str) -> str:
    """Run one queued job to its end in this thread, as the job service would; returns its end state."""
    return jobs.execute(app, job_id)


def follow_job(app, client, resp):
    """Run the job `resp` started, then fetch its result: the file when it made one, else its page."""
    job_id = job_id_of(resp)
    assert run_job(app, job_id) in (jobs.DONE, jobs.FAILED)
    status = client.get(f"/jobs/{job_id}/status").get_json()
    if status["download_url"]:
        resp = client.get(status["download_url"])
        resp.get_data()  # read it whole, then let the file go (the test client leaves it open otherwise)
        resp.close()
        return resp
    return client.get(f"/jobs/{job_id}", follow_redirects=True)
