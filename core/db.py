"""The database: one SQLAlchemy instance, SQLite tuning, and the write-transaction helper."""

from __future__ import annotations

from datetime import UTC, datetime

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, scoped_session

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


db = SQLAlchemy(model_class=Base)


class Audited:
    """Marker: changes to this model must be recorded in the audit log in the same transaction."""


def N_(message: str) -> str:
    """Mark a message for translation where it is defined; it is translated where it is shown."""
    return message


class DomainError(Exception):
    """A rule of the domain refused an action; the message is shown to the person.

    `message` is an English msgid with %(name)s placeholders, translated where it is shown, so that the
    word order of each language is its own.
    """

    status = 400

    def __init__(self, message: str, **params):
        super().__init__(message % params if params else message)
        self.message = message
        self.params = params


class NotFound(DomainError):
    status = 404


class Forbidden(DomainError):
    status = 403


class Conflict(DomainError):
    """Someone else changed the record first, or the action collides with another."""

    status = 409


class AuditUnavailable(DomainError):
    """The audit log cannot take an entry (a broken chain, a missing table): the change is refused.

    It lives in core so that core's services (login) can tell it from other errors; audit.record raises it.
    """

    status = 503


def utcnow() -> datetime:
    """Now, as an aware UTC datetime."""
    return datetime.now(UTC)


def is_sqlite(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"


def begin_write(session: Session) -> None:
    """Start a transaction that intends to write.

    On SQLite this is BEGIN IMMEDIATE, so two writers queue for the lock instead of one failing with
    "database is locked" when it upgrades a read snapshot; any read-only transaction already open is
    ended first. On PostgreSQL it is an ordinary transaction; row locks are taken where rules need them.
    """
    if isinstance(session, scoped_session):
        session = session()
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("begin_write called with pending changes")
    if session.in_transaction():
        session.rollback()
    session.connection(execution_options={"khruphan_write": True})


def install_sqlite_tuning(engine: Engine) -> None:
    """WAL, foreign keys, a busy timeout, and explicit BEGIN so that IMMEDIATE can be asked for."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn):
        if conn.get_execution_options().get("khruphan_write"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


def refresh_statistics(session: Session) -> None:
    """Let the query planner see the data after a large import (SQLite otherwise picks poor indexes)."""
    if isinstance(session, scoped_session):
        session = session()
    session.connection().exec_driver_sql("ANALYZE")
    session.commit()
