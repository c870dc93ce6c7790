"""letter job snapshot

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    # Nullable: jobs recorded before this revision have no snapshot; every new job has one.
    with op.batch_alter_table('letter_job', schema=None) as batch_op:
        batch_op.add_column(sa.Column('snapshot', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('letter_job', schema=None) as batch_op:
        batch_op.drop_column('snapshot')
