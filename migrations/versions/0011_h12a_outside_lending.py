"""outside borrowers and lending by count: lending groups, request lines, parties, surveys

Revision ID: 0011_h12a_outside_lending
Revises: 0010_jobs
"""
import importlib.util
import os

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

    if op.get_bind().dialect.name == "sqlite":
        # A plain ADD COLUMN: rebuilding `assets` (batch mode) would drop the search index's triggers (0005).
        op.execute("ALTER TABLE assets ADD COLUMN lending_group_id INTEGER "
                   "CONSTRAINT fk_assets_lending_group_id_lending_groups REFERENCES lending_groups (id)")
    else:
        op.add_column('assets', sa.Column('lending_group_id', sa.Integer(), nullable=True))
        op.create_foreign_key(op.f('fk_assets_lending_group_id_lending_groups'), 'assets', 'lending_groups',
                              ['lending_group_id'], ['id'])
    op.create_index(op.f('ix_assets_lending_group_id'), 'assets', ['lending_group_id'], unique=False)

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
    if op.get_bind().execute(sa.text("SELECT 1 FROM loans WHERE borrower_id IS NULL")).first():
        raise RuntimeError("loans to outside borrowers exist: they have no user to fall back to, so this "
                           "downgrade would lose them; export them and remove them first")
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
    op.drop_index(op.f('ix_assets_lending_group_id'), table_name='assets')
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table('assets', schema=None) as batch_op:
            batch_op.drop_column('lending_group_id')
        _recreate_search_triggers()  # the rebuild of `assets` dropped them
    else:
        op.drop_constraint(op.f('fk_assets_lending_group_id_lending_groups'), 'assets', type_='foreignkey')
        op.drop_column('assets', 'lending_group_id')
    with op.batch_alter_table('outside_parties', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outside_parties_phone_key'))
    op.drop_table('outside_parties')
    op.drop_table('lending_groups')


def _recreate_search_triggers():
    """The triggers of 0005_asset_search_index, when its FTS table exists (SQLite with trigram support)."""
    bind = op.get_bind()
    if not bind.execute(sa.text("SELECT 1 FROM sqlite_master WHERE name = 'assets_fts'")).first():
        return
    path = os.path.join(os.path.dirname(__file__), "0005_asset_search_index.py")
    spec = importlib.util.spec_from_file_location("_search_index_0005", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name, statement in module.SQLITE_TRIGGERS.items():
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute(statement)
