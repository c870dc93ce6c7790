"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-22

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    
    op.create_table('learner',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('learner_ref', sa.String(length=40), nullable=False),
    sa.Column('given_name', sa.String(length=100), nullable=False),
    sa.Column('family_name', sa.String(length=100), nullable=False),
    sa.Column('preferred_name', sa.String(length=100), nullable=True),
    sa.Column('date_of_birth', sa.Date(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('phone', sa.String(length=40), nullable=True),
    sa.Column('address', sa.Text(), nullable=True),
    sa.Column('postcode', sa.String(length=10), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_learner')),
    sa.UniqueConstraint('learner_ref', name=op.f('uq_learner_learner_ref'))
    )
    op.create_table('mark_code',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code_set', sa.Enum('statutory', 'further_education', name='code_set', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('code', sa.String(length=4), nullable=False),
    sa.Column('meaning', sa.String(length=200), nullable=False),
    sa.Column('category', sa.Enum('present', 'late', 'approved_activity', 'authorised', 'unauthorised', 'not_counted', name='mark_category', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('requires_reason', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mark_code')),
    sa.UniqueConstraint('code_set', 'code', name=op.f('uq_mark_code_code_set_code'))
    )
    op.create_table('policy',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=80), nullable=False),
    sa.Column('provider', sa.String(length=200), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('code_set', sa.Enum('statutory', 'further_education', name='code_set', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('threshold_percent', sa.Double(), nullable=False),
    sa.Column('minimum_sessions', sa.Integer(), nullable=False),
    sa.Column('document', sa.JSON(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_policy')),
    sa.UniqueConstraint('key', name=op.f('uq_policy_key'))
    )
    op.create_table('register_import',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('imported_by', sa.String(length=254), nullable=False),
    sa.Column('imported_at', sa.DateTime(), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('created', sa.Integer(), nullable=False),
    sa.Column('updated', sa.Integer(), nullable=False),
    sa.Column('unchanged', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_register_import'))
    )
    op.create_table('staff_user',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_user')),
    sa.UniqueConstraint('email', name=op.f('uq_staff_user_email'))
    )
    op.create_table('contact',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('learner_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('parent_carer', 'employer', 'main_school', name='contact_kind', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('relationship_to_learner', sa.String(length=100), nullable=True),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('phone', sa.String(length=40), nullable=True),
    sa.Column('address', sa.Text(), nullable=True),
    sa.Column('postcode', sa.String(length=10), nullable=True),
    sa.Column('receives_letters', sa.Boolean(), nullable=False),
    sa.Column('notify_by_sms', sa.Boolean(), nullable=False),
    sa.Column('notify_by_email', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['learner_id'], ['learner.id'], name=op.f('fk_contact_learner_id_learner'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contact'))
    )
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contact_learner_id'), ['learner_id'], unique=False)

    op.create_table('learner_account',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('learner_id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.ForeignKeyConstraint(['learner_id'], ['learner.id'], name=op.f('fk_learner_account_learner_id_learner'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_learner_account')),
    sa.UniqueConstraint('email', name=op.f('uq_learner_account_email')),
    sa.UniqueConstraint('learner_id', name=op.f('uq_learner_account_learner_id'))
    )
    op.create_table('programme',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('policy_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['policy_id'], ['policy.id'], name=op.f('fk_programme_policy_id_policy')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_programme')),
    sa.UniqueConstraint('code', name=op.f('uq_programme_code'))
    )
    with op.batch_alter_table('programme', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_programme_policy_id'), ['policy_id'], unique=False)

    op.create_table('staff_user_role',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.Enum('administrator', 'head_of_programme', 'tutor_mentor', 'administration_officer', 'safeguarding_lead', name='staff_role', native_enum=False, create_constraint=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['staff_user.id'], name=op.f('fk_staff_user_role_user_id_staff_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'role', name=op.f('pk_staff_user_role'))
    )
    op.create_table('enrolment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('learner_id', sa.Integer(), nullable=False),
    sa.Column('programme_id', sa.Integer(), nullable=False),
    sa.Column('academic_year', sa.Integer(), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('end_date', sa.Date(), nullable=True),
    sa.Column('status', sa.Enum('active', 'completed', 'withdrawn', name='enrolment_status', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('is_apprentice', sa.Boolean(), nullable=False),
    sa.Column('is_dual_registered', sa.Boolean(), nullable=False),
    sa.Column('mentor_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['learner_id'], ['learner.id'], name=op.f('fk_enrolment_learner_id_learner')),
    sa.ForeignKeyConstraint(['mentor_id'], ['staff_user.id'], name=op.f('fk_enrolment_mentor_id_staff_user')),
    sa.ForeignKeyConstraint(['programme_id'], ['programme.id'], name=op.f('fk_enrolment_programme_id_programme')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_enrolment')),
    sa.UniqueConstraint('learner_id', 'programme_id', 'academic_year', name=op.f('uq_enrolment_learner_id_programme_id_academic_year'))
    )
    with op.batch_alter_table('enrolment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_enrolment_learner_id'), ['learner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_enrolment_mentor_id'), ['mentor_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_enrolment_programme_id'), ['programme_id'], unique=False)

    op.create_table('programme_staff',
    sa.Column('programme_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.Enum('head', 'administration', name='programme_role', native_enum=False, create_constraint=True), nullable=False),
    sa.ForeignKeyConstraint(['programme_id'], ['programme.id'], name=op.f('fk_programme_staff_programme_id_programme'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['staff_user.id'], name=op.f('fk_programme_staff_user_id_staff_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('programme_id', 'user_id', 'role', name=op.f('pk_programme_staff'))
    )
    with op.batch_alter_table('programme_staff', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_programme_staff_user_id'), ['user_id'], unique=False)

    op.create_table('session',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_ref', sa.String(length=60), nullable=False),
    sa.Column('programme_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=True),
    sa.Column('kind', sa.Enum('workshop', 'group_directed', 'one_to_one', 'coach_visit', 'remote', 'work_placement', 'enrichment', 'school_session', name='session_kind', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('delivery_mode', sa.Enum('face_to_face', 'remote', 'workplace', name='delivery_mode', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('starts_at', sa.DateTime(), nullable=False),
    sa.Column('ends_at', sa.DateTime(), nullable=False),
    sa.Column('register_closes_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['programme_id'], ['programme.id'], name=op.f('fk_session_programme_id_programme')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_session')),
    sa.UniqueConstraint('session_ref', name=op.f('uq_session_session_ref'))
    )
    with op.batch_alter_table('session', schema=None) as batch_op:
        batch_op.create_index('ix_session_programme_starts', ['programme_id', 'starts_at'], unique=False)

    op.create_table('mark',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('enrolment_id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('code_id', sa.Integer(), nullable=False),
    sa.Column('minutes_late', sa.Integer(), nullable=True),
    sa.Column('absence_reason', sa.Enum('illness', 'medical_appointment', 'bereavement', 'religious_observance', 'interview', 'emergency', 'jury_service', 'annual_leave', 'work_commitment', 'exceptional_circumstances', name='absence_reason', native_enum=False, create_constraint=True), nullable=True),
    sa.Column('evidence_ref', sa.String(length=120), nullable=True),
    sa.Column('recorded_by', sa.String(length=254), nullable=False),
    sa.Column('recorded_at', sa.DateTime(), nullable=False),
    sa.Column('import_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['code_id'], ['mark_code.id'], name=op.f('fk_mark_code_id_mark_code')),
    sa.ForeignKeyConstraint(['enrolment_id'], ['enrolment.id'], name=op.f('fk_mark_enrolment_id_enrolment')),
    sa.ForeignKeyConstraint(['import_id'], ['register_import.id'], name=op.f('fk_mark_import_id_register_import')),
    sa.ForeignKeyConstraint(['session_id'], ['session.id'], name=op.f('fk_mark_session_id_session')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mark')),
    sa.UniqueConstraint('enrolment_id', 'session_id', name=op.f('uq_mark_enrolment_id_session_id'))
    )
    with op.batch_alter_table('mark', schema=None) as batch_op:
        batch_op.create_index('ix_mark_session_id', ['session_id'], unique=False)

    op.create_table('mark_change',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('mark_id', sa.Integer(), nullable=False),
    sa.Column('previous_code_id', sa.Integer(), nullable=False),
    sa.Column('previous_minutes_late', sa.Integer(), nullable=True),
    sa.Column('previous_absence_reason', sa.Enum('illness', 'medical_appointment', 'bereavement', 'religious_observance', 'interview', 'emergency', 'jury_service', 'annual_leave', 'work_commitment', 'exceptional_circumstances', name='absence_reason', native_enum=False, create_constraint=True), nullable=True),
    sa.Column('previous_evidence_ref', sa.String(length=120), nullable=True),
    sa.Column('previous_recorded_by', sa.String(length=254), nullable=False),
    sa.Column('previous_recorded_at', sa.DateTime(), nullable=False),
    sa.Column('changed_by', sa.String(length=254), nullable=False),
    sa.Column('changed_at', sa.DateTime(), nullable=False),
    sa.Column('import_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['import_id'], ['register_import.id'], name=op.f('fk_mark_change_import_id_register_import')),
    sa.ForeignKeyConstraint(['mark_id'], ['mark.id'], name=op.f('fk_mark_change_mark_id_mark')),
    sa.ForeignKeyConstraint(['previous_code_id'], ['mark_code.id'], name=op.f('fk_mark_change_previous_code_id_mark_code')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mark_change'))
    )
    with op.batch_alter_table('mark_change', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mark_change_mark_id'), ['mark_id'], unique=False)

    


def downgrade():
    
    with op.batch_alter_table('mark_change', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mark_change_mark_id'))

    op.drop_table('mark_change')
    with op.batch_alter_table('mark', schema=None) as batch_op:
        batch_op.drop_index('ix_mark_session_id')

    op.drop_table('mark')
    with op.batch_alter_table('session', schema=None) as batch_op:
        batch_op.drop_index('ix_session_programme_starts')

    op.drop_table('session')
    with op.batch_alter_table('programme_staff', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_programme_staff_user_id'))

    op.drop_table('programme_staff')
    with op.batch_alter_table('enrolment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_enrolment_programme_id'))
        batch_op.drop_index(batch_op.f('ix_enrolment_mentor_id'))
        batch_op.drop_index(batch_op.f('ix_enrolment_learner_id'))

    op.drop_table('enrolment')
    op.drop_table('staff_user_role')
    with op.batch_alter_table('programme', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_programme_policy_id'))

    op.drop_table('programme')
    op.drop_table('learner_account')
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contact_learner_id'))

    op.drop_table('contact')
    op.drop_table('staff_user')
    op.drop_table('register_import')
    op.drop_table('policy')
    op.drop_table('mark_code')
    op.drop_table('learner')
    
