"""`flask --app wsgi ita catalogue import FILE --year Y [--dry-run]`: a year's ITA catalogue from a file."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from core.db import DomainError, db
from core.web import context
from evidence.measures.services import import_catalogue

# --- the ITA catalogue of a year -------------------------------------------------------------------

ita = AppGroup("ita", help="The ITA catalogues of the assessment years.")
catalogue_group = AppGroup("catalogue", help="A year's catalogue: import it from a CSV or XLSX file.")
ita.add_command(catalogue_group)


@catalogue_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--year", "year", required=True, type=int, help="The B.E. assessment year, e.g. 2571.")
@click.option("--dry-run", is_flag=True, help="Check the file and show what would change; change nothing.")
def catalogue_import_command(file: Path, year: int, dry_run: bool):
    """Import a year's catalogue (columns as in evidence/catalogues/README.md), all or nothing."""
    context.set_origin("cli", "flask ita catalogue import")
    try:
        result = import_catalogue(db.session, None, year, file.read_bytes(), file.name, dry_run=dry_run)
    except DomainError as err:
        raise click.ClickException(str(err)) from None
    if not result.ok:
        for problem in result.problems[:500]:
            click.echo(str(problem), err=True)
        bad_rows = len({p.row for p in result.problems})
        raise click.ClickException(f"{bad_rows} bad rows; nothing was imported")
    would = "would " if dry_run else ""
    for label, codes in (("add", result.created), ("change", result.updated), ("retire", result.retired)):
        if codes:
            click.echo(f"{would}{label}: {' '.join(codes)}")
    click.echo(
        f"fiscal year {year}: {would}add {len(result.created)}, {would}change {len(result.updated)}, "
        f"{would}retire {len(result.retired)}, unchanged {result.unchanged}"
    )
