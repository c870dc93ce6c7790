"""Small SQL expressions that SQLite and PostgreSQL spell differently."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    ColumnElement,
    Date,
    DateTime,
    Enum,
    Float,
    Integer,
    Select,
    String,
    case,
    func,
    literal_column,
    select,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import GenericFunction
from sqlalchemy.sql.visitors import InternalTraversal

from casework.models.types import UTCDateTime


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


# --- a statement's rows as one JSON column of another ---------------------------------------------


class _ByDialect(ColumnElement[Any]):
    """One expression spelled two ways: SQLite's and PostgreSQL's."""

    inherit_cache = True
    _traverse_internals: ClassVar = [
        ("sqlite", InternalTraversal.dp_clauseelement),
        ("postgresql", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, sqlite: ColumnElement[Any], postgresql: ColumnElement[Any], type_) -> None:
        self.sqlite, self.postgresql, self.type = sqlite, postgresql, type_


@compiles(_ByDialect)
def _by_dialect(element, compiler, **kw):
    return compiler.process(getattr(element, compiler.dialect.name), **kw)


def _decoder(column_type) -> Callable[[Any], Any] | None:
    """How a value of ``column_type`` read back from JSON becomes what the column gives."""
    if isinstance(column_type, UTCDateTime):
        return lambda text: datetime.fromisoformat(text).replace(tzinfo=UTC)
    if isinstance(column_type, DateTime):
        return datetime.fromisoformat
    if isinstance(column_type, Date):
        return date.fromisoformat
    if isinstance(column_type, Enum) and column_type.enum_class is not None:
        return column_type.enum_class
    if isinstance(column_type, Boolean):
        return bool
    if isinstance(column_type, Float):
        return float  # SQLite's come as text (_sqlite_json_value)
    if isinstance(column_type, Integer | String | JSON):
        return None  # they come back as they went
    # A Decimal would come back a float, bytes not at all: say so when the statement is built.
    raise TypeError(f"JsonRows carries no {column_type!r} column")


def _sqlite_json_value(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """What SQLite's json_object is given for ``column`` so that it reads back unchanged."""
    if isinstance(column.type, JSON):
        return func.json(column)  # JSON is text in SQLite: embed it as JSON, not as a string
    if isinstance(column.type, Float):
        # json_object writes a REAL with 15 significant digits, which loses the last bits of
        # e.g. 76.92307692307692: 17 (the "!" flag lifts printf's own limit of 16) round-trip,
        # for any magnitude below about 1e105 (tests/test_sqlfuncs.py).
        return case((column.is_not(None), func.printf("%!.17g", column)))
    return column


class JsonRows:
    """The rows of ``statement`` (columns, not entities) carried as one JSON array in a column of
    another statement, and read back as rows with the values their columns give: a case read
    asks for its several small sets in one round trip instead of one each.

    The array's order is not kept (SQLite has no ORDER BY in an aggregate): ``key`` sorts the
    rows read back.
    """

    def __init__(self, name: str, statement: Select, key: Callable[[Any], Any]) -> None:
        columns = statement.subquery(name).c
        self.statement, self.key = statement, key
        self._keys = [c.key for c in columns]
        self._row = namedtuple(name, self._keys)  # type: ignore[misc]
        self._decoders = [(i, d) for i, c in enumerate(columns) if (d := _decoder(c.type))]

        def pairs(value: Callable[[Any], Any]) -> list[Any]:
            return [part for c in columns for part in (literal_column(f"'{c.key}'"), value(c))]

        sqlite = select(func.json_group_array(func.json_object(*pairs(_sqlite_json_value))))
        postgresql = select(
            func.coalesce(
                func.json_agg(func.json_build_object(*pairs(lambda c: c))),
                literal_column("'[]'::json"),
            )
        )
        self.column = _ByDialect(
            sqlite.scalar_subquery(), postgresql.scalar_subquery(), JSON()
        ).label(name)

    def rows(self, array: list[dict[str, Any]]) -> list[Any]:
        """The rows the JSON array read back holds, sorted by ``key``."""
        rows = []
        for item in array:
            values = [item[k] for k in self._keys]
            for i, decode in self._decoders:
                if values[i] is not None:
                    values[i] = decode(values[i])
            rows.append(self._row(*values))
        rows.sort(key=self.key)
        return rows
