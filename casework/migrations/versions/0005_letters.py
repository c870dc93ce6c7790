"""letters

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""
from alembic import op
import sqlalchemy as sa

from casework.models.types import UTCDateTime


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('letter',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('job_id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('template', sa.String(length=40), nullable=False),
    sa.Column('template_version', sa.String(length=16), nullable=False),
    sa.Column('recipient_kind', sa.String(length=30), nullable=False),
    sa.Column('recipient_key', sa.String(length=40), nullable=False),
    sa.Column('recipient_name', sa.String(length=200), nullable=False),
    sa.Column('reference', sa.String(length=40), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('pdf', sa.LargeBinary(), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('rendered_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['attendance_case.id'], name=op.f('fk_letter_case_id_attendance_case')),
    sa.ForeignKeyConstraint(['event_id'], ['case_event.id'], name=op.f('fk_letter_event_id_case_event')),
    sa.ForeignKeyConstraint(['job_id'], ['letter_job.id'], name=op.f('fk_letter_job_id_letter_job')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_letter')),
    sa.UniqueConstraint('event_id', 'template', 'recipient_key', 'template_version', name=op.f('uq_letter_event_id_template_recipient_key_template_version')),
    sa.UniqueConstraint('reference', name=op.f('uq_letter_reference'))
    )
    with op.batch_alter_table('letter', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_letter_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_letter_job_id'), ['job_id'], unique=False)



    with op.batch_alter_table("letter_job", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("channel", sa.String(length=10), server_default="post", nullable=False)
        )


def downgrade():
    with op.batch_alter_table("letter_job", schema=None) as batch_op:
        batch_op.drop_column("channel")

    with op.batch_alter_table('letter', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_letter_job_id'))
        batch_op.drop_index(batch_op.f('ix_letter_case_id'))

    op.drop_table('letter')
