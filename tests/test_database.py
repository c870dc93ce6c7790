"""The schema comes from the migrations, and matches the models, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import current_app
from flask_migrate import downgrade, upgrade
from sqlalchemy import func, inspect, select

from casework.extensions import db
from casework.messages.sender import send_due
from casework.models import (
    LetterApproval,
    LetterJob,
    MarkCode,
    MessageChannel,
    MessageStatus,
    OutboxMessage,
    Policy,
)
from tests.api.conftest import opened  # noqa: F401  (a case the scan opened, with letter jobs)


def test_migrated_schema_matches_the_models(app_context):
    with db.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), db.metadata)
    assert differences == []


def test_reference_data_is_loaded(app_context):
    assert db.session.scalar(select(func.count()).select_from(Policy)) == 5
    codes = db.session.scalar(select(func.count()).select_from(MarkCode))
    assert codes == 34 + 7  # statutory set and the plain FE set


def test_init_db_is_repeatable(runner):
    result = runner.invoke(args=["init-db"])
    assert result.exit_code == 0, result.output
    assert "0 mark codes added, 0 policies added, 0 updated" in result.output


def test_the_letter_approval_migration_goes_down_and_up_again(app_context, opened):  # noqa: F811
    """0009 down and up again on a database with letter jobs: every job keeps its row, and comes
    back as needing no approval (a job recorded before 0009 had gone out)."""
    _t, case = opened
    job = db.session.scalars(select(LetterJob).where(LetterJob.case_id == case.id)).first()
    job.approval = LetterApproval.AWAITING
    job_id = job.id
    db.session.commit()
    jobs = db.session.scalar(select(func.count()).select_from(LetterJob))
    directory = current_app.extensions["migrate"].directory
    db.session.remove()
    try:
        downgrade(directory=directory, revision="0008")
        with db.engine.connect() as connection:
            columns = {c["name"] for c in inspect(connection).get_columns("letter_job")}
        assert "approval" not in columns and "approval_event_id" not in columns
    finally:
        upgrade(directory=directory)
    assert db.session.scalar(select(func.count()).select_from(LetterJob)) == jobs
    assert db.session.get(LetterJob, job_id).approval == LetterApproval.NOT_NEEDED
    with db.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), db.metadata)
    assert differences == []


def test_letters_recorded_for_email_before_the_outbox_are_not_emailed_after_it(
    app_context,
    opened,  # noqa: F811
):
    """0012: an email letter job recorded before casework sent email gets a cancelled message
    saying why (staff may have sent it by hand), so the first send-due emails nothing old."""
    _t, case = opened
    job = db.session.scalars(select(LetterJob).where(LetterJob.case_id == case.id)).first()
    job.channel = "email"
    case.enrolment.learner.email = "sam@example.org"
    job_id, programme_id = job.id, case.enrolment.programme_id
    db.session.commit()
    directory = current_app.extensions["migrate"].directory
    db.session.remove()
    try:
        downgrade(directory=directory, revision="0011")
    finally:
        upgrade(directory=directory)

    (message,) = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.letter_job_id == job_id)
    )
    assert (message.key, message.status, message.channel) == (
        f"letter:job:{job_id}",
        MessageStatus.CANCELLED,
        MessageChannel.EMAIL,
    )
    assert message.reason.startswith("Recorded before casework sent letters by email")
    assert message.programme_id == programme_id
    assert send_due().sent == 0
    assert db.session.get(OutboxMessage, message.id).status == MessageStatus.CANCELLED
