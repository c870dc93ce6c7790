"""Small SQL expressions that SQLite and PostgreSQL spell differently."""

from __future__ import annotations

from sqlalchemy import Date, Float
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import GenericFunction


class minutes_between(GenericFunction):
    """Minutes from the first datetime to the second."""

    type = Float()
    inherit_cache = True


class date_of(GenericFunction):
    """The calendar date of a datetime."""

    type = Date()
    inherit_cache = True


@compiles(minutes_between, "sqlite")
def _minutes_between_sqlite(element, compiler, **kw):
    start, end = element.clauses
    # julianday() is a float of days: round to whole seconds, or 30 minutes reads as 29.99999.
    return (
        f"(ROUND((julianday({compiler.process(end, **kw)}) - "
        f"julianday({compiler.process(start, **kw)})) * 86400.0) / 60.0)"
    )


@compiles(minutes_between, "postgresql")
def _minutes_between_pg(element, compiler, **kw):
    start, end = element.clauses
    return (
        f"(EXTRACT(EPOCH FROM ({compiler.process(end, **kw)} - "
        f"{compiler.process(start, **kw)})) / 60.0)"
    )


@compiles(date_of, "sqlite")
def _date_of_sqlite(element, compiler, **kw):
    return f"date({compiler.process(element.clauses, **kw)})"


@compiles(date_of, "postgresql")
def _date_of_pg(element, compiler, **kw):
    return f"CAST({compiler.process(element.clauses, **kw)} AS DATE)"
