"""`flask --app wsgi loans ...`: the daily overdue run (and the paper ledger import, lending/ledger.py)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from core import context
from core.db import db
from core.mail import send_all
from lending import workflow

loans = AppGroup("loans", help="Loans: the daily overdue run and the paper ledger.")


@loans.command("remind")
def remind_command():
    """Record demands for overdue items, notify, and mail one digest per borrower and per officer.

    Meant for cron, daily (see README); running it twice a day records no second demand.
    """
    context.set_origin("cli", "flask loans remind")
    result = workflow.remind(db.session)
    sent = 0
    if result.mails:
        try:
            sent = send_all(current_app.config, result.mails)
        except OSError as e:  # the demands are recorded; the mail can be sent again by hand
            raise click.ClickException(f"demands recorded, but mail failed: {e}") from None
    click.echo(f"overdue loans: {result.overdue_loans}; new demands: {result.demands}; "
               f"mails: {result.borrower_mails} to borrowers, {result.officer_mails} to officers ({sent} sent); "
               f"due tomorrow: {result.due_tomorrow}")
