"""Emptying the database between tests: everything but the reference data that init-db loads."""

from __future__ import annotations

from sqlalchemy import select, text

from casework.extensions import db
from casework.models import Policy
from casework.policies import load_policies
from casework.reference import sync_reference_data
from tests.append_only import lifted

# Reference data loaded by init-db; every other table is emptied.
KEEP_TABLES = {"mark_code", "policy", "alembic_version"}
SHIPPED_POLICIES = {p.rules.key: p.sha256 for p in load_policies()}


def empty_database() -> None:
    """Empty every table but the reference data, in the current app context. The session is
    removed first: its open transaction would hold locks the emptying waits for."""
    db.session.rollback()
    db.session.remove()
    tables = [t.name for t in reversed(db.metadata.sorted_tables) if t.name not in KEEP_TABLES]
    # The audit events and letters are append-only: emptying them takes lifting the
    # triggers, as the database's owner can (tests.append_only), for this transaction only.
    with db.engine.begin() as connection, lifted(connection):
        if connection.dialect.name == "postgresql":
            connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for name in tables:
                connection.execute(text(f"DELETE FROM {name}"))
    # The policies are kept between tests; one the test changed (the demo fills in its
    # letterheads) goes back to its shipped file's version.
    stored = dict(db.session.execute(select(Policy.key, Policy.sha256)).all())
    if stored != SHIPPED_POLICIES:
        sync_reference_data()
