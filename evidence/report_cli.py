"""`flask --app wsgi report ita --year Y --format json|html|pdf|docx|xlsx|csv --out FILE` and
`flask --app wsgi evidence bundle --year Y --out FILE.zip` (a command of the `evidence` group)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from core.db import db
from core.web import context
from evidence import bundle as bundles
from evidence import report as reports
from evidence.cli import evidence

report = AppGroup("report", help="The annual ITA report.")


def _year(value: int) -> int:
    if not 2500 <= value <= 2700:
        raise click.BadParameter("a Buddhist Era fiscal year, e.g. 2566", param_hint="--year")
    return value


def _write(out: Path, data: bytes) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial")
    tmp.write_bytes(data)
    os.replace(tmp, out)


@report.command("ita")
@click.option("--year", "year", required=True, type=int, help="The fiscal year in B.E., e.g. 2566.")
@click.option("--format", "fmt", type=click.Choice(reports.FORMATS), default="json", show_default=True)
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The file to write; without it the report goes to standard output.",
)
@click.option(
    "--lang",
    "lang",
    type=click.Choice(("th", "en")),
    default="th",
    show_default=True,
    help="The language of the document (HTML, PDF, DOCX, XLSX).",
)
@click.option(
    "--thai-digits/--arabic-digits",
    "thai_digits",
    default=None,
    help="Thai digits (๐–๙) in the Thai document; default: the agency's setting.",
)
def ita_command(year: int, fmt: str, out: Path | None, lang: str, thai_digits: bool | None):
    """Compute the year's figures (reference/report-metrics.md) and write the report in one format."""
    context.set_origin("cli", "flask report ita")
    built = reports.build(
        db.session,
        _year(year),
        engine=db.engine,
        config=current_app.config,
        lang=lang,
        thai_digits=thai_digits,
    )
    data, _mime, _name = reports.render(built, fmt)
    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    _write(out, data)
    audit = built.figures["audit"]
    click.echo(
        f"{out}: {fmt}, {len(data):,} bytes; fiscal year {year}; audit head {audit['head_seq']} "
        f"({'chain intact' if audit['chain_intact'] else 'CHAIN NOT INTACT'})",
        err=True,
    )


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
        _year(year),
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
