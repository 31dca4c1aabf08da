"""loan drops: the items an approver left out of a request (a partial approval), with the reason

Revision ID: 0012_loan_drops
Revises: 0011_h14c_search_synonyms
"""
from alembic import op
import sqlalchemy as sa


revision = '0012_loan_drops'
down_revision = '0011_h14c_search_synonyms'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('loan_drops',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('loan_id', sa.Integer(), nullable=False),
    sa.Column('asset_id', sa.Integer(), nullable=False),
    sa.Column('value', sa.Numeric(precision=14, scale=2), nullable=True),
    sa.Column('stage', sa.String(length=10), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('dropped_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('dropped_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['asset_id'], ['assets.id'], name=op.f('fk_loan_drops_asset_id_assets')),
    sa.ForeignKeyConstraint(['dropped_by_id'], ['users.id'], name=op.f('fk_loan_drops_dropped_by_id_users')),
    sa.ForeignKeyConstraint(['loan_id'], ['loans.id'], name=op.f('fk_loan_drops_loan_id_loans')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_loan_drops'))
    )
    with op.batch_alter_table('loan_drops', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_loan_drops_loan_id'), ['loan_id'], unique=False)


def downgrade():
    with op.batch_alter_table('loan_drops', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_loan_drops_loan_id'))
    op.drop_table('loan_drops')
