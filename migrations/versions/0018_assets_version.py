"""assets version: one row whose token changes with every change to the asset register or its search synonyms

Each process keeps the register's recent pages (their totals and ids) and the search synonym groups, keyed
by this token, and reads the token once per register page (lending/register/queries.py): a change made by
any process — a page, an import, the CLI, a restore, a plain SQL statement — is seen on the next page.
Triggers on `assets` and `search_synonyms` write the new token, so no writer can forget to; a random token rather than a counter, as in 0017, so that a token
that rolled back or belongs to another database is never seen again by a process that cached under it.

PostgreSQL: one statement-level trigger BEFORE the statement, so that a transaction takes the token's row
lock before any asset row's (two writers of assets then wait for each other in one order, never in a
cycle); SQLite serialises its writers anyway and runs the trigger per row. The audit head's lock comes after
the token's: `record` flushes what the transaction holds before it locks the head, and the services change their
assets before their first entry (one that changed an asset after it would take the two locks the other way).

Revision ID: 0018_assets_version
Revises: 0017_settings_version
"""
import secrets

import sqlalchemy as sa
from alembic import op

revision = '0018_assets_version'
down_revision = '0017_settings_version'
branch_labels = None
depends_on = None

EVENTS = ("INSERT", "UPDATE", "DELETE")
TABLES = ("assets", "search_synonyms")


def upgrade():
    table = op.create_table('assets_version',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('token', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assets_version'))
    )
    op.bulk_insert(table, [{"id": 1, "token": secrets.token_hex(16)}])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """CREATE FUNCTION assets_bump_version() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              UPDATE assets_version SET token = md5(random()::text || clock_timestamp()::text) WHERE id = 1;
              RETURN NULL;
            END $$"""
        )
        for table in TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_bump_assets_version BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE "
                f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION assets_bump_version()"
            )
    else:
        for table in TABLES:
            for event in EVENTS:
                op.execute(
                    f"""CREATE TRIGGER {table}_bump_assets_version_{event.lower()} AFTER {event} ON {table}
                    BEGIN UPDATE assets_version SET token = lower(hex(randomblob(16))) WHERE id = 1; END"""
                )


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_bump_assets_version ON {table}")
        op.execute("DROP FUNCTION IF EXISTS assets_bump_version()")
    else:
        for table in TABLES:
            for event in EVENTS:
                op.execute(f"DROP TRIGGER IF EXISTS {table}_bump_assets_version_{event.lower()}")
    op.drop_table('assets_version')
