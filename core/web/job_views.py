"""A job's page (progress bar, then its result), its status as JSON for the page's script, its result file.

Only the person who started a job sees it; to anyone else it does not exist (404).
"""

from __future__ import annotations

from flask import Response, abort, redirect, render_template, send_file, url_for
from flask_babel import gettext as _

from core import bp, jobs
from core.db import db
from core.documents.exports import content_disposition, content_type
from core.i18n import message as domain_message
from core.models import Job, StoredFile
from core.web.routes import actor, file_store, require


def _own_job(job_id: str) -> Job:
    job = jobs.job_for(db.session, job_id, actor())
    if job is None:
        abort(404)
    return job


def _translated(msgid: str, params: dict | None) -> str:
    return domain_message(msgid, params)


def _progress_text(done: int, total: int | None) -> str:
    if total:
        return _("%(done)s of %(total)s", done=f"{done:,}", total=f"{total:,}")
    return _("%(done)s so far", done=f"{done:,}") if done else _("Starting…")


def _status(job: Job) -> dict:
    done, total = jobs.progress_of(job)
    kind = jobs.kind_of(job.kind)
    result_url = ""
    if job.status == jobs.DONE and kind is not None and kind.result_endpoint:
        result_url = url_for(kind.result_endpoint, job=job.id)
    return {
        "id": job.id,
        "status": job.status,
        "done": done,
        "total": total,
        "percent": jobs.percent(done, total),
        "progress_text": _progress_text(done, total),
        "message": _translated(job.message, job.message_params),
        "error": _translated(job.error, job.error_params),
        "download_url": url_for("core.job_download", job_id=job.id) if job.result_sha256 else "",
        "result_url": result_url,
    }


@bp.route("/jobs/<job_id>")
@require()
def job(job_id: str):
    """A job's page: its progress while it waits or runs (refreshing itself), then its result."""
    item = _own_job(job_id)
    kind = jobs.kind_of(item.kind)
    status = _status(item)
    if kind is not None and kind.show_result and status["result_url"]:
        return redirect(status["result_url"])
    return render_template("core/job.html", job=item, status=status, title=_(kind.title) if kind else item.kind)


@bp.route("/jobs/<job_id>/status")
@require()
def job_status(job_id: str):
    """The job's state and progress as JSON, for the script on its page."""
    resp = Response(_json(_status(_own_job(job_id))), mimetype="application/json")
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _json(value: dict) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


@bp.route("/jobs/<job_id>/download")
@require()
def job_download(job_id: str):
    """The job's result file, from the file store."""
    item = _own_job(job_id)
    if item.status != jobs.DONE or not item.result_sha256:
        abort(404)
    stored = db.session.get(StoredFile, item.result_sha256)
    try:
        fh = file_store().open(item.result_sha256)
    except (FileNotFoundError, ValueError):
        abort(404)
    resp = send_file(fh, mimetype=stored.mime if stored else "application/octet-stream")
    if stored is not None:
        resp.headers["Content-Type"] = content_type(stored.mime)  # one charset, not send_file's second
    resp.headers["Content-Disposition"] = content_disposition(item.result_name or "result")
    resp.headers["Cache-Control"] = "private, no-store"
    if stored is not None and stored.mime.startswith("text/html"):
        resp.headers["Content-Security-Policy"] = (
            "default-src 'none'; style-src 'unsafe-inline'; font-src data:; img-src data:; sandbox"
        )
    return resp
