"""The register's long work, run by the job service: applying an asset import and drawing label sheets.

The pages start these (lending.register.views) and return at once; the CLI calls importing and labels directly.
"""

from __future__ import annotations

from flask import url_for

from core import jobs
from core.db import N_, Forbidden
from core.files import PDF
from core.people.services import get_settings
from core.web.routes import external_url
from lending.register import importing, queries, services
from lending.register.labels import sheet as labels
from lending.register.permissions import can_import_assets, can_print_labels

CHECK = "assets.import_check"
IMPORT = "assets.import"
LABELS = "assets.labels"
MAX_LABELS = 5000
MAX_LISTED_ERRORS = 1000
SHOWN_CREATES, SHOWN_UPDATES = 200, 500  # what the preview lists (it counts them all)


def _plain(value):
    """A value of a planned row as JSON keeps it (dates and money as text)."""
    return value if value is None or isinstance(value, (str, int, float, bool)) else str(value)


def plan_outcome(plan: importing.Plan, filename: str) -> dict:
    """What the preview page shows of a plan: every count, the first rows of each list."""
    return {
        "filename": filename,
        "sha256": plan.sha256,
        "rows": plan.rows,
        "unchanged": plan.unchanged,
        "creates": [{k: _plain(v) for k, v in c.items()} for c in plan.creates[:SHOWN_CREATES]],
        "creates_count": len(plan.creates),
        "updates": [
            [i, n, {k: _plain(v) for k, v in b.items()}, {k: _plain(v) for k, v in a.items()}]
            for i, n, b, a in plan.updates[:SHOWN_UPDATES]
        ],
        "updates_count": len(plan.updates),
        "errors": [
            {"row": e.row, "column": e.column_name, "value": e.value, "reason": e.reason, "params": dict(e.params)}
            for e in plan.errors[:MAX_LISTED_ERRORS]
        ],
        "errors_count": len(plan.errors),
        "columns": list(plan.columns),
        "new_groups": sorted(plan.new_groups),
    }


def run_check(ctx: jobs.JobContext) -> None:
    """Check a large uploaded list against the register (changes nothing); its page is the preview."""
    if ctx.owner is None or not can_import_assets(ctx.owner):
        raise Forbidden(N_("You may not do this."))
    sha256, filename = str(ctx.params["sha256"]), str(ctx.params.get("filename", ""))[:255]
    try:
        data = ctx.store.read(sha256)
    except (FileNotFoundError, ValueError):
        raise jobs.JobFailed(N_("The uploaded file is no longer available; upload it again.")) from None
    lines = 0 if data.startswith(b"PK") else max(1, data.count(b"\n") - 1)
    ctx.progress(0, lines or None, force=True)
    try:
        plan = importing.plan_import(ctx.session, data, filename, progress=lambda n: ctx.progress(add=n))
    except importing.ImportFileError as err:
        raise jobs.JobFailed(err.message, **err.params) from None
    ctx.session.rollback()
    ctx.finish(outcome=plan_outcome(plan, filename), message=N_("%(rows)d rows read."), rows=plan.rows)


def run_import(ctx: jobs.JobContext) -> None:
    """Apply a previewed import in one transaction; the job is done when (and only when) it commits."""
    sha256, filename = str(ctx.params["sha256"]), str(ctx.params.get("filename", ""))[:255]
    try:
        data = ctx.store.read(sha256)
    except (FileNotFoundError, ValueError):
        raise jobs.JobFailed(N_("The uploaded file is no longer available; upload it again.")) from None
    lines = 0 if data.startswith(b"PK") else max(1, data.count(b"\n"))
    ctx.progress(0, 2 * lines if lines else None, force=True)  # every row is checked, then written
    checked = [0]

    def check(n: int) -> None:
        checked[0] += n
        ctx.progress(add=n)

    def wrote(n: int) -> None:
        if ctx.total is None or ctx.total < 2 * checked[0]:
            ctx.progress(total=2 * checked[0])
        ctx.progress(add=n)

    def seal(session, plan: importing.Plan) -> None:
        ctx.finish(
            outcome={
                "rows": plan.rows,
                "created": len(plan.creates),
                "updated": len(plan.updates),
                "unchanged": plan.unchanged,
                "sha256": plan.sha256,
            },
            message=N_("Imported: %(created)d added, %(updated)d changed, %(unchanged)d unchanged."),
            created=len(plan.creates),
            updated=len(plan.updates),
            unchanged=plan.unchanged,
        )(session)

    plan = importing.apply_import(
        ctx.session, ctx.owner, data, filename, progress=wrote, before_commit=seal, check_progress=check
    )
    if not plan.ok:
        errors = [
            {"row": e.row, "column": e.column_name, "value": e.value, "reason": e.reason, "params": dict(e.params)}
            for e in plan.errors[:MAX_LISTED_ERRORS]
        ]
        raise jobs.JobFailed(
            N_("%(count)d problems were found. Nothing was imported: correct the file and upload it again."),
            outcome={"errors": errors, "more_errors": max(0, len(plan.errors) - MAX_LISTED_ERRORS)},
            count=len(plan.errors),
        )
    if not plan.changes:
        ctx.finish(
            outcome={"rows": plan.rows, "created": 0, "updated": 0, "unchanged": plan.unchanged},
            message=N_("The register already matches this file; there is nothing to import."),
        )


def run_labels(ctx: jobs.JobContext) -> None:
    """Draw the label sheet; `assets.labels_printed` is recorded when the PDF exists, with the job done."""
    if ctx.owner is None or not can_print_labels(ctx.owner):
        raise Forbidden(N_("You may not do this."))
    session, params = ctx.session, ctx.params
    ids = [int(i) for i in params.get("ids") or []]
    flt = queries.AssetFilter.from_args(params.get("filter") or {})
    flt = flt if ids else flt.for_labels()  # a filter's sheet leaves disposed assets out; a selection is as chosen
    items = [
        labels.LabelItem(
            url=external_url(url_for("lending.tag", tag=a.tag)), asset_number=a.asset_number, name=a.name, tag=a.tag
        )
        for a in queries.iter_assets(session, flt, ids or None)
    ]
    agency = get_settings(session)["agency_name"]
    session.rollback()
    if not items:
        raise jobs.JobFailed(N_("No assets match; nothing to print."))
    if len(items) > MAX_LABELS:
        raise jobs.JobFailed(N_("At most 5,000 labels at once; narrow the filter."))
    ctx.progress(0, len(items), force=True)
    layout = str(params.get("layout") or "3x8")
    try:
        pdf = labels.render_label_sheet(
            items, layout, agency, start_at=int(params.get("start_at") or 0), progress=lambda n: ctx.progress(add=n)
        )
    except ValueError:  # a layout or start position the form would not have let through
        raise jobs.JobFailed(N_("The form was incomplete; nothing was printed.")) from None
    seal = ctx.finish(
        data=pdf,
        name="labels.pdf",
        mime=PDF,
        message=N_("%(count)s labels are ready to print."),
        count=f"{len(items):,}",
    )
    services.record_output(
        session,
        ctx.owner,
        "assets.labels_printed",
        {"count": len(items), "layout": layout, "filter": flt.as_args(), "ids": ids[:200]},
        before_commit=seal,
    )


jobs.register(
    CHECK, run_check, title=N_("Import assets"), result_endpoint="lending.asset_import_preview", show_result=True
)
jobs.register(IMPORT, run_import, title=N_("Importing the asset list"), result_endpoint="lending.assets")
jobs.register(LABELS, run_labels, title=N_("QR label sheet"))
