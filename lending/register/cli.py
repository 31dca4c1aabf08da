"""`flask --app wsgi assets ...`."""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from core.db import DomainError, db
from core.people.services import get_settings
from core.web import context
from lending.register import importing, queries
from lending.register.labels import sheet as labels

assets = AppGroup("assets", help="The asset register: import and label sheets.")


@assets.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check the file and show what would change; change nothing.")
def import_command(file: Path, dry_run: bool):
    """Import a CSV or XLSX list of assets (English or Thai headers), all or nothing."""
    context.set_origin("cli", "flask assets import")
    data = file.read_bytes()
    try:
        with click.progressbar(length=max(1, data.count(b"\n")), label="checking", file=None) as bar:
            if dry_run:
                plan = importing.plan_import(db.session, data, file.name, progress=bar.update)
            else:
                plan = importing.apply_import(db.session, None, data, file.name, progress=bar.update)
    except DomainError as err:
        raise click.ClickException(str(err)) from None
    if not plan.ok:
        for e in plan.errors[:500]:
            click.echo(
                f"row {e.row}, column {e.column_label}: {e.message()}" + (f" ({e.value!r})" if e.value else ""),
                err=True,
            )
        if len(plan.errors) > 500:
            click.echo(f"... and {len(plan.errors) - 500} more", err=True)
        bad_rows = len({e.row for e in plan.errors})  # a row can have several problems
        raise click.ClickException(f"{bad_rows} bad rows; nothing was imported")
    for name in sorted(plan.new_groups):
        click.echo(f"{'would set up' if dry_run else 'set up'} the lending group {name}")
    for _id, number, before, after in plan.updates[:200]:
        changes = ", ".join(f"{k}: {before[k]!r} -> {after[k]!r}" for k in after)
        click.echo(f"change {number}: {changes}")
    verb = "would add" if dry_run else "added"
    click.echo(
        f"{plan.rows} rows: {verb} {len(plan.creates)}, "
        f"{'would change' if dry_run else 'changed'} {len(plan.updates)}, unchanged {plan.unchanged}"
    )


@assets.command("labels")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--layout", type=click.Choice(sorted(labels.LAYOUTS)), default="3x8")
@click.option("--q", default="", help="Search text, as on the register page.")
@click.option("--category", default="")
@click.option("--status", default="")
@click.option("--department", default="")
@click.option("--lendable", type=click.Choice(["", "yes", "no"]), default="")
@click.option("--number", "numbers", multiple=True, help="Only these asset numbers (repeatable).")
def labels_command(
    out: Path, layout: str, q: str, category: str, status: str, department: str, lendable: str, numbers: tuple[str, ...]
):
    """Write a PDF of QR labels for A4 sticker sheets."""
    from lending.register.models import normalise_asset_number
    from lending.register.views import tag_url

    flt = queries.AssetFilter.from_args(
        {"q": q, "category": category, "status": status, "department": department, "lendable": lendable}
    )
    wanted = {normalise_asset_number(n) for n in numbers}
    with current_app.test_request_context(base_url=current_app.config["BASE_URL"]):
        items = [
            labels.LabelItem(url=tag_url(a.tag), asset_number=a.asset_number, name=a.name, tag=a.tag)
            for a in queries.iter_assets(db.session, flt)
            if not wanted or a.asset_number in wanted
        ]
    if not items:
        raise click.ClickException("no assets match")
    pdf = labels.render_label_sheet(items, layout, get_settings(db.session)["agency_name"])
    out.write_bytes(pdf)
    click.echo(f"{len(items)} labels -> {out}")


def init_app(app: Flask) -> None:
    app.cli.add_command(assets)
