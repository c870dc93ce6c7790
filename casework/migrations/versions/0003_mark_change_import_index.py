"""index mark_change.import_id: an import counts the marks it changed by it

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_mark_change_import_id", "mark_change", ["import_id"])


def downgrade():
    op.drop_index("ix_mark_change_import_id", table_name="mark_change")
