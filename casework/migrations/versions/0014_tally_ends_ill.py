"""enrolment tallies say whether their last counted mark is an unevidenced illness absence

What an import appending marks after a tally needs to carry its illness pairs on instead of
recounting the year. Added empty (NULL: not known): an enrolment whose tally lacks it is recounted
on its next write, and `casework tallies repair` fills it for every tally.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 14:50:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('enrolment_tally', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ends_ill', sa.Boolean(), nullable=True))


def downgrade():
    with op.batch_alter_table('enrolment_tally', schema=None) as batch_op:
        batch_op.drop_column('ends_ill')
