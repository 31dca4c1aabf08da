import logging
from logging.config import fileConfig

from alembic import context
from flask import current_app
from sqlalchemy.pool import NullPool

# this is the Alembic Config object, which provides
# access to the values within the .ini file in use.
config = context.config

# Interpret the config file for Python logging.
# This line sets up loggers basically.
fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")


_owner_engine = None


def get_engine():
    """The owner's engine when MIGRATE_DATABASE_URL is set (PostgreSQL), else the app's own."""
    global _owner_engine
    owner_url = current_app.config.get("MIGRATE_DATABASE_URI")
    if not owner_url:
        return current_app.extensions["migrate"].db.engine
    if _owner_engine is None or _owner_engine.url.render_as_string(hide_password=False) != owner_url:
        from sqlalchemy import create_engine

        _owner_engine = create_engine(owner_url, poolclass=NullPool)
    return _owner_engine


def app_role():
    """The app's own role when migrations run as another (the owner), else None: nothing to grant."""
    if not current_app.config.get("MIGRATE_DATABASE_URI"):
        return None
    app_url = current_app.extensions["migrate"].db.engine.url
    owner_url = get_engine().url
    if (app_url.host, app_url.port, app_url.database) != (owner_url.host, owner_url.port, owner_url.database):
        raise RuntimeError(
            "MIGRATE_DATABASE_URL and DATABASE_URL name different databases; "
            "both must name the same one (the owner's role and the app's)"
        )
    return app_url.username if app_url.username != owner_url.username else None


def get_engine_url():
    try:
        return get_engine().url.render_as_string(hide_password=False).replace("%", "%%")
    except AttributeError:
        return str(get_engine().url).replace("%", "%%")


# add your model's MetaData object here
# for 'autogenerate' support
# from myapp import mymodel
# target_metadata = mymodel.Base.metadata
config.set_main_option("sqlalchemy.url", get_engine_url())
target_db = current_app.extensions["migrate"].db

# other values from the config, defined by the needs of env.py,
# can be acquired:
# my_important_option = config.get_main_option("my_important_option")
# ... etc.


def get_metadata():
    if hasattr(target_db, "metadatas"):
        return target_db.metadatas[None]
    return target_db.metadata


# Objects that migrations create by hand and the models do not describe: SQLite's trigram index of the
# asset search text (an FTS5 table and the shadow tables it keeps) and PostgreSQL's pg_trgm index
# (0005_asset_search_index). Autogenerate must not offer to drop them.
HAND_MADE = ("assets_fts", "ix_assets_search_text_trgm")


def include_name(name, type_, parent_names):
    return not (name and name.startswith(HAND_MADE))


def run_migrations_offline():
    """Run migrations in 'offline' mode.

    This configures the context with just a URL
    and not an Engine, though an Engine is acceptable
    here as well.  By skipping the Engine creation
    we don't even need a DBAPI to be available.

    Calls to context.execute() here emit the given string to the
    script output.

    """
    url = config.get_main_option("sqlalchemy.url")
    context.configure(url=url, target_metadata=get_metadata(), literal_binds=True, include_name=include_name)

    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    """Run migrations in 'online' mode.

    In this scenario we need to create an Engine
    and associate a connection with the context.

    """

    # this callback is used to prevent an auto-migration from being generated
    # when there are no changes to the schema
    # reference: http://alembic.zzzcomputing.com/en/latest/cookbook.html
    def process_revision_directives(context, revision, directives):
        if getattr(config.cmd_opts, "autogenerate", False):
            script = directives[0]
            if script.upgrade_ops.is_empty():
                directives[:] = []
                logger.info("No changes in schema detected.")

    conf_args = current_app.extensions["migrate"].configure_args
    if conf_args.get("process_revision_directives") is None:
        conf_args["process_revision_directives"] = process_revision_directives
    conf_args.setdefault("include_name", include_name)

    connectable = get_engine()
    role = app_role()

    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=get_metadata(), **conf_args)

        with context.begin_transaction():
            context.run_migrations()
            if role:
                # After every upgrade, in its transaction: the app's role gets exactly what it needs on
                # every table, the new ones included (core.db.grant_app_role).
                from core.db import grant_app_role

                grant_app_role(connection, role)
                logger.info("Granted the app role %s its privileges.", role)


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
