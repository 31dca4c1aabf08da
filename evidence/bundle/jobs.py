"""The bundle's long work, run by the job service: the year's evidence bundle, written to the file store."""

from __future__ import annotations

import os

from core import jobs
from core.db import N_, db
from evidence.bundle import archive as bundles
from evidence.report.jobs import require_reader

BUNDLE = "report.bundle"


def run_bundle(ctx: jobs.JobContext) -> None:
    """The year's evidence bundle, written to the file store. Its audit entry comes first, by design: the
    report and the checkpoint inside the bundle name the chain's head, which must cover the bundle itself."""
    require_reader(ctx)
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


jobs.register(BUNDLE, run_bundle, title=N_("The evidence bundle"))
