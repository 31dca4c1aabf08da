"""`flask --app wsgi loans ...`: the daily overdue run (and the paper ledger import, lending.loans.ledger)."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app, url_for
from flask.cli import AppGroup

from core.db import DomainError, db
from core.mail import deliver
from core.web import context
from core.web.routes import external_url
from lending.loans import cases
from lending.loans.ledger import plan as ledger

loans = AppGroup("loans", help="Loans: the daily overdue run and the paper ledger.")


@loans.command("remind")
def remind_command():
    """Record demands for overdue items, notify, and mail one digest per borrower and per officer.

    Meant for cron, daily (see README); running it twice a day records no second demand.
    """
    context.set_origin("cli", "flask loans remind")
    with current_app.test_request_context(base_url=current_app.config["BASE_URL"]):
        result = cases.remind(db.session, link=lambda loan_id: external_url(url_for("lending.loan", loan_id=loan_id)))
    # What cannot be sent now waits in the outbox and goes out first on the next run (see core.mail).
    delivery = deliver(current_app.config, result.mails, Path(current_app.config["OUTBOX_DIR"]))
    click.echo(
        f"overdue loans: {result.overdue_loans}; new demands: {result.demands}; "
        f"mails: {result.borrower_mails} to borrowers, {result.officer_mails} to officers "
        f"({delivery.sent} sent, the outbox included); due tomorrow: {result.due_tomorrow}"
    )
    if delivery.error:
        raise click.ClickException(
            f"demands recorded, but mail failed: {delivery.error}; {delivery.waiting} mail(s) wait in the "
            "outbox and go out with the next run"
        )


@loans.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check the file, count what would be imported, change nothing.")
def import_command(file: Path, dry_run: bool):
    """Import the paper ledger (ทะเบียนคุมการยืม) of earlier months, CSV or XLSX, all or nothing.

    One row per item; rows sharing `ref` are one loan. A ref imported before is skipped, so importing
    the same file again changes nothing. See README, "Importing the paper ledger".
    """
    context.set_origin("cli", "flask loans import")
    data = file.read_bytes()
    try:
        with click.progressbar(length=max(1, 2 * data.count(b"\n")), label="importing", file=None) as bar:
            if dry_run:
                plan = ledger.plan_ledger(db.session, data, file.name, progress=bar.update)
                db.session.rollback()
            else:
                plan = ledger.apply_ledger(db.session, None, data, file.name, progress=bar.update)
    except DomainError as err:
        raise click.ClickException(str(err)) from None
    if not plan.ok:
        for e in plan.errors[:500]:
            value = f" ({e.value!r})" if e.value else ""
            click.echo(f"row {e.row}, column {e.column_label}: {e.message()}{value}", err=True)
        if len(plan.errors) > 500:
            click.echo(f"... and {len(plan.errors) - 500} more", err=True)
        bad_rows = len({e.row for e in plan.errors})
        raise click.ClickException(f"{bad_rows} bad rows; nothing was imported")
    skipped = (
        f"; {plan.skipped_refs} refs already imported, skipped ({plan.skipped_rows} rows)" if plan.skipped_refs else ""
    )
    for m in plan.missing:  # accepted: blank is "not recorded", and the figure that needs it leaves it out
        click.echo(f"row {m.row} (ref {m.ref}): {m.column} not recorded; left out of {', '.join(m.figures)}")
    if dry_run:
        click.echo(f"{plan.rows} rows: would import {len(plan.loans)} loans{skipped}")
        return
    if not plan.loans:
        click.echo(f"{plan.rows} rows: nothing new to import{skipped}")
        return
    click.echo(
        f"{plan.rows} rows: imported {len(plan.loans)} loans with {plan.items} items, "
        f"{plan.demands} demands, {plan.incidents} incident cases; asset statuses set "
        f"{plan.assets_changed}, left as the register has them {plan.assets_kept}{skipped}"
    )
