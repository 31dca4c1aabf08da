"""The report's long work, run by the job service: the year's report as a document."""

from __future__ import annotations

from core import jobs
from core.db import N_, Forbidden, db
from evidence import report as reports
from evidence.items.permissions import can_view_evidence

REPORT = "report.document"


def require_reader(ctx: jobs.JobContext) -> None:
    if not can_view_evidence(ctx.owner):
        raise Forbidden(N_("You may not do this."))


def run_report(ctx: jobs.JobContext) -> None:
    """Compute the year's figures and render them as the document asked for (pdf, docx, xlsx, csv, json, html)."""
    require_reader(ctx)
    year, fmt = int(ctx.params["year"]), str(ctx.params["format"])
    if fmt not in reports.FORMATS:
        raise jobs.JobFailed(N_("This action is not allowed here."))
    ctx.progress(0, 2, force=True)
    built = reports.build(
        ctx.session, year, engine=db.engine, config=ctx.config, lang=str(ctx.params.get("lang") or ctx.lang)
    )
    ctx.progress(1, force=True)
    data, mime, name = reports.render(built, fmt)
    ctx.progress(2, force=True)
    ctx.finish(data=data, name=name, mime=mime, message=N_("The report is ready."))


jobs.register(REPORT, run_report, title=N_("The ITA report"))
