"""asset search index: trigrams of each asset's search text, so a substring search reads no whole table

SQLite: an FTS5 table `assets_fts` with the `trigram` tokenizer (SQLite 3.34 or later), case-sensitive
(`search_text` and the searched key are both folded by `lending.models.search_key` already, so a match is
exactly a substring, as instr() finds it), holding no text of its own (content= the assets table, rowid =
asset id), kept in step by triggers on INSERT, DELETE and UPDATE of assets and filled here for the rows
that exist. The ORM never sees it, so the audit guard is not involved: the triggers change only the index.
Where this SQLite lacks FTS5 or the trigram tokenizer, the upgrade goes on without the index and the
register searches every row as before (lending.queries.search_support).

PostgreSQL: the `pg_trgm` extension (trusted: the database's owner may create it without being a
superuser) in a schema `extensions` of its own (or wherever it is installed already), and a GIN index
`ix_assets_search_text_trgm` (search_text gin_trgm_ops), which the register's LIKE '%key%' uses. If the
extension cannot be had, the upgrade goes on without the index (logged). A backup (`pg_dump --schema` of
the app's schema) holds the index but not the extension: restore into a database that has been through
`db upgrade`, which creates the extension.

A later migration that rebuilds `assets` on SQLite (batch_alter_table copies and drops the table) drops
these triggers with it and must create them again.

Revision ID: 0005_asset_search_index
Revises: 0004_stocktake
"""
import logging

from alembic import op
import sqlalchemy as sa


revision = '0005_asset_search_index'
down_revision = '0004_stocktake'
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

FTS_TABLE = "assets_fts"
SQLITE_TRIGGERS = {
    "assets_fts_after_insert": f"""
        CREATE TRIGGER assets_fts_after_insert AFTER INSERT ON assets BEGIN
          INSERT INTO {FTS_TABLE}(rowid, search_text) VALUES (new.id, new.search_text);
        END""",
    "assets_fts_after_delete": f"""
        CREATE TRIGGER assets_fts_after_delete AFTER DELETE ON assets BEGIN
          INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, search_text) VALUES ('delete', old.id, old.search_text);
        END""",
    # Only when the text (or the id) changes: a status change leaves the index alone.
    "assets_fts_after_update": f"""
        CREATE TRIGGER assets_fts_after_update AFTER UPDATE OF search_text, id ON assets
        WHEN old.search_text IS NOT new.search_text OR old.id IS NOT new.id BEGIN
          INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, search_text) VALUES ('delete', old.id, old.search_text);
          INSERT INTO {FTS_TABLE}(rowid, search_text) VALUES (new.id, new.search_text);
        END""",
}
PG_INDEX = "ix_assets_search_text_trgm"
PG_EXTENSION_SCHEMA = "extensions"


def upgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        _sqlite_upgrade()
    elif dialect == "postgresql":
        _postgres_upgrade()


def downgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute(f"DROP TABLE IF EXISTS {FTS_TABLE}")
    elif dialect == "postgresql":
        # The extension stays: other schemas of the database may use it.
        op.execute(f"DROP INDEX IF EXISTS {PG_INDEX}")


def _sqlite_upgrade():
    bind = op.get_bind()
    try:
        with bind.begin_nested():
            bind.exec_driver_sql(f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5(search_text, content='assets', "
                                 "content_rowid='id', tokenize='trigram case_sensitive 1')")
    except sa.exc.OperationalError as exc:  # no FTS5, or no trigram tokenizer (SQLite before 3.34)
        log.warning("asset search index not created (SQLite %s: %s); the register searches every row",
                    bind.dialect.dbapi.sqlite_version, exc.orig)
        return
    for statement in SQLITE_TRIGGERS.values():
        op.execute(statement)
    op.execute(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')")


def _postgres_upgrade():
    bind = op.get_bind()
    schema = _trgm_schema(bind)
    if schema is None:
        # The extension gets a schema of its own, apart from the app's tables: a backup (`pg_dump --schema`
        # of the app's schema) then restores over an upgraded database (`pg_restore --clean` drops and makes
        # the app's schema again, which an extension inside it would forbid), and dropping one schema with
        # CASCADE (the tests' instances) cannot take the extension, and other schemas' indexes, with it.
        try:
            with bind.begin_nested():  # a savepoint: a refusal must not abort the whole upgrade
                bind.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {PG_EXTENSION_SCHEMA}")
                bind.exec_driver_sql(f"CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA {PG_EXTENSION_SCHEMA}")
        except sa.exc.DBAPIError as exc:
            log.warning("asset search index not created: pg_trgm is not available to this role (%s); "
                        "the register searches every row", str(exc.orig).strip().splitlines()[0])
            return
        schema = _trgm_schema(bind)
    # The operator class is named with its schema: the extension may live outside the search_path.
    quoted = bind.dialect.identifier_preparer.quote_identifier(schema)
    op.execute(f"CREATE INDEX {PG_INDEX} ON assets USING gin (search_text {quoted}.gin_trgm_ops)")


def _trgm_schema(bind):
    return bind.exec_driver_sql("SELECT n.nspname FROM pg_extension e JOIN pg_namespace n "
                                "ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm'").scalar()
