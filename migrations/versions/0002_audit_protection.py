"""audit protection: the database refuses to change or remove history; checkpoints

The audit log (audit_entries) and its checkpoints (audit_checkpoints) become append-only in the database
itself: UPDATE and DELETE (and TRUNCATE on PostgreSQL) raise. The chain's head (audit_head) may only move
forward and cannot be removed. Someone with enough rights can still drop these triggers; the hash chain and
the checkpoints catch what is done after that (`flask --app wsgi audit verify`).

Revision ID: 0002_audit_protection
Revises: 0002_lending
"""
from alembic import op
import sqlalchemy as sa


revision = '0002_audit_protection'
# Chained after lending's migration (both started from the foundation), so the history has one head.
down_revision = '0002_lending'
branch_labels = None
depends_on = None

APPEND_ONLY = ("audit_entries", "audit_checkpoints")

SQLITE_TRIGGERS = [
    *[f"""CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table}
          BEGIN SELECT RAISE(ABORT, '{table} is append-only: UPDATE refused'); END""" for table in APPEND_ONLY],
    *[f"""CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}
          BEGIN SELECT RAISE(ABORT, '{table} is append-only: DELETE refused'); END""" for table in APPEND_ONLY],
    """CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head
       BEGIN SELECT RAISE(ABORT, 'audit_head cannot be removed'); END""",
    """CREATE TRIGGER audit_head_forward_only BEFORE UPDATE ON audit_head
       WHEN NEW.seq < OLD.seq OR NEW.id <> OLD.id
       BEGIN SELECT RAISE(ABORT, 'audit_head only moves forward'); END""",
]
SQLITE_TRIGGER_NAMES = [*[f"{t}_no_update" for t in APPEND_ONLY], *[f"{t}_no_delete" for t in APPEND_ONLY],
                        "audit_head_no_delete", "audit_head_forward_only"]

POSTGRES = [
    """CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = '42501';
       END $$""",
    """CREATE FUNCTION audit_head_forward_only() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF TG_OP = 'DELETE' THEN
           RAISE EXCEPTION 'audit_head cannot be removed' USING ERRCODE = '42501';
         END IF;
         IF NEW.seq < OLD.seq OR NEW.id <> OLD.id THEN
           RAISE EXCEPTION 'audit_head only moves forward' USING ERRCODE = '42501';
         END IF;
         RETURN NEW;
       END $$""",
    *[f"""CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
          FOR EACH ROW EXECUTE FUNCTION audit_append_only()""" for table in APPEND_ONLY],
    *[f"""CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
          FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()""" for table in (*APPEND_ONLY, "audit_head")],
    """CREATE TRIGGER audit_head_forward_only BEFORE UPDATE OR DELETE ON audit_head
       FOR EACH ROW EXECUTE FUNCTION audit_head_forward_only()""",
]


def upgrade():
    op.create_table('audit_checkpoints',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('signature', sa.String(length=200), nullable=False),
    sa.Column('key_id', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_checkpoints'))
    )
    with op.batch_alter_table('audit_checkpoints', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_checkpoints_seq'), ['seq'], unique=False)

    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)
    elif dialect == "postgresql":
        for statement in POSTGRES:
            op.execute(statement)


def downgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for name in SQLITE_TRIGGER_NAMES:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    elif dialect == "postgresql":
        for table in APPEND_ONLY:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        for table in (*APPEND_ONLY, "audit_head"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute("DROP TRIGGER IF EXISTS audit_head_forward_only ON audit_head")
        op.execute("DROP FUNCTION IF EXISTS audit_head_forward_only()")
        op.execute("DROP FUNCTION IF EXISTS audit_append_only()")
    with op.batch_alter_table('audit_checkpoints', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_checkpoints_seq'))
    op.drop_table('audit_checkpoints')
