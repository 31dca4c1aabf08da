"""ITA catalogues as data: each indicator's period, roles, retired flag, position and to-confirm flag; an
evidence item's role; and the shipped catalogues (evidence/catalogues/<year>.csv) of every year the
database does not have yet. A year that already has indicators keeps them as they are (their positions
follow the natural order of their codes).

Like every migration, this one writes no audit entry: the chain starts empty on a new database (the
audit tests, backups and restores rely on it), and the loaded rows are the data of this schema version —
their source is the file in the repository at this revision; each year's SHA-256 is logged here. Whatever
changes a catalogue afterwards (`ita catalogue import`, the indicators page, starting a year) is audited.
The rows are written with this file's own table definition, so a later change to the Indicator model does
not break this step.

Revision ID: 0006_ita_catalogues
Revises: 0005_asset_search_index
"""
import logging

from alembic import op
import sqlalchemy as sa


revision = '0006_ita_catalogues'
down_revision = '0005_asset_search_index'
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

INDICATORS = sa.table(
    "indicators",
    sa.column("id", sa.Integer), sa.column("fiscal_year", sa.Integer), sa.column("code", sa.String),
    sa.column("instrument", sa.String), sa.column("group", sa.Integer), sa.column("text_th", sa.Text),
    sa.column("text_en", sa.Text), sa.column("period", sa.String), sa.column("role", sa.String),
    sa.column("retired", sa.Boolean), sa.column("position", sa.Integer), sa.column("to_confirm", sa.Boolean),
)


def upgrade():
    with op.batch_alter_table('indicators', schema=None) as batch_op:
        batch_op.add_column(sa.Column('period', sa.String(length=12), server_default='', nullable=False))
        batch_op.add_column(sa.Column('role', sa.String(length=200), server_default='', nullable=False))
        batch_op.add_column(sa.Column('retired', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('position', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('to_confirm', sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table('evidence_items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('role', sa.String(length=40), server_default='', nullable=False))
    bind = op.get_bind()
    _number_existing(bind)
    _load_shipped(bind)


def _number_existing(bind):
    """Positions for the rows already there: natural order of codes (IIT, EIT, OIT, then the number)."""
    from evidence.measures.catalogue import code_key

    rows = bind.execute(sa.select(INDICATORS.c.id, INDICATORS.c.fiscal_year, INDICATORS.c.code,
                                  INDICATORS.c.instrument)).all()
    by_year = {}
    for r in rows:
        by_year.setdefault(r.fiscal_year, []).append(r)
    for year_rows in by_year.values():
        for n, r in enumerate(sorted(year_rows, key=lambda r: code_key(r.code)), 1):
            bind.execute(INDICATORS.update().where(INDICATORS.c.id == r.id).values(
                position=n, period="current" if r.instrument == "OIT" else ""))


def _load_shipped(bind):
    from evidence.measures.catalogue import shipped, shipped_years

    present = set(bind.execute(sa.select(INDICATORS.c.fiscal_year).distinct()).scalars())
    for year in shipped_years():
        if year in present:
            log.info("ITA catalogue %s: the database has its items already; kept", year)
            continue
        parsed = shipped(year)
        if parsed.problems:
            raise RuntimeError(f"evidence/catalogues/{year}.csv: " + "; ".join(map(str, parsed.problems)))
        bind.execute(INDICATORS.insert(), [{"fiscal_year": year, "retired": False, **row.values()}
                                           for row in parsed.rows])
        log.info("ITA catalogue %s: %d items from evidence/catalogues/%s.csv (sha256 %s)", year,
                 len(parsed.rows), year, parsed.sha256)


def downgrade():
    with op.batch_alter_table('evidence_items', schema=None) as batch_op:
        batch_op.drop_column('role')
    with op.batch_alter_table('indicators', schema=None) as batch_op:
        batch_op.drop_column('to_confirm')
        batch_op.drop_column('position')
        batch_op.drop_column('retired')
        batch_op.drop_column('role')
        batch_op.drop_column('period')
