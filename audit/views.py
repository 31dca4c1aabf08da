"""The auditor's pages: the filtered log, one entry with its diff, a record's history, "verify now", exports.

Read-only for the auditor: nothing here changes a record. What the auditor does is itself recorded — each
export and each verification, by the job that makes it (audit.jobs), when its result exists.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from flask import abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from markupsafe import Markup, escape
from sqlalchemy.exc import DBAPIError

from audit import bp, names, queries
from audit import jobs as audit_jobs
from audit.forms import VerifyForm
from audit.integrity import runner
from audit.integrity.chain import at_text
from audit.integrity.verify import MESSAGES, Problem, Result
from core import jobs
from core.dates import BANGKOK, format_date, format_datetime
from core.db import db, known
from core.i18n import iso_text_as_be, lang
from core.people.permissions import AUDIT_VIEW
from core.web.edge import arg_int
from core.web.forms import EmptyForm
from core.web.routes import actor, require


def _cursor(name: str) -> int | None:
    return arg_int(name)


def _summary(data: str, limit: int = 140) -> str:
    """A short, readable line of an entry's data for the list."""
    try:
        value = json.loads(data)
    except ValueError:
        return data[:limit]
    if isinstance(value, dict) and isinstance(value.get("after"), dict) and value["after"]:
        text = ", ".join(f"{k}: {_show(v)}" for k, v in value["after"].items())
    elif isinstance(value, dict):
        text = ", ".join(f"{k}: {_show(v)}" for k, v in value.items())
    else:
        text = data
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _show(value: Any) -> str:
    if value is None or value == "":
        return "–"
    if isinstance(value, str):
        return iso_text_as_be(value) or value  # a date reads in B.E. here; the export keeps the ISO text
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def _details(data: str) -> tuple[list[tuple[str, str, str]], list[tuple[str, str]]]:
    """An entry's data as (field, before, after) rows for its changes and (key, value) rows for the rest."""
    try:
        value = json.loads(data)
    except ValueError:
        return [], [("data", data)]
    if not isinstance(value, dict):
        return [], [("data", _show(value))]
    before = value.get("before") if isinstance(value.get("before"), dict) else None
    after = value.get("after") if isinstance(value.get("after"), dict) else None
    changes = []
    if before is not None or after is not None:
        before, after = before or {}, after or {}
        keys = list(after) + [k for k in before if k not in after]
        changes = [(k, _show(before[k]) if k in before else "", _show(after[k]) if k in after else "") for k in keys]
    rest = [(k, _show(v)) for k, v in value.items() if not (k in ("before", "after") and isinstance(v, dict))]
    return changes, rest


@bp.app_template_filter("audit_summary")
def _summary_filter(data: str) -> str:
    return _summary(data)


@bp.app_template_filter("audit_action")
def _action_filter(action: str) -> Markup:
    """An action code that a narrow column may wrap after its dots, never inside a word."""
    return Markup(".<wbr>").join(escape(part) for part in action.split("."))


@bp.app_template_filter("audit_action_name")
def _action_name_filter(action: str) -> str:
    """The action's name in the page's language (audit/names.py); the code stays beside it."""
    return names.action_name(action)


@bp.app_template_filter("audit_subject_name")
def _subject_name_filter(subject_type: str) -> str:
    return names.subject_name(subject_type)


@bp.app_template_global("audit_record_link")
def _record_link(entry: Any) -> str | None:
    """The page of the entry's record, when it has one the viewer can open."""
    if not entry.subject_type:
        return None
    data: dict[str, Any] = {}
    if entry.subject_type in ("loan_item", "demand", "stocktake_entry"):  # their page is their parent's
        try:
            value = json.loads(entry.data)
        except ValueError:
            value = None
        data = value if isinstance(value, dict) else {}
    return names.link(entry.subject_type, entry.subject_id, data)


@bp.app_template_filter("audit_time")
def _time_filter(at: datetime) -> str:
    """An entry's time in Asia/Bangkok to the second, with a B.E. date: seconds matter in a log."""
    local = (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(BANGKOK)
    text = f"{format_date(local.date(), lang())} {local:%H:%M:%S}"
    return text + " น." if lang() == "th" else text


def _page_context(flt: queries.LogFilter) -> dict[str, Any]:
    return {
        "flt": flt,
        "actions": queries.distinct_values(db.session, "action"),
        "subject_types": queries.distinct_values(db.session, "subject_type"),
        "action_name": names.action_name,
        "subject_name": names.subject_name,
        "actors": queries.actor_names(db.session),
        "window_size": queries.SEARCH_WINDOW,
    }


@bp.route("/")
@require(AUDIT_VIEW)
def log():
    """The audit log, newest first, with filters; keyset pages that stay fast at millions of entries."""
    flt = queries.LogFilter.from_args(request.args)
    page = queries.list_entries(db.session, flt, before=_cursor("before"), after=_cursor("after"))
    head = runner.head_of(db.session)
    return render_template(
        "audit/log.html", page=page, head=head, checkpoint=queries.latest_checkpoint(db.session), **_page_context(flt)
    )


@bp.route("/record/<subject_type>/<subject_id>")
@require(AUDIT_VIEW)
def record_history(subject_type: str, subject_id: str):
    """Everything that ever happened to one record, newest first."""
    flt = queries.LogFilter.from_args({"type": subject_type, "id": "" if subject_id == "-" else subject_id})
    page = queries.list_entries(db.session, flt, before=_cursor("before"), after=_cursor("after"))
    return render_template(
        "audit/record.html",
        page=page,
        flt=flt,
        subject_type=flt.subject_type,
        subject_id=flt.subject_id,
        record_url=names.link(flt.subject_type, flt.subject_id),
    )


@bp.route("/entry/<int:seq>")
@require(AUDIT_VIEW)
def entry(seq: int):
    """One entry: who, when, from where, what changed (before and after), and its place in the chain."""
    item = queries.entry(db.session, seq)
    if item is None:
        abort(404)
    changes, rest = _details(item.data)
    head_seq = runner.head_of(db.session)[0]
    return render_template(
        "audit/entry.html", entry=item, changes=changes, rest=rest, head_seq=head_seq, at_utc=at_text(item.at)
    )


def _problem_text(problem) -> str:
    params = dict(problem.params)
    if "at" in params:
        try:
            at = datetime.fromisoformat(params["at"].replace("Z", "+00:00"))
            params["at"] = format_datetime(at, lang())
        except ValueError:
            pass
    return _(MESSAGES[problem.code], **params)


@bp.route("/verify", methods=["GET", "POST"])
@require(AUDIT_VIEW)
def verify():
    """ "Verify now": a job walks the whole chain against every checkpoint; this page shows its result."""
    form = VerifyForm()
    if form.validate_on_submit():
        job = jobs.start(db.session, audit_jobs.VERIFY, actor(), {}, lang=lang())
        return redirect(url_for("core.job", job_id=job.id))
    result, recorded_as = None, None
    job = jobs.job_for(db.session, request.args.get("job", ""), actor()) if request.args.get("job") else None
    if job is not None and job.kind == audit_jobs.VERIFY and job.status == jobs.DONE and job.outcome:
        result, recorded_as = _result_of(job.outcome), job.outcome.get("recorded_as")
    try:
        head, checkpoint = runner.head_of(db.session), queries.latest_checkpoint(db.session)
    except DBAPIError:  # a dropped audit table: the page still opens and the job's answer names it
        db.session.rollback()
        head, checkpoint = None, None
    return render_template(
        "audit/verify.html",
        form=form,
        result=result,
        recorded_as=recorded_as,
        problem_text=_problem_text(result.problem) if result and result.problem else "",
        head=head,
        checkpoint=checkpoint,
    )


def _result_of(outcome: dict[str, Any]) -> Result:
    problem = outcome.get("problem")
    return Result(
        ok=bool(outcome.get("ok")),
        count=int(outcome.get("count") or 0),
        head_seq=int(outcome.get("head_seq") or 0),
        head_hash=str(outcome.get("head_hash") or ""),
        checkpoints=int(outcome.get("checkpoints") or 0),
        warnings=list(outcome.get("warnings") or []),
        problem=Problem(int(problem["seq"]), str(problem["code"]), dict(problem.get("params") or {}))
        if problem
        else None,
    )


# --- exports -------------------------------------------------------------------------------------


def _export(fmt: str):
    """GET: what will be exported, with the button; POST: the export job, fixed at today's head."""
    flt = queries.LogFilter.from_args(request.args)
    label = "CSV" if fmt == "csv" else "XLSX"
    if request.method == "GET":
        lines = [_("The audit log, filtered as on the log page, as %(format)s.", format=label)]
        return render_template(
            "core/job_start.html",
            title=_("Export the audit log"),
            lines=lines,
            action=url_for(known(request.endpoint, "endpoint"), **dict[str, Any](flt.as_args())),
            button=_("Export %(format)s", format=label),
        )
    if not EmptyForm().validate_on_submit():
        abort(400)
    upto = runner.head_of(db.session)[0]
    job = jobs.start(
        db.session, audit_jobs.EXPORT, actor(), {"format": fmt, "filter": flt.as_args(), "upto": upto}, lang=lang()
    )
    return redirect(url_for("core.job", job_id=job.id))


@bp.route("/export.csv", methods=["GET", "POST"])
@require(AUDIT_VIEW)
def export_csv():
    """The filtered log as CSV for Excel (UTF-8 with BOM, formula cells neutralised), made by a job; logged."""
    return _export("csv")


@bp.route("/export.xlsx", methods=["GET", "POST"])
@require(AUDIT_VIEW)
def export_xlsx():
    """The filtered log as XLSX (openpyxl write-only), made by a job; logged when the file exists."""
    return _export("xlsx")
