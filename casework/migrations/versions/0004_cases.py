"""cases, audit events, occurrences, action plans, reviews, due items, letter jobs

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from alembic import op
import sqlalchemy as sa

from casework.models.types import UTCDateTime


# revision identifiers, used by Alembic.
revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "attendance_case",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enrolment_id", sa.Integer(), nullable=False),
        sa.Column("policy_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=40), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("opened_at", UTCDateTime(), nullable=False),
        sa.Column("opened_on", sa.Date(), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.Column("occurrence_count", sa.Integer(), nullable=False),
        sa.Column("decision_due_on", sa.Date(), nullable=True),
        sa.Column("circumstances", sa.Text(), nullable=True),
        sa.Column("safeguarding_flagged_at", UTCDateTime(), nullable=True),
        sa.Column("audit_head", sa.String(length=64), nullable=True),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["enrolment_id"],
            ["enrolment.id"],
            name=op.f("fk_attendance_case_enrolment_id_enrolment"),
        ),
        sa.ForeignKeyConstraint(
            ["policy_id"], ["policy.id"], name=op.f("fk_attendance_case_policy_id_policy")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attendance_case")),
    )
    with op.batch_alter_table("attendance_case", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_attendance_case_enrolment_id"), ["enrolment_id"], unique=False
        )
        batch_op.create_index(
            "uq_attendance_case_open_enrolment",
            ["enrolment_id"],
            unique=True,
            sqlite_where=sa.text("ended_at IS NULL"),
            postgresql_where=sa.text("ended_at IS NULL"),
        )

    op.create_table(
        "case_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("from_state", sa.String(length=40), nullable=True),
        sa.Column("to_state", sa.String(length=40), nullable=True),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor_label", sa.String(length=254), nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=True),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["staff_user.id"], name=op.f("fk_case_event_actor_id_staff_user")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["attendance_case.id"], name=op.f("fk_case_event_case_id_attendance_case")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_event")),
        sa.UniqueConstraint("case_id", "seq", name=op.f("uq_case_event_case_id_seq")),
    )
    op.create_table(
        "due_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enrolment_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column(
            "kind",
            sa.Enum(
                "decision",
                "plan_review",
                "panel",
                "rebook_one_to_one",
                "medical_certificate",
                name="due_kind",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("source_key", sa.String(length=80), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("done_at", UTCDateTime(), nullable=True),
        sa.Column("overdue_since", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["attendance_case.id"], name=op.f("fk_due_item_case_id_attendance_case")
        ),
        sa.ForeignKeyConstraint(
            ["enrolment_id"], ["enrolment.id"], name=op.f("fk_due_item_enrolment_id_enrolment")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_due_item")),
        sa.UniqueConstraint(
            "enrolment_id",
            "kind",
            "source_key",
            name=op.f("uq_due_item_enrolment_id_kind_source_key"),
        ),
    )
    with op.batch_alter_table("due_item", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_due_item_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_due_item_due_on"), ["due_on"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_due_item_enrolment_id"), ["enrolment_id"], unique=False
        )

    op.create_table(
        "action_plan",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("targets", sa.JSON(), nullable=False),
        sa.Column("support", sa.JSON(), nullable=False),
        sa.Column("review_dates", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["attendance_case.id"], name=op.f("fk_action_plan_case_id_attendance_case")
        ),
        sa.ForeignKeyConstraint(
            ["event_id"], ["case_event.id"], name=op.f("fk_action_plan_event_id_case_event")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_action_plan")),
    )
    with op.batch_alter_table("action_plan", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_action_plan_case_id"), ["case_id"], unique=False)

    op.create_table(
        "letter_job",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("template", sa.String(length=40), nullable=False),
        sa.Column("recipient_kind", sa.String(length=30), nullable=False),
        sa.Column("recipient_key", sa.String(length=40), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "rendered",
                "failed",
                name="letter_status",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["attendance_case.id"], name=op.f("fk_letter_job_case_id_attendance_case")
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contact.id"], name=op.f("fk_letter_job_contact_id_contact")
        ),
        sa.ForeignKeyConstraint(
            ["event_id"], ["case_event.id"], name=op.f("fk_letter_job_event_id_case_event")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_letter_job")),
        sa.UniqueConstraint(
            "event_id",
            "template",
            "recipient_key",
            name=op.f("uq_letter_job_event_id_template_recipient_key"),
        ),
    )
    with op.batch_alter_table("letter_job", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_letter_job_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_letter_job_status"), ["status"], unique=False)

    op.create_table(
        "occurrence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("detected_on", sa.Date(), nullable=False),
        sa.Column("absence_started_at", sa.DateTime(), nullable=True),
        sa.Column("first_mark_id", sa.Integer(), nullable=True),
        sa.Column("attendance_percent", sa.Double(), nullable=True),
        sa.Column("decision_due_on", sa.Date(), nullable=False),
        sa.Column("decided_by_event_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["attendance_case.id"], name=op.f("fk_occurrence_case_id_attendance_case")
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_event_id"],
            ["case_event.id"],
            name=op.f("fk_occurrence_decided_by_event_id_case_event"),
        ),
        sa.ForeignKeyConstraint(
            ["first_mark_id"],
            ["mark.id"],
            name=op.f("fk_occurrence_first_mark_id_mark"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_occurrence")),
        sa.UniqueConstraint("case_id", "number", name=op.f("uq_occurrence_case_id_number")),
    )
    op.create_table(
        "plan_review",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("reviewed_on", sa.Date(), nullable=False),
        sa.Column(
            "outcome",
            sa.Enum(
                "met",
                "partly_met",
                "not_met",
                name="review_outcome",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("recorded_by_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"], ["case_event.id"], name=op.f("fk_plan_review_event_id_case_event")
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["action_plan.id"], name=op.f("fk_plan_review_plan_id_action_plan")
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by_id"],
            ["staff_user.id"],
            name=op.f("fk_plan_review_recorded_by_id_staff_user"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_review")),
    )
    with op.batch_alter_table("plan_review", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_plan_review_plan_id"), ["plan_id"], unique=False)

    with op.batch_alter_table("enrolment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("approaching_threshold_since", sa.Date(), nullable=True))


    op.create_table(
        "scan_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("as_at", sa.Date(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scan_run")),
    )
    with op.batch_alter_table("scan_run", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_scan_run_as_at"), ["as_at"], unique=False)


def downgrade():
    op.drop_table("scan_run")
    with op.batch_alter_table("enrolment", schema=None) as batch_op:
        batch_op.drop_column("approaching_threshold_since")

    with op.batch_alter_table("plan_review", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_plan_review_plan_id"))

    op.drop_table("plan_review")
    op.drop_table("occurrence")
    with op.batch_alter_table("letter_job", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_letter_job_status"))
        batch_op.drop_index(batch_op.f("ix_letter_job_case_id"))

    op.drop_table("letter_job")
    with op.batch_alter_table("action_plan", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_action_plan_case_id"))

    op.drop_table("action_plan")
    with op.batch_alter_table("due_item", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_due_item_enrolment_id"))
        batch_op.drop_index(batch_op.f("ix_due_item_due_on"))
        batch_op.drop_index(batch_op.f("ix_due_item_case_id"))

    op.drop_table("due_item")
    op.drop_table("case_event")
    with op.batch_alter_table("attendance_case", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_attendance_case_open_enrolment",
            sqlite_where=sa.text("ended_at IS NULL"),
            postgresql_where=sa.text("ended_at IS NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_attendance_case_enrolment_id"))

    op.drop_table("attendance_case")
