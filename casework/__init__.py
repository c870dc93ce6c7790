"""casework: learner attendance concerns run as cases."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from casework.paths import PACKAGE_DIR, templates_dir


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the casework Flask app. ``config`` overrides the environment (tests use it)."""
    from casework.api import init_api
    from casework.config import configure
    from casework.extensions import db, migrate
    from casework.machines import seal
    from casework.routing import IdConverter
    from casework.views import register_blueprints

    app = Flask(__name__, template_folder=str(templates_dir()), instance_relative_config=True)
    configure(app, config)
    app.url_map.converters["int"] = IdConverter
    db.init_app(app)
    seal.init_app(app)  # every audit event and letter sealed as it is inserted
    migrate.init_app(app, db, directory=str(PACKAGE_DIR / "migrations"))
    register_blueprints(app)
    init_api(app)

    from casework.cli import register_commands

    register_commands(app)
    return app
