"""The auditor's pages: the filtered log, one entry with its diff, a record's history, "verify now", exports.

Read-only for the auditor: nothing here changes a record. What the auditor does is itself recorded — each
export (before its first byte leaves) and each verification.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from flask import Response, abort, current_app, render_template, request, send_file, stream_with_context
from flask_babel import gettext as _
from markupsafe import Markup, escape
from sqlalchemy.exc import DBAPIError

from audit import bp, queries, services
from audit import checkpoints as checkpoint_file
from audit.chain import at_text
from audit.forms import VerifyForm
from audit.verify import DATABASE_ERRORS, MESSAGES, database_unreadable
from core.dates import BANGKOK, format_date, format_datetime, format_numeric
from core.db import AuditUnavailable, db
from core.exports import content_disposition, safe_cell
from core.files import XLSX
from core.i18n import lang
from core.permissions import AUDIT_VIEW
from core.web import actor, require


def _cursor(name: str) -> int | None:
    value = request.args.get(name, type=int)
    return value if value is not None and value > 0 else None


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
        return value
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
        changes = [(k, _show(before[k]) if k in before else "", _show(after[k]) if k in after else "")
                   for k in keys]
    rest = [(k, _show(v)) for k, v in value.items()
            if not (k in ("before", "after") and isinstance(v, dict))]
    return changes, rest


@bp.app_template_filter("audit_summary")
def _summary_filter(data: str) -> str:
    return _summary(data)


@bp.app_template_filter("audit_action")
def _action_filter(action: str) -> Markup:
    """An action code that a narrow column may wrap after its dots, never inside a word."""
    return Markup(".<wbr>").join(escape(part) for part in action.split("."))


@bp.app_template_filter("audit_time")
def _time_filter(at: datetime) -> str:
    """An entry's time in Asia/Bangkok to the second, with a B.E. date: seconds matter in a log."""
    local = (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(BANGKOK)
    text = f"{format_date(local.date(), lang())} {local:%H:%M:%S}"
    return text + " น." if lang() == "th" else text


def _page_context(flt: queries.LogFilter) -> dict[str, Any]:
    return {"flt": flt, "actions": queries.distinct_values(db.session, "action"),
            "subject_types": queries.distinct_values(db.session, "subject_type"),
            "actors": queries.actor_names(db.session), "window_size": queries.SEARCH_WINDOW}


@bp.route("/")
@require(AUDIT_VIEW)
def log():
    """The audit log, newest first, with filters; keyset pages that stay fast at millions of entries."""
    flt = queries.LogFilter.from_args(request.args)
    page = queries.list_entries(db.session, flt, before=_cursor("before"), after=_cursor("after"))
    head = queries.head_of(db.session)
    return render_template("audit/log.html", page=page, head=head,
                           checkpoint=queries.latest_checkpoint(db.session), **_page_context(flt))


@bp.route("/record/<subject_type>/<subject_id>")
@require(AUDIT_VIEW)
def record_history(subject_type: str, subject_id: str):
    """Everything that ever happened to one record, newest first."""
    flt = queries.LogFilter.from_args({"type": subject_type, "id": "" if subject_id == "-" else subject_id})
    page = queries.list_entries(db.session, flt, before=_cursor("before"), after=_cursor("after"))
    return render_template("audit/record.html", page=page, flt=flt, subject_type=flt.subject_type,
                           subject_id=flt.subject_id)


@bp.route("/entry/<int:seq>")
@require(AUDIT_VIEW)
def entry(seq: int):
    """One entry: who, when, from where, what changed (before and after), and its place in the chain."""
    item = queries.entry(db.session, seq)
    if item is None:
        abort(404)
    changes, rest = _details(item.data)
    head_seq = queries.head_of(db.session)[0]
    return render_template("audit/entry.html", entry=item, changes=changes, rest=rest, head_seq=head_seq,
                           at_utc=at_text(item.at))


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
    """"Verify now": walk the whole chain against every checkpoint and show the result (it is recorded)."""
    form = VerifyForm()
    result, recorded_as = None, None
    if form.validate_on_submit():
        try:
            key = checkpoint_file.load_signing_key(current_app.config.get("AUDIT_SIGNING_KEY"))
        except (OSError, ValueError):
            current_app.logger.exception("AUDIT_SIGNING_KEY cannot be used")
            key = None
        try:
            result = queries.verify_engine(db.engine, log=checkpoint_file.log_path(current_app.config), key=key)
        except DATABASE_ERRORS as err:  # a dropped audit table is the answer to show, not a crash
            result = database_unreadable(err)
        try:
            recorded_as = services.record_verification(db.session, actor(), result)
        except AuditUnavailable:
            db.session.rollback()  # the answer is still shown; that it was not recorded is logged critically
    try:
        head, checkpoint = queries.head_of(db.session), queries.latest_checkpoint(db.session)
    except DBAPIError:
        db.session.rollback()
        head, checkpoint = None, None
    return render_template("audit/verify.html", form=form, result=result, recorded_as=recorded_as,
                           problem_text=_problem_text(result.problem) if result and result.problem else "",
                           head=head, checkpoint=checkpoint)


# --- exports -------------------------------------------------------------------------------------

def _headers() -> list[str]:
    return [_("Sequence"), _("Time (Bangkok)"), _("Time (UTC)"), _("User"), _("User id"), _("Action"),
            _("Record type"), _("Record id"), _("Details"), _("IP address"), _("Browser"), _("Request id"),
            _("Previous hash"), _("Hash")]


def _bangkok(at: datetime) -> str:
    local = (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(BANGKOK)
    return f"{format_numeric(local.date())} {local:%H:%M:%S}"


def _cells(row: Any) -> list[Any]:
    return [row.seq, _bangkok(row.at), at_text(row.at), row.actor, row.actor_id, row.action, row.subject_type,
            row.subject_id, row.data, row.ip, row.user_agent, row.request_id, row.prev_hash, row.hash]


def _start_export(fmt: str) -> tuple[queries.LogFilter, int]:
    """Read the filter, fix the export's upper bound, and record the export before any of it is sent."""
    flt = queries.LogFilter.from_args(request.args)
    upto = queries.head_of(db.session)[0]
    count = queries.count_for_export(db.session, flt, upto)
    services.record_export(db.session, actor(), fmt=fmt, filter_args=flt.as_args(), count=count, upto=upto)
    return flt, upto


@bp.route("/export.csv")
@require(AUDIT_VIEW)
def export_csv():
    """The filtered log as CSV for Excel (UTF-8 with BOM, formula cells neutralised), streamed; logged."""
    flt, upto = _start_export("csv")
    headers = _headers()

    def generate() -> Iterator[str]:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\r\n")
        writer.writerow(headers)
        yield "\ufeff" + buf.getvalue()
        for n, row in enumerate(queries.iter_export(db.session, flt, upto), 1):
            if n % 500 == 1:
                buf.seek(0)
                buf.truncate()
            writer.writerow([safe_cell(v) for v in _cells(row)])
            if n % 500 == 0:
                yield buf.getvalue()
        if buf.tell():
            yield buf.getvalue()
        db.session.rollback()

    resp = Response(stream_with_context(generate()), mimetype="text/csv; charset=utf-8")
    resp.headers["Content-Disposition"] = content_disposition(f"audit-log-{upto}.csv")
    return resp


def _xlsx_cell(value: Any) -> Any:
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if isinstance(value, str):
        return safe_cell(ILLEGAL_CHARACTERS_RE.sub("", value))
    return value


@bp.route("/export.xlsx")
@require(AUDIT_VIEW)
def export_xlsx():
    """The filtered log as XLSX (openpyxl write-only: rows go to disk, not memory), sent in chunks; logged."""
    from openpyxl import Workbook  # imported when used: a tenth of every start-up otherwise

    flt, upto = _start_export("xlsx")
    book = Workbook(write_only=True)
    sheet = book.create_sheet("audit")
    sheet.append(_headers())
    for row in queries.iter_export(db.session, flt, upto):
        sheet.append([_xlsx_cell(v) for v in _cells(row)])
    db.session.rollback()
    spool = tempfile.TemporaryFile()  # noqa: SIM115 (send_file closes it after sending)
    book.save(spool)
    spool.seek(0)
    return send_file(spool, mimetype=XLSX, as_attachment=True, download_name=f"audit-log-{upto}.xlsx")
