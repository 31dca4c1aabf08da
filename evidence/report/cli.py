"""`flask --app wsgi report ita --year Y --format json|html|pdf|docx|xlsx|csv --out FILE`."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from core.db import db
from core.web import context
from evidence import report as reports

report = AppGroup("report", help="The annual ITA report.")


def checked_year(value: int) -> int:
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
        checked_year(year),
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
