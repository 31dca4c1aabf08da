"""availability of lending groups: indexes for the per-day counts and the group sizes (issue 12's bench)

Revision ID: 0016_availability_indexes
Revises: 0015_deposits
"""
from alembic import op


revision = '0016_availability_indexes'
down_revision = '0015_deposits'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_loans_status_start_due', 'loans', ['status', 'start_on', 'due_on', 'officer_at', 'id'], unique=False)
    op.create_index('ix_loan_lines_loan_group_count', 'loan_lines', ['loan_id', 'group_id', 'count'], unique=False)
    op.create_index('ix_loan_items_condition', 'loan_items', ['condition', 'loan_id', 'asset_id'], unique=False)
    op.create_index('ix_assets_group_status', 'assets', ['lending_group_id', 'status', 'lendable'], unique=False)


def downgrade():
    op.drop_index('ix_assets_group_status', table_name='assets')
    op.drop_index('ix_loan_items_condition', table_name='loan_items')
    op.drop_index('ix_loan_lines_loan_group_count', table_name='loan_lines')
    op.drop_index('ix_loans_status_start_due', table_name='loans')
