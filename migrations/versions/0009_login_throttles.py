"""login throttles: failed logins counted per (username, address), per address and per username

Replaces `login_throttle` (per username only, so anyone could keep a known account locked). The counts
are short-lived by nature (minutes), so none are carried over.

Revision ID: 0009_login_throttles
Revises: 0008_form_tokens
"""
from alembic import op
import sqlalchemy as sa


revision = '0009_login_throttles'
down_revision = '0008_form_tokens'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('login_throttles',
    sa.Column('key', sa.String(length=160), nullable=False),
    sa.Column('scope', sa.String(length=16), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('first_failed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_failed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_login_throttles'))
    )
    op.drop_table('login_throttle')


def downgrade():
    op.create_table('login_throttle',
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('last_failed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('username', name=op.f('pk_login_throttle'))
    )
    op.drop_table('login_throttles')
