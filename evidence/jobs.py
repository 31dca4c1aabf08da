"""The report's long work, run by the job service: the year's report as a document, the evidence bundle."""

from __future__ import annotations

import os

from core import jobs
from core.db import N_, Forbidden, db
from core.people.permissions import EVIDENCE_VIEW
from evidence import bundle as bundles
from evidence import report as reports

REPORT = "report.document"
BUNDLE = "report.bundle"


def _require_reader(ctx: jobs.JobContext) -> None:
    if ctx.owner is None or not ctx.owner.can(EVIDENCE_VIEW):
        raise Forbidden(N_("You may not do this."))


def run_report(ctx: jobs.JobContext) -> None:
    """Compute the year's figures and render them as the document asked for (pdf, docx, xlsx, csv, json, html)."""
    _require_reader(ctx)
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


def run_bundle(ctx: jobs.JobContext) -> None:
    """The year's evidence bundle, written to the file store. Its audit entry comes first, by design: the
    report and the checkpoint inside the bundle name the chain's head, which must cover the bundle itself."""
    _require_reader(ctx)
    year = int(ctx.params["year"])
    bundle = bundles.prepare(
        ctx.session,
        year,
        engine=db.engine,
        config=ctx.config,
        actor=ctx.owner,
        action="evidence.bundle_downloaded",
        lang=str(ctx.params.get("lang") or ctx.lang),
    )
    ctx.session.rollback()
    total = sum(len(d) for d in bundle.documents.values()) + sum(
        f.size * max(1, len(f.indicators)) for f in bundle.files
    )
    ctx.progress(0, max(1, total), force=True)
    path = ctx.temp_path(".zip")
    with path.open("wb") as fh:
        for chunk in bundles.iter_bundle(bundle):
            fh.write(chunk)
            ctx.progress(add=len(chunk))
        fh.flush()
        os.fsync(fh.fileno())
    ctx.progress(total, force=True)
    ctx.finish(path=path, name=bundle.filename, mime="application/zip", message=N_("The evidence bundle is ready."))


jobs.register(REPORT, run_report, title=N_("The ITA report"))
jobs.register(BUNDLE, run_bundle, title=N_("The evidence bundle"))
