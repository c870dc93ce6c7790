"""outbox messages, delivery attempts and reports

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 05:31:22.764208

"""
from alembic import op
import sqlalchemy as sa

import casework.models.types


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

def upgrade():
    op.create_table('report',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('report_date', sa.Date(), nullable=False),
    sa.Column('programme_id', sa.Integer(), nullable=True),
    sa.Column('session_id', sa.Integer(), nullable=True),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('csv', sa.LargeBinary(), nullable=False),
    sa.Column('pdf', sa.LargeBinary(), nullable=False),
    sa.Column('built_at', casework.models.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['programme_id'], ['programme.id'], name=op.f('fk_report_programme_id_programme')),
    sa.ForeignKeyConstraint(['session_id'], ['session.id'], name=op.f('fk_report_session_id_session')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report')),
    sa.UniqueConstraint('key', name=op.f('uq_report_key'))
    )
    with op.batch_alter_table('report', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_report_programme_id'), ['programme_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_report_report_date'), ['report_date'], unique=False)

    op.create_table('outbox_message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.Enum('absence', 'letter', 'report', name='message_kind', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('channel', sa.Enum('email', 'sms', name='message_channel', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('programme_id', sa.Integer(), nullable=True),
    sa.Column('learner_id', sa.Integer(), nullable=True),
    sa.Column('contact_id', sa.Integer(), nullable=True),
    sa.Column('recipient_kind', sa.String(length=30), nullable=False),
    sa.Column('recipient_name', sa.String(length=200), nullable=False),
    sa.Column('address', sa.String(length=254), nullable=True),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('mark_id', sa.Integer(), nullable=True),
    sa.Column('mark_code_id', sa.Integer(), nullable=True),
    sa.Column('letter_job_id', sa.Integer(), nullable=True),
    sa.Column('report_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.Enum('waiting', 'queued', 'sending', 'sent', 'failed', 'no_address', 'cancelled', name='message_status', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('due_at', casework.models.types.UTCDateTime(), nullable=False),
    sa.Column('next_attempt_at', casework.models.types.UTCDateTime(), nullable=False),
    sa.Column('claimed_until', casework.models.types.UTCDateTime(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('provider_ref', sa.String(length=200), nullable=True),
    sa.Column('created_at', casework.models.types.UTCDateTime(), nullable=False),
    sa.Column('sent_at', casework.models.types.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['contact_id'], ['contact.id'], name=op.f('fk_outbox_message_contact_id_contact')),
    sa.ForeignKeyConstraint(['learner_id'], ['learner.id'], name=op.f('fk_outbox_message_learner_id_learner')),
    sa.ForeignKeyConstraint(['letter_job_id'], ['letter_job.id'], name=op.f('fk_outbox_message_letter_job_id_letter_job')),
    sa.ForeignKeyConstraint(['mark_code_id'], ['mark_code.id'], name=op.f('fk_outbox_message_mark_code_id_mark_code')),
    sa.ForeignKeyConstraint(['mark_id'], ['mark.id'], name=op.f('fk_outbox_message_mark_id_mark')),
    sa.ForeignKeyConstraint(['programme_id'], ['programme.id'], name=op.f('fk_outbox_message_programme_id_programme')),
    sa.ForeignKeyConstraint(['report_id'], ['report.id'], name=op.f('fk_outbox_message_report_id_report')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_message')),
    sa.UniqueConstraint('key', name=op.f('uq_outbox_message_key'))
    )
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbox_message_contact_id'), ['contact_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbox_message_learner_id'), ['learner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbox_message_letter_job_id'), ['letter_job_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbox_message_mark_id'), ['mark_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbox_message_programme_id'), ['programme_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbox_message_report_id'), ['report_id'], unique=False)
        batch_op.create_index('ix_outbox_message_status_next', ['status', 'next_attempt_at'], unique=False)

    op.create_table('delivery_attempt',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('started_at', casework.models.types.UTCDateTime(), nullable=False),
    sa.Column('finished_at', casework.models.types.UTCDateTime(), nullable=True),
    sa.Column('outcome', sa.String(length=20), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('provider_ref', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['message_id'], ['outbox_message.id'], name=op.f('fk_delivery_attempt_message_id_outbox_message')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delivery_attempt'))
    )
    with op.batch_alter_table('delivery_attempt', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_delivery_attempt_message_id'), ['message_id'], unique=False)


def downgrade():
    with op.batch_alter_table('delivery_attempt', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_delivery_attempt_message_id'))

    op.drop_table('delivery_attempt')
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_message_status_next')
        batch_op.drop_index(batch_op.f('ix_outbox_message_report_id'))
        batch_op.drop_index(batch_op.f('ix_outbox_message_programme_id'))
        batch_op.drop_index(batch_op.f('ix_outbox_message_mark_id'))
        batch_op.drop_index(batch_op.f('ix_outbox_message_letter_job_id'))
        batch_op.drop_index(batch_op.f('ix_outbox_message_learner_id'))
        batch_op.drop_index(batch_op.f('ix_outbox_message_contact_id'))

    op.drop_table('outbox_message')
    with op.batch_alter_table('report', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_report_report_date'))
        batch_op.drop_index(batch_op.f('ix_report_programme_id'))

    op.drop_table('report')
