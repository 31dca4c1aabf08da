"""`flask --app wsgi db ...` is Flask-Migrate's command group, loaded only when used (Alembic is a quarter of
the app's start-up): the README's `db upgrade` must build every table on a new database all the same."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from core.db import db
from tests.integration.audit_instances import on_postgres, separate_instance

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


@pytest.mark.skipif(on_postgres(), reason="a new SQLite file is enough to show the command works")
def test_db_upgrade_through_the_command_builds_every_table(tmp_path):
    with separate_instance("migrate_cmd", tmp_path, migrate=False) as app:
        assert "flask_migrate" not in type(app.extensions["migrate"]).__module__  # the stand-in, for now
        runner = app.test_cli_runner()
        assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
        assert runner.invoke(args=["db", "current"]).exit_code == 0
        assert runner.invoke(args=["db", "nosuch"]).exit_code != 0
        with app.app_context():
            tables = set(inspect(db.engine).get_table_names())
            version = db.session.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
            db.session.remove()
            db.engine.dispose()
    assert {"users", "assets", "loans", "audit_entries", "evidence_items"} <= tables
    heads = [p.name for p in MIGRATIONS.glob("versions/*.py")]
    assert any(name.startswith(version) for name in heads)
