"""Lifting the triggers that keep ``case_event`` and ``letter`` append-only (migration 0010), as
only the database's owner can: for emptying the tables after each test, and for the tamper tests'
attacker. Nothing in casework itself can: there is no switch in the database to flip.

PostgreSQL: the tables' triggers are disabled and enabled again inside the caller's transaction
(DDL is transactional there), so no other connection ever sees them off. SQLite has no way to
disable a trigger: they are dropped and recreated from the very SQL the migration stored.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, text

APPEND_ONLY = ("case_event", "letter")


@contextmanager
def lifted(connection: Connection) -> Iterator[None]:
    if connection.dialect.name == "postgresql":
        for table in APPEND_ONLY:
            connection.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
        yield
        # On an error the caller's rollback turns them back on.
        for table in APPEND_ONLY:
            connection.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))
        return
    names = ", ".join(f"'{t}'" for t in APPEND_ONLY)
    triggers = connection.execute(
        text(
            f"SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN ({names})"
        )
    ).all()
    for name, _sql in triggers:
        connection.execute(text(f"DROP TRIGGER {name}"))
    try:
        yield
    finally:
        for _name, sql in triggers:
            connection.execute(text(sql))
