"""Separate instances for the audit tests that need a database of their own.

The session's database is shared by every test and never emptied, so tests that tamper with the chain, or
back up and restore a whole instance, build their own: a new SQLite file, or — when the run is on
PostgreSQL (DATABASE_URL) — a new schema in the same database, reached through `search_path` (CI's role
owns its database but may not create databases).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import create_engine, text

from core.db import db

_counter = itertools.count(1)


def on_postgres() -> bool:
    return (os.environ.get("DATABASE_URL") or "").startswith("postgres")


def _server_url() -> str:
    """The owner's URL (MIGRATE_DATABASE_URL when the run has two roles): schemas are the owner's to make."""
    url = os.environ.get("MIGRATE_DATABASE_URL") or os.environ["DATABASE_URL"]
    if url.startswith("postgresql://"):
        return url.replace("postgresql://", "postgresql+psycopg://", 1)
    return url


def owner_url_for(url: str) -> str:
    """The owner's URL to the same schema as the app's `url` (its options kept), or "" with one role."""
    owner = os.environ.get("MIGRATE_DATABASE_URL") or ""
    if not url.startswith("postgres") or not owner or owner == os.environ.get("DATABASE_URL"):
        return ""
    query = url.partition("?")[2]
    return owner + (("&" if "?" in owner else "?") + query if query else "")


def create_schema(schema: str) -> None:
    engine = create_engine(_server_url())
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()


def drop_schema(schema: str) -> None:
    engine = create_engine(_server_url())
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


def database_url_for(name: str, directory: Path) -> tuple[str, str | None]:
    """A database URL of its own: (url, schema or None)."""
    if on_postgres():
        schema = f"kp_{name}_{os.getpid()}_{next(_counter)}"
        url = os.environ["DATABASE_URL"]
        # synchronous_commit=off: a test database need not wait for the disk at each commit.
        options = f"options=-csearch_path%3D{schema}%20-csynchronous_commit%3Doff"
        return url + ("&" if "?" in url else "?") + options, schema
    return f"sqlite:///{directory / (name + '.sqlite3')}", None


def make_app(url: str, directory: Path, **overrides) -> Flask:
    from wsgi import create_app

    return create_app(
        {
            "DATABASE_URL": url,
            "MIGRATE_DATABASE_URL": owner_url_for(url),
            "SECRET_KEY": "test-secret",
            "BASE_URL": "http://kp.test",
            "EVIDENCE_DIR": str(directory / "files"),
            "AUDIT_CHECKPOINT_LOG": str(directory / "audit-checkpoints.jsonl"),
            "JOBS_DB": str(directory / "jobs.sqlite3"),
            "TESTING": True,
            "WTF_CSRF_ENABLED": False,
            **overrides,
        }
    )


@contextmanager
def separate_instance(name: str, directory: Path, *, migrate: bool = True, **overrides) -> Iterator[Flask]:
    """A new app on a new database (migrated unless told not to), removed afterwards."""
    directory.mkdir(parents=True, exist_ok=True)
    url, schema = database_url_for(name, directory)
    if schema:
        create_schema(schema)
    app = make_app(url, directory, **overrides)
    app.config["KP_TEST_SCHEMA"] = schema
    try:
        if migrate:
            with app.app_context():
                upgrade()
        yield app
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        if schema:
            drop_schema(schema)


# The eight text settings an admin edits: one per writer thread, so the writers contend only for the
# chain's head (the settings rows exist before they start).
SETTING_KEYS = (
    "agency_name",
    "agency_short",
    "district",
    "province",
    "address",
    "phone",
    "supply_unit",
    "head_approval_threshold",
)


def admin_with_settings(app: Flask, prefix: str) -> int:
    """An admin, and every setting the writers change already stored once."""
    from core.people import services as core_services
    from core.web import context

    with app.app_context():
        context.set_origin("127.0.0.1", "pytest setup")
        admin = core_services.create_user(
            db.session, None, f"{prefix}admin", "นายผู้ดูแล ระบบ", {"admin"}, "correct horse 42"
        )
        core_services.update_settings(db.session, admin, {k: f"{k} 0" for k in SETTING_KEYS})
        admin_id = admin.id
        db.session.remove()
    return admin_id


def writers(app: Flask, admin_id: int, actions: int, errors: list, threads: int = 8, done=None) -> list:
    """`threads` threads, each with its own app context and session, each changing its own setting
    `actions` times through core.people.services.update_settings (each change one audited transaction).

    `done()`, if given, is called after each committed change (to wait for a state, not for a time)."""
    import threading

    from core.models import User
    from core.people import services as core_services
    from core.web import context

    def work(key: str) -> None:
        try:
            with app.app_context():
                context.set_origin("192.0.2.8", f"writer {key}")
                admin = db.session.get(User, admin_id)
                db.session.rollback()
                for n in range(1, actions + 1):
                    core_services.update_settings(db.session, admin, {key: f"{key} {n}"})
                    if done is not None:
                        done()
                db.session.remove()
        except Exception as err:  # reported by the test, with the thread's key
            errors.append((key, repr(err)))

    return [threading.Thread(target=work, args=(key,)) for key in SETTING_KEYS[:threads]]


# --- tampering: what someone who owns the database can do ----------------------------------------

SQLITE_AUDIT_TRIGGERS = (
    "audit_entries_no_update",
    "audit_entries_no_delete",
    "audit_checkpoints_no_update",
    "audit_checkpoints_no_delete",
    "audit_head_no_delete",
    "audit_head_forward_only",
)
PG_AUDIT_TRIGGERS = (
    ("audit_entries", "audit_entries_append_only"),
    ("audit_entries", "audit_entries_no_truncate"),
    ("audit_checkpoints", "audit_checkpoints_append_only"),
    ("audit_checkpoints", "audit_checkpoints_no_truncate"),
    ("audit_head", "audit_head_forward_only"),
    ("audit_head", "audit_head_no_truncate"),
)


def drop_audit_triggers(conn) -> None:
    """Drop every trigger that protects the log, in the connection's transaction."""
    if conn.dialect.name == "sqlite":
        for name in SQLITE_AUDIT_TRIGGERS:
            conn.execute(text(f"DROP TRIGGER {name}"))
    else:
        for table, name in PG_AUDIT_TRIGGERS:
            conn.execute(text(f"DROP TRIGGER {name} ON {table}"))


@contextmanager
def tamper_connection(app: Flask, *, commit: bool = False) -> Iterator:
    """A connection as the owner whose transaction drops the log's triggers and is then tampered with and
    verified; rolled back afterwards (committed when `commit`). The owner is the one of
    tests.conftest.owner_connection: the owner's role where the run has two, else the app's own."""
    from tests.conftest import owner_connection

    with app.app_context(), owner_connection(app) as conn:
        tx = conn.begin()
        try:
            drop_audit_triggers(conn)
            yield conn
            if commit:
                tx.commit()
        finally:
            if tx.is_active:
                tx.rollback()
