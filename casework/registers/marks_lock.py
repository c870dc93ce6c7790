"""The lock that keeps a scan and a marks import apart on PostgreSQL.

The nightly scan reads the marks in several statements (figures, absence periods, 1-2-1s,
illness runs); at READ COMMITTED an import committed between two of them would be seen by some
and not others. So each takes a transaction-level advisory lock, the scan exclusively (one scan
at a time, and no import while it reads) and an import shared (imports may overlap each other).
SQLite needs none: each takes its write lock with its first write (the scan's run row, the
import's batch row) and holds it to commit, and no read of the scan's comes before that write.
"""

from __future__ import annotations

from sqlalchemy import text

from casework.extensions import db

_KEY = "hashtext('casework-scan')"  # the scan's key since before imports took it too


def lock_marks_for_scan() -> None:
    """Wait until no scan or import holds the marks; hold them until this transaction ends."""
    _take(f"SELECT pg_advisory_xact_lock({_KEY})")


def lock_marks_for_import() -> None:
    """Wait until no scan holds the marks; keep scans out until this transaction ends."""
    _take(f"SELECT pg_advisory_xact_lock_shared({_KEY})")


def _take(statement: str) -> None:
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text(statement))
