"""mark history trigger: every change to a mark keeps its previous version in mark_change

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22

A trigger rather than application code, so no write path (import, API, pages) can lose history.
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_CHANGED = (
    "OLD.code_id {ne} NEW.code_id OR OLD.minutes_late {ne} NEW.minutes_late"
    " OR OLD.absence_reason {ne} NEW.absence_reason OR OLD.evidence_ref {ne} NEW.evidence_ref"
)
_INSERT = """
    INSERT INTO mark_change (
        mark_id, previous_code_id, previous_minutes_late, previous_absence_reason,
        previous_evidence_ref, previous_recorded_by, previous_recorded_at,
        changed_by, changed_at, import_id)
    VALUES (
        OLD.id, OLD.code_id, OLD.minutes_late, OLD.absence_reason,
        OLD.evidence_ref, OLD.recorded_by, OLD.recorded_at,
        NEW.recorded_by, NEW.recorded_at, NEW.import_id);
"""


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION mark_keep_history() RETURNS trigger LANGUAGE plpgsql AS $$\n"
            f"BEGIN {_INSERT} RETURN NULL; END $$"
        )
        op.execute(
            "CREATE TRIGGER mark_keep_history AFTER UPDATE ON mark FOR EACH ROW"
            f" WHEN ({_CHANGED.format(ne='IS DISTINCT FROM')})"
            " EXECUTE FUNCTION mark_keep_history()"
        )
    else:
        op.execute(
            "CREATE TRIGGER mark_keep_history AFTER UPDATE ON mark FOR EACH ROW"
            f" WHEN {_CHANGED.format(ne='IS NOT')} BEGIN {_INSERT} END"
        )


def downgrade():
    op.execute("DROP TRIGGER mark_keep_history" + (
        " ON mark" if op.get_bind().dialect.name == "postgresql" else ""
    ))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION mark_keep_history()")
