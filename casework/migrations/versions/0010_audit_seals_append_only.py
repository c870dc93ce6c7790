"""audit seals and append-only events and letters

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01

Every audit event, stored letter and case chain head gets a seal: an HMAC keyed by a secret kept
outside the database (casework.machines.seal). Rows already there are sealed here, with the key
configured now (CASEWORK_AUDIT_KEY, else the instance folder's key file): the seal vouches for
them as they are at the upgrade, so run ``casework verify-audit`` before upgrading.

Then case_event and letter become append-only: triggers refuse every UPDATE and DELETE (and, on
PostgreSQL, TRUNCATE), except an UPDATE that only fills in a row's empty seal, which casework
does in the flush that inserts the row, once it has its id. Nothing else ever changes either
table: a letter re-rendered for a new template version is a new row.

The SQLite triggers name the columns there are now; a later migration that adds a column to
either table, or rebuilds one (a batch "move and copy" drops its triggers), must recreate them.
"""

from alembic import op
import sqlalchemy as sa

from casework.models.types import UTCDateTime


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

TABLES = ('case_event', 'letter')
_FUNCTION = """
CREATE FUNCTION casework_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        -- Filling in an empty seal, and nothing else, is the one change allowed.
        IF OLD.seal IS NULL AND NEW.seal IS NOT NULL
                AND to_jsonb(OLD) - 'seal' = to_jsonb(NEW) - 'seal' THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP;
END $$
"""


def upgrade():
    with op.batch_alter_table('attendance_case', schema=None) as batch_op:
        batch_op.add_column(sa.Column('audit_seal', sa.String(length=64), nullable=True))
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('seal', sa.String(length=64), nullable=True))
    _seal_existing(op.get_bind())
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(_FUNCTION)
        for table in TABLES:
            op.execute(
                f'CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}'
                ' FOR EACH ROW EXECUTE FUNCTION casework_append_only()'
            )
            # Row triggers never see a TRUNCATE.
            op.execute(
                f'CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}'
                ' FOR EACH STATEMENT EXECUTE FUNCTION casework_append_only()'
            )
    else:
        inspector = sa.inspect(op.get_bind())
        for table in TABLES:
            columns = [c['name'] for c in inspector.get_columns(table) if c['name'] != 'seal']
            unchanged = ' AND '.join(f'NEW.{c} IS OLD.{c}' for c in columns)
            op.execute(
                f'CREATE TRIGGER {table}_append_only_update BEFORE UPDATE ON {table}'
                f' WHEN NOT (OLD.seal IS NULL AND NEW.seal IS NOT NULL AND {unchanged})'
                f" BEGIN SELECT RAISE(ABORT, '{table} is append-only: UPDATE refused'); END"
            )
            op.execute(
                f'CREATE TRIGGER {table}_append_only_delete BEFORE DELETE ON {table}'
                f" BEGIN SELECT RAISE(ABORT, '{table} is append-only: DELETE refused'); END"
            )


def _seal_existing(bind):
    events = bind.execute(sa.text('SELECT id, case_id, seq, hash FROM case_event')).all()
    heads = bind.execute(
        sa.text(
            'SELECT id, enrolment_id, event_count, audit_head FROM attendance_case'
            ' WHERE audit_head IS NOT NULL'
        )
    ).all()
    letters = bind.execute(
        sa.text(
            'SELECT l.id, l.job_id, l.case_id, l.event_id, l.template, l.template_version,'
            ' l.recipient_kind, l.recipient_key, l.recipient_name, l.reference, l.sha256,'
            ' l.size, l.rendered_at, e.learner_id'
            ' FROM letter l JOIN attendance_case c ON c.id = l.case_id'
            ' JOIN enrolment e ON e.id = c.enrolment_id'
        ).columns(rendered_at=UTCDateTime())
    ).all()
    if not (events or heads or letters):
        return  # a new database: no key needed yet
    # The app's own seal functions and key, so what is sealed here is what it checks.
    from casework.machines.seal import audit_key, head_seal, seal_of_event, seal_of_letter

    key = audit_key()
    for table, rows in (
        ('case_event', [{'id': e.id, 'seal': seal_of_event(key, e)} for e in events]),
        ('letter', [{'id': x.id, 'seal': seal_of_letter(key, x, x.learner_id)} for x in letters]),
    ):
        if rows:
            bind.execute(sa.text(f'UPDATE {table} SET seal = :seal WHERE id = :id'), rows)
    if heads:
        bind.execute(
            sa.text('UPDATE attendance_case SET audit_seal = :seal WHERE id = :id'),
            [
                {
                    'id': h.id,
                    'seal': head_seal(
                        key,
                        case_id=h.id,
                        enrolment_id=h.enrolment_id,
                        event_count=h.event_count,
                        audit_head=h.audit_head,
                    ),
                }
                for h in heads
            ],
        )


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        for table in TABLES:
            op.execute(f'DROP TRIGGER {table}_append_only ON {table}')
            op.execute(f'DROP TRIGGER {table}_no_truncate ON {table}')
        op.execute('DROP FUNCTION casework_append_only()')
    else:
        for table in TABLES:
            op.execute(f'DROP TRIGGER {table}_append_only_update')
            op.execute(f'DROP TRIGGER {table}_append_only_delete')
    # In place (SQLite 3.35 or later): a batch rebuild of case_event would drop a table that
    # others' foreign keys point at.
    for table, column in (('letter', 'seal'), ('case_event', 'seal'), ('attendance_case', 'audit_seal')):
        op.execute(f'ALTER TABLE {table} DROP COLUMN {column}')
