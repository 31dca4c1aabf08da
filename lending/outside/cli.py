"""`flask --app wsgi outside anonymise`: PDPA — anonymise outside borrowers' contact details after the
retention period (cron, e.g. monthly). The audit chain is untouched: `audit verify` still passes."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from core.db import db
from core.web import context
from lending.outside import services

outside = AppGroup("outside", help="Borrowers outside the office: personal data.")


@outside.command("anonymise")
@click.option("--dry-run", is_flag=True, help="List the parties that are due; change nothing.")
@click.option(
    "--years",
    type=click.IntRange(1, 50),
    default=None,
    help="Override the retention period of the settings (years after the last loan ended).",
)
def anonymise_command(dry_run: bool, years: int | None):
    """Anonymise the contact details of outside borrowers whose last loan ended before the retention period."""
    context.set_origin("cli", "flask outside anonymise")
    refs = services.anonymise_expired(db.session, None, years=years, dry_run=dry_run)
    verb = "due" if dry_run else "anonymised"
    click.echo(
        f"outside borrowers {verb}: {len(refs)}"
        + (f" ({', '.join(refs[:20])}{' …' if len(refs) > 20 else ''})" if refs else "")
    )
