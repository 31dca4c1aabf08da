"""`flask --app wsgi users ...`: accounts from the command line (an operator on the server)."""

from __future__ import annotations

import sys

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import select

from core.db import DomainError, db, grant_app_role, owner_engine
from core.models import User
from core.people import services
from core.people.permissions import ROLES
from core.web import context

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
        user = services.create_user(
            db.session,
            None,
            username,
            name,
            set(roles),
            password,
            position=position,
            department=department,
            email=email,
        )
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


@click.command("grant")
@click.argument("role", required=False)
@with_appcontext
def grant_command(role: str | None) -> None:
    """Grant the app's role (ROLE, or DATABASE_URL's user) exactly its privileges; run as the owner."""
    engine, app_role = owner_engine(current_app.config, db.engine)
    role = role or app_role
    if engine.dialect.name != "postgresql":
        raise click.ClickException("roles exist on PostgreSQL only; SQLite needs no grant")
    if not role or role == engine.url.username:
        raise click.ClickException(
            "name the app's role (ROLE), or set MIGRATE_DATABASE_URL to the owner's URL and DATABASE_URL to the app's"
        )
    with engine.begin() as conn:
        tables = grant_app_role(conn, role)
    click.echo(f"granted {role} its privileges on {len(tables)} tables")


def init_app(app: Flask) -> None:
    app.cli.add_command(users)
    app.cli.add_command(jobs_group)
