"""letters recorded for email before casework sent email: on record as not sent

Before 0011 a letter whose recipient had an email address but no postal address was recorded
with channel "email" and shown to staff as one to send by hand ("sending is a later issue").
``casework send-due`` now emails every email letter job without an outbox message; without
this, the first run after the upgrade would email letters weeks old that staff may have sent
already. Each gets a cancelled outbox message saying why, so staff see it on the Messages page
and can still send it themselves.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 08:05:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

REASON = (
    "Recorded before casework sent letters by email, so not sent automatically: send it "
    "yourself if it is still needed."
)


def upgrade():
    job = sa.table(
        "letter_job",
        sa.column("id", sa.Integer),
        sa.column("case_id", sa.Integer),
        sa.column("template", sa.String),
        sa.column("recipient_kind", sa.String),
        sa.column("contact_id", sa.Integer),
        sa.column("channel", sa.String),
        sa.column("created_at", sa.DateTime),
    )
    case = sa.table(
        "attendance_case", sa.column("id", sa.Integer), sa.column("enrolment_id", sa.Integer)
    )
    enrolment = sa.table(
        "enrolment",
        sa.column("id", sa.Integer),
        sa.column("learner_id", sa.Integer),
        sa.column("programme_id", sa.Integer),
    )
    learner = sa.table(
        "learner",
        sa.column("id", sa.Integer),
        sa.column("given_name", sa.String),
        sa.column("family_name", sa.String),
        sa.column("email", sa.String),
    )
    contact = sa.table(
        "contact", sa.column("id", sa.Integer), sa.column("name", sa.String),
        sa.column("email", sa.String),
    )
    message = sa.table(
        "outbox_message",
        *(
            sa.column(name)
            for name in (
                "key", "kind", "channel", "programme_id", "learner_id", "contact_id",
                "recipient_kind", "recipient_name", "address", "subject", "body",
                "letter_job_id", "status", "due_at", "next_attempt_at", "attempts", "reason",
                "created_at",
            )
        ),
    )
    learner_name = learner.c.given_name + " " + learner.c.family_name
    title = sa.func.replace(job.c.template, "_", " ")
    old = (
        sa.select(
            sa.literal("letter:job:") + sa.cast(job.c.id, sa.String),
            sa.literal("letter"),
            sa.literal("email"),
            enrolment.c.programme_id,
            learner.c.id,
            job.c.contact_id,
            job.c.recipient_kind,
            sa.func.coalesce(contact.c.name, learner_name),
            sa.func.coalesce(contact.c.email, learner.c.email),
            sa.func.substr(title + ": " + learner_name, 1, 200),
            sa.literal("A letter about ") + learner_name + sa.literal(" (not sent: see reason)."),
            job.c.id,
            sa.literal("cancelled"),
            job.c.created_at,
            job.c.created_at,
            sa.literal(0),
            sa.literal(REASON),
            job.c.created_at,
        )
        .select_from(
            job.join(case, case.c.id == job.c.case_id)
            .join(enrolment, enrolment.c.id == case.c.enrolment_id)
            .join(learner, learner.c.id == enrolment.c.learner_id)
            .outerjoin(contact, contact.c.id == job.c.contact_id)
        )
        .where(job.c.channel == "email")
    )
    op.execute(message.insert().from_select([c.name for c in message.c], old))


def downgrade():
    op.execute(
        sa.text("DELETE FROM outbox_message WHERE kind = 'letter' AND reason = :reason").bindparams(
            reason=REASON
        )
    )
