"""`flask --app wsgi users ...`: accounts from the command line (an operator on the server)."""

from __future__ import annotations

import sys

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import select

from core import context, services
from core.db import DomainError, db
from core.models import User
from core.permissions import ROLES

users = AppGroup("users", help="Create and list accounts.")


@users.command("create")
@click.argument("username")
@click.option("--name", required=True, help="Full name, e.g. นางสาวสมหญิง ใจดี")
@click.option("--role", "roles", multiple=True, required=True, type=click.Choice(ROLES))
@click.option("--position", default="")
@click.option("--department", default="")
@click.option("--email", default="")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def create(username, name, roles, position, department, email, password_stdin):
    """Create an account; the password is prompted (hidden) unless --password-stdin."""
    context.set_origin("cli", "flask users create")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = services.create_user(db.session, None, username, name, set(roles), password,
                                    position=position, department=department, email=email)
    except DomainError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"created {user.username} ({', '.join(sorted(user.roles))})")


@users.command("list")
def list_users():
    """Every account with its roles."""
    for user in db.session.execute(select(User).order_by(User.username)).scalars():
        state = "active" if user.active else "inactive"
        click.echo(f"{user.username}\t{user.name}\t{','.join(sorted(user.roles))}\t{state}")


jobs_group = AppGroup("jobs", help="The job service: imports, label sheets, exports and documents.")


@jobs_group.command("worker")
@click.option("--workers", type=click.IntRange(1, 16), default=None, help="Threads (default JOBS_WORKERS, 2).")
def jobs_worker(workers):
    """Run the job service (huey's consumer) until stopped; run it beside the web server."""
    from flask import current_app

    from core import jobs

    context.set_origin("job-service", "flask jobs worker")
    jobs.run_worker(current_app._get_current_object(), workers)


def init_app(app: Flask) -> None:
    app.cli.add_command(users)
    app.cli.add_command(jobs_group)
