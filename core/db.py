"""The database: one SQLAlchemy instance, SQLite tuning, and the write-transaction helper."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

from flask_sqlalchemy import SQLAlchemy
from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy import ColumnElement, MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, scoped_session
from sqlalchemy.orm import Session as OrmSession

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

if TYPE_CHECKING:

    class Model(Base):
        """What mypy sees of `db.Model`, which Flask-SQLAlchemy builds at run time as a subclass of Base."""

        __abstract__ = True

else:
    Model = db.Model  # the base class of every model

# What services, queries and CLI commands take: `db.session` (Flask-SQLAlchemy's scoped session) in the app,
# or a plain Session (scripts, tests, workers). Both answer the same calls.
Session: TypeAlias = OrmSession | scoped_session[FlaskSession]


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


LIKE_ESCAPE = "\\"


def escape_like(text: str) -> str:
    """Text to find literally inside a LIKE pattern: `%`, `_` and the escape character lose their meaning."""
    return text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2).replace("%", LIKE_ESCAPE + "%").replace("_", LIKE_ESCAPE + "_")


def contains(expr: Any, text: str, *, ignore_case: bool = False) -> ColumnElement[bool]:
    """The one way to search for a substring: `expr` holds `text` literally (LIKE with its wildcards
    escaped), ignoring case when asked (ILIKE on PostgreSQL, lower() LIKE lower() on SQLite)."""
    pattern = f"%{escape_like(text)}%"
    if ignore_case:
        return expr.ilike(pattern, escape=LIKE_ESCAPE)
    return expr.like(pattern, escape=LIKE_ESCAPE)


def starts_with(expr: Any, text: str) -> ColumnElement[bool]:
    """`expr` begins with `text` literally (LIKE with its wildcards escaped)."""
    return expr.like(f"{escape_like(text)}%", escape=LIKE_ESCAPE)


class AuditUnavailable(DomainError):
    """The audit log cannot take an entry (a broken chain, a missing table): the change is refused.

    It lives in core so that core's services (login) can tell it from other errors; audit.record raises it.
    """

    status = 503


T = TypeVar("T")


def known(value: T | None, what: str = "row") -> T:
    """`value`, which the caller knows is there (a row it has just written, locked or found in this transaction).

    For the type checker; None raises the AttributeError that using the value would have raised, only sooner.
    """
    if value is None:
        raise AttributeError(f"'NoneType' object has no attribute (the {what} is missing)")
    return value


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


@contextmanager
def write(session: Session) -> Iterator[OrmSession]:
    """A unit of work: a write transaction that is rolled back unless the block commits it.

        with write(session) as s:
            loan = load(s, loan_id)
            if unchanged:
                return loan          # nothing was written: rolled back on the way out
            loan.approve(actor, now)
            record(s, actor, "loan.approved", loan, data)
            s.commit()

    A domain error (or any exception) raised inside the block rolls the transaction back and goes on up,
    so a service never writes `rollback()` by hand. Reads made after the commit, still inside the block,
    run in a new transaction of their own that is left open, as they would be outside it.
    """
    plain = session() if isinstance(session, scoped_session) else session
    outer = plain.info.get("kp_unit_of_work")
    if outer is not None and outer.is_active:
        # begin_write would end the open transaction: the outer block's changes would be lost unseen
        raise RuntimeError("a unit of work was started inside another one that has not committed")
    begin_write(plain)
    transaction = plain.get_transaction()
    plain.info["kp_unit_of_work"] = transaction
    try:
        yield plain
    except BaseException:
        plain.rollback()
        raise
    finally:
        plain.info.pop("kp_unit_of_work", None)
    if transaction is not None and transaction.is_active:
        plain.rollback()


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


# --- PostgreSQL least privilege --------------------------------------------------------------------

# What the app's role may do beyond SELECT, per table; every other table of the schema gets SELECT,
# INSERT, UPDATE and DELETE. The log is append-only by grant as well as by trigger: the app can add an
# entry or a checkpoint and move the head, never rewrite or remove one. No table gets TRUNCATE,
# REFERENCES or TRIGGER, and the role owns nothing, so it cannot ALTER, DROP or disable a trigger.
APP_ROLE_LIMITS = {
    "audit_entries": "INSERT",
    "audit_checkpoints": "INSERT",
    "audit_head": "UPDATE",
    "alembic_version": "",
}


def grant_app_role(conn, role: str) -> list[str]:
    """Give `role` (the app's) exactly what it needs on every table of the current schema; run as owner.

    It starts from nothing each time (REVOKE ALL), so it may be run again after every upgrade: the tables
    that later migrations add are covered without each migration having to remember. Returns the tables.
    """
    from sqlalchemy import text

    quote = conn.dialect.identifier_preparer.quote
    schema = conn.execute(text("SELECT current_schema()")).scalar_one()
    tables = (
        conn.execute(
            text(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = :s AND c.relkind IN ('r', 'p', 'v') ORDER BY c.relname"
            ),
            {"s": schema},
        )
        .scalars()
        .all()
    )
    who, where = quote(role), quote(schema)
    conn.execute(text(f"GRANT USAGE ON SCHEMA {where} TO {who}"))
    conn.execute(text(f"REVOKE CREATE ON SCHEMA {where} FROM {who}"))
    conn.execute(text(f"REVOKE ALL ON ALL TABLES IN SCHEMA {where} FROM {who}"))
    conn.execute(text(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {where} FROM {who}"))
    for table in tables:
        extra = APP_ROLE_LIMITS.get(table, "INSERT, UPDATE, DELETE")
        privileges = "SELECT" + (f", {extra}" if extra else "")
        conn.execute(text(f"GRANT {privileges} ON {where}.{quote(table)} TO {who}"))
    conn.execute(text(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {where} TO {who}"))
    return list(tables)


def owner_engine(config: dict, app_engine: Engine) -> tuple[Engine, str | None]:
    """(the owner's engine, the app's role to grant or None): MIGRATE_DATABASE_URI's engine when it is set
    (PostgreSQL with two roles), else the app's own engine and nothing to grant."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    url = config.get("MIGRATE_DATABASE_URI")
    if not url:
        return app_engine, None
    engine = create_engine(url, poolclass=NullPool)
    role = app_engine.url.username
    return engine, (role if role and role != engine.url.username else None)
