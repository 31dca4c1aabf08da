"""outside borrowers and lending by count: lending groups, request lines, parties, surveys

Revision ID: 0011_h12a_outside_lending
Revises: 0010_jobs
"""
from alembic import op
import sqlalchemy as sa


revision = '0011_h12a_outside_lending'
down_revision = '0010_jobs'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('lending_groups',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('category', sa.String(length=100), nullable=False),
    sa.Column('model', sa.String(length=100), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('public', sa.Boolean(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('photo_sha256', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['photo_sha256'], ['stored_files.sha256'],
                            name=op.f('fk_lending_groups_photo_sha256_stored_files')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lending_groups')),
    sa.UniqueConstraint('name', name=op.f('uq_lending_groups_name'))
    )
    op.create_table('outside_parties',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ref', sa.String(length=16), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('contact_person', sa.String(length=200), nullable=False),
    sa.Column('phone', sa.String(length=40), nullable=False),
    sa.Column('phone_key', sa.String(length=20), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('address', sa.String(length=500), nullable=False),
    sa.Column('village_no', sa.String(length=10), nullable=False),
    sa.Column('village', sa.String(length=200), nullable=False),
    sa.Column('subdistrict', sa.String(length=100), nullable=False),
    sa.Column('district', sa.String(length=100), nullable=False),
    sa.Column('province', sa.String(length=100), nullable=False),
    sa.Column('letter_no', sa.String(length=100), nullable=False),
    sa.Column('national_id_masked', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('anonymised_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outside_parties')),
    sa.UniqueConstraint('ref', name=op.f('uq_outside_parties_ref'))
    )
    with op.batch_alter_table('outside_parties', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outside_parties_phone_key'), ['phone_key'], unique=False)

    with op.batch_alter_table('assets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lending_group_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_assets_lending_group_id'), ['lending_group_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_assets_lending_group_id_lending_groups'), 'lending_groups',
                                    ['lending_group_id'], ['id'])

    with op.batch_alter_table('loans', schema=None) as batch_op:
        batch_op.alter_column('borrower_id', existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column('party_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('channel', sa.String(length=12), server_default='staff', nullable=False))
        batch_op.add_column(sa.Column('public_ref', sa.String(length=20), nullable=True))
        batch_op.create_index(batch_op.f('ix_loans_party_id'), ['party_id'], unique=False)
        batch_op.create_unique_constraint(batch_op.f('uq_loans_public_ref'), ['public_ref'])
        batch_op.create_foreign_key(batch_op.f('fk_loans_party_id_outside_parties'), 'outside_parties',
                                    ['party_id'], ['id'])
        # a loan has one borrower: a user of the app or an outside party
        batch_op.create_check_constraint(op.f('ck_loans_one_borrower'), '(borrower_id IS NULL) <> (party_id IS NULL)')

    op.create_table('loan_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('loan_id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('handed_count', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['group_id'], ['lending_groups.id'], name=op.f('fk_loan_lines_group_id_lending_groups')),
    sa.ForeignKeyConstraint(['loan_id'], ['loans.id'], name=op.f('fk_loan_lines_loan_id_loans')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_loan_lines')),
    sa.UniqueConstraint('loan_id', 'group_id', name=op.f('uq_loan_lines_loan_id'))
    )
    with op.batch_alter_table('loan_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_loan_lines_group_id'), ['group_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_loan_lines_loan_id'), ['loan_id'], unique=False)

    with op.batch_alter_table('loan_items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('line_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_loan_items_line_id_loan_lines'), 'loan_lines',
                                    ['line_id'], ['id'])

    op.create_table('loan_surveys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('loan_id', sa.Integer(), nullable=False),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['loan_id'], ['loans.id'], name=op.f('fk_loan_surveys_loan_id_loans')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_loan_surveys')),
    sa.UniqueConstraint('loan_id', name=op.f('uq_loan_surveys_loan_id'))
    )


def downgrade():
    op.drop_table('loan_surveys')
    with op.batch_alter_table('loan_items', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_loan_items_line_id_loan_lines'), type_='foreignkey')
        batch_op.drop_column('line_id')
    with op.batch_alter_table('loan_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_loan_lines_loan_id'))
        batch_op.drop_index(batch_op.f('ix_loan_lines_group_id'))
    op.drop_table('loan_lines')
    with op.batch_alter_table('loans', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_loans_one_borrower'), type_='check')
        batch_op.drop_constraint(batch_op.f('fk_loans_party_id_outside_parties'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('uq_loans_public_ref'), type_='unique')
        batch_op.drop_index(batch_op.f('ix_loans_party_id'))
        batch_op.drop_column('public_ref')
        batch_op.drop_column('channel')
        batch_op.drop_column('party_id')
        batch_op.alter_column('borrower_id', existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table('assets', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_assets_lending_group_id_lending_groups'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_assets_lending_group_id'))
        batch_op.drop_column('lending_group_id')
    with op.batch_alter_table('outside_parties', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outside_parties_phone_key'))
    op.drop_table('outside_parties')
    op.drop_table('lending_groups')
