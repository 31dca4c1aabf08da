"""PostgreSQL least privilege: the app's role owns nothing and may only add to the log.

Migrations run as the owner (MIGRATE_DATABASE_URL), the app as its own role (DATABASE_URL); these tests
run where CI gives both, and are skipped on SQLite and on a developer's single-role PostgreSQL.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from core.db import db
from tests.conftest import two_roles

pytestmark = pytest.mark.skipif(not two_roles(), reason="needs MIGRATE_DATABASE_URL and DATABASE_URL (two roles)")

REFUSED = {
    "disable-triggers": "ALTER TABLE audit_entries DISABLE TRIGGER USER",
    "disable-all-triggers": "ALTER TABLE audit_entries DISABLE TRIGGER ALL",
    "drop-trigger": "DROP TRIGGER audit_entries_append_only ON audit_entries",
    "replication-role": "SET session_replication_role = replica",
    "truncate-entries": "TRUNCATE audit_entries",
    "truncate-head": "TRUNCATE audit_head",
    "truncate-users": "TRUNCATE users CASCADE",
    "update-entry": "UPDATE audit_entries SET actor = 'someone' WHERE seq = 1",
    "delete-entry": "DELETE FROM audit_entries WHERE seq = 1",
    "update-checkpoint": "UPDATE audit_checkpoints SET hash = 'x'",
    "delete-checkpoint": "DELETE FROM audit_checkpoints",
    "delete-head": "DELETE FROM audit_head",
    "insert-head": "INSERT INTO audit_head (id, seq, hash) VALUES (2, 0, 'x')",
    "drop-entries": "DROP TABLE audit_entries",
    "drop-users": "DROP TABLE users CASCADE",
    "alter-users": "ALTER TABLE users ADD COLUMN x integer",
    "create-table": "CREATE TABLE intruder (x integer)",
    "alembic-version": "UPDATE alembic_version SET version_num = 'x'",
}


@pytest.mark.parametrize("statement", REFUSED.values(), ids=REFUSED.keys())
def test_the_app_role_may_not_alter_truncate_rewrite_or_drop(app, statement):
    with app.app_context(), db.engine.connect() as conn:
        with pytest.raises(DBAPIError, match="permission denied|must be owner"):
            with conn.begin():
                conn.execute(text(statement))


def test_the_app_role_owns_nothing_in_its_schema(app):
    with app.app_context(), db.engine.connect() as conn:
        owned = (
            conn.execute(
                text(
                    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = current_schema() AND pg_get_userbyid(c.relowner) = current_user"
                )
            )
            .scalars()
            .all()
        )
    assert owned == []


def test_the_app_role_may_append_to_the_log_and_move_the_head(app, make_asset):
    """What the app needs still works: an audited write appends an entry and moves the head."""
    from audit.integrity import runner as queries

    with app.app_context():
        before = queries.head_of(db.session)[0]
        db.session.remove()
    asset = make_asset()
    with app.app_context():
        assert queries.head_of(db.session)[0] == before + 1
        assert db.session.execute(
            text("SELECT subject_id FROM audit_entries WHERE seq = :s"), {"s": before + 1}
        ).scalar_one() == str(asset.id)
        db.session.remove()


def test_a_table_a_later_migration_adds_is_granted_at_the_next_upgrade(app, owner_connect):
    """Grants are made afresh after every upgrade, so no migration has to remember them."""
    from flask_migrate import upgrade

    with owner_connect() as conn:
        conn.execute(text("CREATE TABLE later_feature (id integer PRIMARY KEY)"))
        conn.commit()
    try:
        with app.app_context():
            upgrade()  # nothing to migrate: the grants are made again all the same
            with db.engine.connect() as conn, conn.begin():
                conn.execute(text("INSERT INTO later_feature (id) VALUES (1)"))
                assert conn.execute(text("SELECT count(*) FROM later_feature")).scalar_one() == 1
                with pytest.raises(DBAPIError, match="permission denied|must be owner"):
                    with conn.begin_nested():
                        conn.execute(text("TRUNCATE later_feature"))
    finally:
        with owner_connect() as conn:
            conn.execute(text("DROP TABLE later_feature"))
            conn.commit()


def test_db_grant_grants_the_app_role_again(app):
    result = app.test_cli_runner().invoke(args=["db", "grant"])
    assert result.exit_code == 0, result.output
    assert "granted" in result.output and "privileges on" in result.output
