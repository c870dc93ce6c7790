"""Alembic environment: runs inside the Flask app, on the app's own engine."""

from __future__ import annotations

from alembic import context
from flask import current_app

import casework.models  # noqa: F401  (registers every table for autogenerate)

target_db = current_app.extensions["migrate"].db


def run_migrations_offline() -> None:
    context.configure(
        url=target_db.engine.url.render_as_string(hide_password=False),
        target_metadata=target_db.metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    def skip_empty(context_, revision, directives):
        # An autogenerate that found no change writes no empty revision file.
        if (
            getattr(context.config.cmd_opts, "autogenerate", False)
            and directives[0].upgrade_ops.is_empty()
        ):
            directives[:] = []

    with target_db.engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_db.metadata,
            process_revision_directives=skip_empty,
            render_as_batch=True,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
