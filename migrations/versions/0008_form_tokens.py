"""form tokens: the one-time token of each create form, with the record its first submission made

Revision ID: 0008_form_tokens
Revises: 0007_audit_mac
"""
from alembic import op
import sqlalchemy as sa


revision = '0008_form_tokens'
down_revision = '0007_audit_mac'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('form_tokens',
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('record_type', sa.String(length=40), nullable=False),
    sa.Column('record_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('token', name=op.f('pk_form_tokens'))
    )


def downgrade():
    op.drop_table('form_tokens')
