"""The schema comes from the migrations, and matches the models, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select

from casework.extensions import db
from casework.models import MarkCode, Policy


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
