"""e-service: rate-limit counters of the public pages, versions of the manual for outsiders

Revision ID: 0014_eservice
Revises: 0013_outside_lending
"""
from alembic import op
import sqlalchemy as sa


revision = '0014_eservice'
down_revision = '0013_outside_lending'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('eservice_rate_limits',
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('scope', sa.String(length=24), nullable=False),
    sa.Column('hits', sa.Integer(), nullable=False),
    sa.Column('window_start', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_eservice_rate_limits'))
    )
    op.create_table('outsiders_manual_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('fiscal_year', sa.Integer(), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('published_by_id', sa.Integer(), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('settings', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['published_by_id'], ['users.id'],
                            name=op.f('fk_outsiders_manual_versions_published_by_id_users')),
    sa.ForeignKeyConstraint(['sha256'], ['stored_files.sha256'],
                            name=op.f('fk_outsiders_manual_versions_sha256_stored_files')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outsiders_manual_versions')),
    sa.UniqueConstraint('number', name=op.f('uq_outsiders_manual_versions_number'))
    )


def downgrade():
    op.drop_table('outsiders_manual_versions')
    op.drop_table('eservice_rate_limits')
