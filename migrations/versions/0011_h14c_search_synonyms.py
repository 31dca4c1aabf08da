"""search synonyms: the office's own groups of terms that a register search treats as one

Revision ID: 0011_h14c_search_synonyms
Revises: 0010_jobs
"""
from alembic import op
import sqlalchemy as sa


revision = '0011_h14c_search_synonyms'
down_revision = '0010_jobs'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('search_synonyms',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('terms', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_search_synonyms_created_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_search_synonyms'))
    )


def downgrade():
    op.drop_table('search_synonyms')
