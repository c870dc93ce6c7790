"""letter job status 'refused': a letter that can never be sent as it stands

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

NAME = "ck_letter_job_letter_status"


def _statuses(*values):
    return "status IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def _replace(condition):
    with op.batch_alter_table('letter_job', schema=None) as batch_op:
        batch_op.drop_constraint(op.f(NAME), type_='check')
        batch_op.create_check_constraint(op.f(NAME), condition)


def upgrade():
    _replace(_statuses('pending', 'rendered', 'failed', 'refused'))


def downgrade():
    op.execute("UPDATE letter_job SET status = 'failed' WHERE status = 'refused'")
    _replace(_statuses('pending', 'rendered', 'failed'))
