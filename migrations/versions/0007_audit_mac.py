"""audit entry MACs: a nullable column `mac` on audit_entries (HMAC-SHA256 of the entry's hash under a key
kept outside the database, AUDIT_MAC_KEY; see audit/mac.py and docs/audit-log.md).

Entries written before the key is configured keep a null MAC; `audit verify` reports them as not
MAC-protected. The append-only triggers are untouched (ADD COLUMN does not rebuild the table, on SQLite
either, so its triggers stay). Downgrade drops the column (SQLite 3.35 or later: ALTER TABLE DROP COLUMN).

Revision ID: 0007_audit_mac
Revises: 0006_ita_catalogues (on main already; was 0005_asset_search_index)
"""
from alembic import op
import sqlalchemy as sa


revision = '0007_audit_mac'
down_revision = '0006_ita_catalogues'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("audit_entries", sa.Column("mac", sa.String(length=64), nullable=True))


def downgrade():
    op.drop_column("audit_entries", "mac")
