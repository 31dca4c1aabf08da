"""The auditor's long work, run by the job service: exports of the log (CSV, XLSX) and "verify now".

Each export is recorded (`audit.exported`) in the transaction that marks its job done, so the entry
exists exactly when the file does; a verification is recorded (`audit.verified`) with its result.
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask_babel import gettext as _

from audit import queries, services
from audit.integrity import runner
from audit.integrity.chain import at_text
from audit.integrity.verify import DATABASE_ERRORS, database_unreadable
from audit.permissions import can_read_log
from core import jobs
from core.dates import BANGKOK, format_numeric
from core.db import N_, AuditUnavailable, Forbidden, db, write
from core.documents.exports import safe_cell
from core.files import XLSX

log = logging.getLogger(__name__)

EXPORT = "audit.export"
VERIFY = "audit.verify"
FORMATS = ("csv", "xlsx")
MIME = {"csv": "text/csv; charset=utf-8", "xlsx": XLSX}


def export_headers() -> list[str]:
    return [
        _("Sequence"),
        _("Time (Bangkok)"),
        _("Time (UTC)"),
        _("User"),
        _("User id"),
        _("Action"),
        _("Record type"),
        _("Record id"),
        _("Details"),
        _("IP address"),
        _("Browser"),
        _("Request id"),
        _("Previous hash"),
        _("Hash"),
    ]


def _bangkok(at: datetime) -> str:
    local = (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(BANGKOK)
    return f"{format_numeric(local.date())} {local:%H:%M:%S}"


def export_cells(row: Any) -> list[Any]:
    return [
        row.seq,
        _bangkok(row.at),
        at_text(row.at),
        row.actor,
        row.actor_id,
        row.action,
        row.subject_type,
        row.subject_id,
        row.data,
        row.ip,
        row.user_agent,
        row.request_id,
        row.prev_hash,
        row.hash,
    ]


def _xlsx_cell(value: Any) -> Any:
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if isinstance(value, str):
        return safe_cell(ILLEGAL_CHARACTERS_RE.sub("", value))
    return value


def _require_auditor(ctx: jobs.JobContext) -> None:
    if not can_read_log(ctx.owner):
        raise Forbidden(N_("You may not do this."))


def run_export(ctx: jobs.JobContext) -> None:
    """Write the filtered log up to the entry fixed when it was asked for, as CSV for Excel or XLSX."""
    _require_auditor(ctx)
    fmt = ctx.params.get("format")
    if fmt not in FORMATS:
        raise jobs.JobFailed(N_("This action is not allowed here."))
    session = ctx.session
    flt = queries.LogFilter.from_args(ctx.params.get("filter") or {})
    upto = int(ctx.params["upto"])
    count = queries.count_for_export(session, flt, upto)
    ctx.progress(0, count, force=True)
    path = ctx.temp_path("." + fmt)
    step: Callable[[], None] = lambda: ctx.progress(add=1)  # noqa: E731
    if fmt == "csv":
        with path.open("w", encoding="utf-8-sig", newline="") as fh:  # the BOM Excel needs
            writer = csv.writer(fh, lineterminator="\r\n")
            writer.writerow(export_headers())
            for row in queries.iter_export(session, flt, upto):
                writer.writerow([safe_cell(v) for v in export_cells(row)])
                step()
    else:
        from openpyxl import Workbook  # imported when used: a tenth of every start-up otherwise

        book = Workbook(write_only=True)  # rows go to a temporary file, not memory
        sheet = book.create_sheet("audit")
        sheet.append(export_headers())
        for row in queries.iter_export(session, flt, upto):
            sheet.append([_xlsx_cell(v) for v in export_cells(row)])
            step()
        book.save(path)
    session.rollback()
    seal = ctx.finish(
        path=path,
        name=f"audit-log-{upto}.{fmt}",
        mime=MIME[fmt],
        message=N_("%(count)s entries exported."),
        count=f"{count:,}",
    )
    services.record_export(
        session, ctx.owner, fmt=fmt, filter_args=flt.as_args(), count=count, upto=upto, before_commit=seal
    )


def result_outcome(result: Any) -> dict[str, Any]:
    problem = result.problem
    return {
        "ok": bool(result.ok),
        "count": result.count,
        "head_seq": result.head_seq,
        "head_hash": result.head_hash,
        "checkpoints": result.checkpoints,
        "warnings": [str(w) for w in result.warnings],
        "problem": (
            {"seq": problem.seq, "code": problem.code, "params": json.loads(json.dumps(problem.params, default=str))}
            if problem
            else None
        ),
    }


def run_verify(ctx: jobs.JobContext) -> None:
    """Walk the whole chain against every checkpoint; the result and its `audit.verified` entry together."""
    _require_auditor(ctx)
    ctx.progress(0, None, force=True)
    try:
        result = runner.verify_configured(db.engine, ctx.config)  # exactly what `audit verify` answers
    except DATABASE_ERRORS as err:  # a dropped or unreadable audit table is the answer, not a crash
        ctx.session.rollback()
        result = database_unreadable(err)
    if result.problem is not None and result.problem.code == "key_unusable":
        log.error("audit verify: %s", result.problem.message)
    outcome = result_outcome(result)
    seal = ctx.finish(outcome=outcome, message=N_("The chain is intact.") if result.ok else N_("The chain is broken."))

    def seal_with_entry(session) -> None:
        outcome["recorded_as"] = runner.head_of(session)[0]  # the entry just written holds the head's lock
        seal(session)

    try:
        services.record_verification(ctx.session, ctx.owner, result, before_commit=seal_with_entry)
    except AuditUnavailable:  # the log cannot take the entry: the answer is still shown (logged critically)
        outcome["recorded_as"] = None
        with write(ctx.session):
            seal(ctx.session)
            ctx.session.commit()


jobs.register(EXPORT, run_export, title=N_("Exporting the audit log"))
jobs.register(VERIFY, run_verify, title=N_("Verify the audit chain"), result_endpoint="audit.verify", show_result=True)
