"""deposits and office cancels: the deposit an outside borrower leaves at the hand-over when the rules ask for
one, and how it ended; who in the office cancelled an outside request

Revision ID: 0015_deposits
Revises: 0014_eservice
"""
from alembic import op
import sqlalchemy as sa


revision = '0015_deposits'
down_revision = '0014_eservice'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('loan_deposits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('loan_id', sa.Integer(), nullable=False),
    sa.Column('amount', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('receipt_no', sa.String(length=60), nullable=False),
    sa.Column('taken_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('taken_by_id', sa.Integer(), nullable=True),
    sa.Column('returned_amount', sa.Numeric(precision=14, scale=2), nullable=True),
    sa.Column('kept_amount', sa.Numeric(precision=14, scale=2), nullable=True),
    sa.Column('incident_id', sa.Integer(), nullable=True),
    sa.Column('settle_note', sa.Text(), nullable=False),
    sa.Column('settled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('settled_by_id', sa.Integer(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_loan_deposits_incident_id_incidents')),
    sa.ForeignKeyConstraint(['loan_id'], ['loans.id'], name=op.f('fk_loan_deposits_loan_id_loans')),
    sa.ForeignKeyConstraint(['settled_by_id'], ['users.id'], name=op.f('fk_loan_deposits_settled_by_id_users')),
    sa.ForeignKeyConstraint(['taken_by_id'], ['users.id'], name=op.f('fk_loan_deposits_taken_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_loan_deposits')),
    sa.UniqueConstraint('loan_id', name=op.f('uq_loan_deposits_loan_id'))
    )
    with op.batch_alter_table('loans', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cancelled_by_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_loans_cancelled_by_id_users'), 'users', ['cancelled_by_id'], ['id'])


def downgrade():
    with op.batch_alter_table('loans', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_loans_cancelled_by_id_users'), type_='foreignkey')
        batch_op.drop_column('cancelled_by_id')
    op.drop_table('loan_deposits')
