"""letter approval: letters the policy holds back until the head of programme approves them

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    # Jobs recorded before this revision went out as rendered: none of them waits.
    with op.batch_alter_table('letter_job', schema=None) as batch_op:
        batch_op.add_column(sa.Column('approval', sa.Enum('not_needed', 'awaiting', 'approved', 'returned', name='letter_approval', native_enum=False, create_constraint=True), server_default='not_needed', nullable=False))
        batch_op.add_column(sa.Column('approval_event_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('approval_note', sa.Text(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_letter_job_approval_event_id_case_event'), 'case_event', ['approval_event_id'], ['id'])


def downgrade():
    with op.batch_alter_table('letter_job', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_letter_job_approval_event_id_case_event'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('ck_letter_job_letter_approval'), type_='check')
        batch_op.drop_column('approval_note')
        batch_op.drop_column('approval_event_id')
        batch_op.drop_column('approval')
