"""settings version: one row whose token changes with every change to the agency settings

Each process keeps the settings it read, keyed by this token, and reads the token with the signed-in user
on every request (core/services.py): a change made by any process — a page, the CLI, a restore, a plain
SQL statement — is seen on the next request. Triggers on `settings` write the new token, so no writer
can forget to; a random token rather than a counter, so that another database (a restore, a fresh one)
never repeats a token a process has cached.

Revision ID: 0017_settings_version
Revises: 0016_availability_indexes
"""
import secrets

from alembic import op
import sqlalchemy as sa


revision = '0017_settings_version'
down_revision = '0016_availability_indexes'
branch_labels = None
depends_on = None

EVENTS = ("INSERT", "UPDATE", "DELETE")


def upgrade():
    table = op.create_table('settings_version',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('token', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_settings_version'))
    )
    op.bulk_insert(table, [{"id": 1, "token": secrets.token_hex(16)}])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """CREATE FUNCTION settings_bump_version() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              UPDATE settings_version SET token = md5(random()::text || clock_timestamp()::text) WHERE id = 1;
              RETURN NULL;
            END $$"""
        )
        op.execute(
            "CREATE TRIGGER settings_bump_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON settings "
            "FOR EACH STATEMENT EXECUTE FUNCTION settings_bump_version()"
        )
    else:
        for event in EVENTS:
            op.execute(
                f"""CREATE TRIGGER settings_bump_version_{event.lower()} AFTER {event} ON settings
                BEGIN UPDATE settings_version SET token = lower(hex(randomblob(16))) WHERE id = 1; END"""
            )


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS settings_bump_version ON settings")
        op.execute("DROP FUNCTION IF EXISTS settings_bump_version()")
    else:
        for event in EVENTS:
            op.execute(f"DROP TRIGGER IF EXISTS settings_bump_version_{event.lower()}")
    op.drop_table('settings_version')
