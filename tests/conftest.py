"""Fixtures: the app on SQLite or PostgreSQL (DATABASE_URL), the db session, factories and logins."""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

import pytest
from argon2 import PasswordHasher
from flask_migrate import upgrade
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.pool import NullPool

from core.config import database_uri
from core.db import db
from core.people import services as core_services
from core.web import context
from lending.register.models import Asset, compute_search_text

PASSWORD = "correct horse 42"
_counter = itertools.count(1)


def unique(prefix: str = "x") -> str:
    return f"{prefix}{os.getpid() % 1000}{next(_counter):05d}"


# The production hasher costs a login 19 MiB and two passes (about 40 ms here, over 100 ms on a busy machine);
# the suite signs in and creates users thousands of times. Tests use Argon2id with the smallest cost, the
# way Django's test settings swap in a fast hasher; tests/unit/test_password_hashing.py checks the real one.
PRODUCTION_HASHER = core_services._hasher
core_services._hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def _reset_postgres(url: str) -> None:
    engine = create_engine(database_uri(url))
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def owner_database_url() -> str:
    """The owner's URL on PostgreSQL: MIGRATE_DATABASE_URL when CI gives two roles, else DATABASE_URL
    (a developer's single role owns everything); "" on SQLite."""
    url = os.environ.get("DATABASE_URL") or ""
    if not url.startswith("postgres"):
        return ""
    return os.environ.get("MIGRATE_DATABASE_URL") or url


def two_roles() -> bool:
    """True when the run has an owner role and a separate app role (CI's PostgreSQL run)."""
    return bool(owner_database_url()) and owner_database_url() != os.environ.get("DATABASE_URL")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    """PostgreSQL when DATABASE_URL is set (CI's second run), else a fresh SQLite file. With
    MIGRATE_DATABASE_URL too, the schema is reset (and migrated, by `app`) as that owner role."""
    url = os.environ.get("DATABASE_URL")
    if url and url.startswith("postgres"):
        _reset_postgres(owner_database_url())
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"


@contextmanager
def owner_connection(target) -> Iterator[Connection]:
    """A connection to `target` app's database with the owner's rights: the owner's role on PostgreSQL
    when the run has two (the app's MIGRATE_DATABASE_URI), else the app's own engine (one role; SQLite).
    Nothing is begun: the caller commits, or closing rolls back."""
    url = target.config.get("MIGRATE_DATABASE_URI")
    if url:
        engine = create_engine(url, poolclass=NullPool)
        try:
            with engine.connect() as conn:
                yield conn
        finally:
            engine.dispose()
    else:
        with target.app_context(), db.engine.connect() as conn:
            yield conn


@pytest.fixture(scope="session")
def owner_connect(app):
    """owner_connect(other_app=None): a context manager giving a connection with the owner's rights, for
    tests that tamper as an attacker with the database would (drop triggers, rewrite rows). The app under
    test never has these rights when the run has two roles (MIGRATE_DATABASE_URL and DATABASE_URL)."""

    def connect(target=None):
        return owner_connection(target or app)

    return connect


@pytest.fixture(scope="session")
def app(database_url, tmp_path_factory):
    """One app for the session, its database built by the real migrations."""
    from wsgi import create_app

    application = create_app(
        {
            "DATABASE_URL": database_url,
            # migrations (and grants to the app's role) run as the owner when two roles are given
            "MIGRATE_DATABASE_URL": os.environ.get("MIGRATE_DATABASE_URL", "")
            if database_url.startswith("postgres")
            else "",
            "SECRET_KEY": "test-secret",
            "BASE_URL": "http://kp.test",
            "EVIDENCE_DIR": str(tmp_path_factory.mktemp("files")),
            "OUTBOX_DIR": str(tmp_path_factory.mktemp("outbox")),
            "JOBS_DB": str(tmp_path_factory.mktemp("jobs") / "jobs.sqlite3"),
            "TESTING": True,
            "WTF_CSRF_ENABLED": False,
            "SERVER_NAME": None,
        }
    )
    with application.app_context():
        upgrade()
    yield application
    with application.app_context():  # close pooled connections, or psycopg warns at exit (an error here)
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def app_ctx(app):
    with app.app_context():
        context.set_origin("127.0.0.1", "pytest")
        yield app
        db.session.rollback()
        db.session.remove()


@pytest.fixture
def session(app_ctx):
    """The app's db session, inside an app context."""
    return db.session


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def csrf_on(app):
    """CSRF checking as in production, for the tests that prove it."""
    app.config["WTF_CSRF_ENABLED"] = True
    yield
    app.config["WTF_CSRF_ENABLED"] = False


@pytest.fixture
def make_user(app):
    """make_user(roles=["staff"], **fields) -> User (password: PASSWORD)."""

    def make(roles=("staff",), username=None, name=None, password=PASSWORD, **fields):
        with app.app_context():
            user = core_services.create_user(
                db.session, None, username or unique("u"), name or "ทดสอบ ผู้ใช้", set(roles), password, **fields
            )
            user_id = user.id
            db.session.remove()
        with app.app_context():
            from core.models import User

            user = db.session.get(User, user_id)
            db.session.expunge(user)
            return user

    return make


@pytest.fixture
def make_asset(app):
    """make_asset(**fields) -> Asset with a fresh number and tag, written directly (an audit entry too)."""

    def make(**fields):
        from audit import record
        from core.db import begin_write
        from lending.register.services import unique_tag

        with app.app_context():
            begin_write(db.session)
            values = {
                "asset_number": unique("900-69-"),
                "name": "เก้าอี้พลาสติก",
                "category": "เก้าอี้",
                "brand": "",
                "model": "",
                "serial_number": "",
                "acquired_on": None,
                "price": Decimal("350.00"),
                "location": "ห้องเก็บของ",
                "department": "สำนักปลัด",
                "lendable": True,
                **fields,
            }
            asset = Asset(
                tag=fields.pop("tag", None) or unique_tag(db.session),
                status=values.pop("status", "available"),
                status_note="",
            )
            asset.apply(values)
            asset.search_text = compute_search_text(asset.state())
            db.session.add(asset)
            db.session.flush()
            record(db.session, None, "asset.created", asset, {"after": asset.state()})
            db.session.commit()
            db.session.refresh(asset)
            db.session.expunge(asset)
            return asset

    return make


def login(client, username: str, password: str = PASSWORD, follow: bool = False):
    """Sign in through the real login form."""
    return client.post("/login", data={"username": username, "password": password}, follow_redirects=follow)


def english(client) -> None:
    """Show this client's pages in English (the assertions read English text)."""
    with client.session_transaction() as cookie:
        cookie["lang"] = "en"


def sign_in(client, user):
    """Sign in through the login form, then show the pages in English."""
    assert login(client, user.username).status_code == 302
    english(client)
    return client


@pytest.fixture
def officer(make_user):
    """A supply officer of the test's own (the database is shared by the session)."""
    return make_user(roles=["supply_officer"])


@pytest.fixture
def admin(make_user):
    """An admin of the test's own."""
    return make_user(roles=["admin"])


@pytest.fixture
def login_as(client):
    """login_as(user) signs the test client in as that user."""

    def do(user, password: str = PASSWORD):
        resp = login(client, user.username, password)
        assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
        return client

    return do


def csrf_token_from(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html
    )
    assert match, "no CSRF token in the page"
    return match.group(1)
