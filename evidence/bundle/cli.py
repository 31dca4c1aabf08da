"""`flask --app wsgi evidence bundle --year Y --out FILE.zip`: a command of the `evidence` group."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app

from core.db import db
from core.web import context
from evidence.bundle import archive as bundles
from evidence.items.cli import evidence
from evidence.report.cli import checked_year


@evidence.command("bundle")
@click.option("--year", "year", required=True, type=int, help="The fiscal year in B.E., e.g. 2566.")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The ZIP file to write.",
)
@click.option("--lang", "lang", type=click.Choice(("th", "en")), default="th", show_default=True)
def bundle_command(year: int, out: Path, lang: str):
    """The year's evidence bundle: the report (PDF, DOCX, XLSX, JSON), every evidence file in a folder per
    indicator, manifest.csv/.json with SHA-256, and an audit checkpoint; written as a stream."""
    context.set_origin("cli", "flask evidence bundle")
    bundle = bundles.prepare(
        db.session,
        checked_year(year),
        engine=db.engine,
        config=current_app.config,
        actor=None,
        action="evidence.bundle_created",
        lang=lang,
        audit_data={"out": str(out)[:300]},
    )
    db.session.remove()
    size = bundles.write_bundle(bundle, out)
    for problem in bundle.problems:
        click.echo(f"warning: {problem}", err=True)
    click.echo(
        f"{out}: {size:,} bytes; {len(bundle.files)} evidence items; report and manifests; "
        f"checkpoint at audit entry {bundle.checkpoint['seq']}"
    )
