"""Creating and resetting the database. The schema only ever comes from the migrations."""

from __future__ import annotations

from flask import current_app
from flask_migrate import upgrade

from casework.extensions import db
from casework.reference import SyncReport, sync_reference_data


def init_database() -> SyncReport:
    upgrade(directory=current_app.extensions["migrate"].directory)
    return sync_reference_data()


def reset_database() -> SyncReport:
    """Drop every table (ours and Alembic's), then build afresh. For the demo and tests."""
    with db.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("DROP SCHEMA public CASCADE")
            connection.exec_driver_sql("CREATE SCHEMA public")
        else:
            db.metadata.drop_all(connection)
            connection.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    return init_database()
