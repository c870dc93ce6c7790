"""The SQL expressions spelled per database, run on both: ``JsonRows`` carries a statement's rows
as JSON inside another and reads back exactly what the statement itself gives."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import (
    JSON,
    Column,
    Date,
    Float,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    literal,
    select,
)

from casework.extensions import db
from casework.models.types import UTCDateTime
from casework.sqlfuncs import JsonRows

# A table of the column types the case reads carry (temporary: the test's connection's own).
PROBE = Table(
    "json_rows_probe",
    MetaData(),
    Column("n", Integer, primary_key=True),
    Column("f", Float),
    Column("s", String),
    Column("d", Date),
    Column("at", UTCDateTime()),
    Column("data", JSON),
    prefixes=["TEMPORARY"],
)

values = {
    # SQLite's printf round-trips a double below about 1e105 (_sqlite_json_value): percentages
    # and counts are far inside that.
    "f": st.floats(-1e100, 1e100),
    # PostgreSQL's text holds no NUL; everything else, quotes and all, must come back.
    "s": st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00")),
    "d": st.dates(),
    "at": st.datetimes(datetime(1900, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC)),
    "data": st.dictionaries(st.text(max_size=5), st.integers(-(2**53), 2**53) | st.text()),
}
rows = st.lists(st.fixed_dictionaries({k: st.none() | v for k, v in values.items()}), max_size=4)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(items=rows)
def test_rows_read_back_as_the_statement_gives_them(app_context, items):
    connection = db.session.connection()
    PROBE.create(connection, checkfirst=True)
    connection.execute(PROBE.delete())
    if items:
        connection.execute(PROBE.insert(), [{"n": n, **item} for n, item in enumerate(items)])
    rows = JsonRows("t", select(PROBE), key=lambda r: r.n)
    (array,) = db.session.execute(select(rows.column)).one()
    direct = sorted(db.session.execute(rows.statement).all(), key=rows.key)
    assert [tuple(r) for r in rows.rows(array)] == [tuple(r) for r in direct]
    # The table gives back what went in, so the comparison above is of the real values.
    assert [tuple(r) for r in direct] == [
        (n, *(item[k] for k in values)) for n, item in enumerate(items)
    ]


def test_no_rows_read_back_as_none(app_context):
    connection = db.session.connection()
    PROBE.create(connection, checkfirst=True)
    rows = JsonRows("t", select(PROBE), key=lambda r: r.n)
    assert db.session.execute(select(rows.column)).scalar_one() == []


def test_a_column_it_could_not_give_back_unchanged_is_refused_when_built():
    with pytest.raises(TypeError, match="Numeric"):
        JsonRows("t", select(literal(1, Numeric(5, 2)).label("amount")), key=id)
