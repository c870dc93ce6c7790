"""Hot reads outside a transaction: a resource marked ``reads_only`` has its GET's statements
run in autocommit on PostgreSQL, sparing the BEGIN before the first and the ROLLBACK after the
last (two round trips of a case read's nine, two of the case list's five). A read sees nothing
different: under READ COMMITTED every statement takes its own snapshot inside a transaction
too. SQLite begins no transaction for a read in any case."""

from __future__ import annotations

from flask import current_app, request

from casework.extensions import db

_READS = frozenset({"GET", "HEAD"})


def reads_only(resource: type) -> type:
    """Mark a resource (a MethodView) whose GET writes nothing, but for the token's
    once-a-minute note of its use (one statement, committed at once)."""
    resource.reads_only = True
    return resource


def begin_read() -> None:
    """At the start of an API request: a marked resource's GET reads in autocommit."""
    if request.method not in _READS:
        return
    view = current_app.view_functions.get(request.endpoint or "")
    if not getattr(getattr(view, "view_class", None), "reads_only", False):
        return
    # Not where the session is already in a transaction (a test's, sharing its app context):
    # the request then reads in that one, as any other.
    if db.engine.dialect.name == "postgresql" and not db.session().in_transaction():
        # Reverted when the connection goes back to the pool (SQLAlchemy resets it).
        db.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
