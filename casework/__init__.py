"""casework: learner attendance concerns run as cases."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

PACKAGE_DIR = Path(__file__).resolve().parent


def templates_dir() -> Path:
    # Installed wheels carry templates inside the package; a source checkout keeps them at the top.
    shipped = PACKAGE_DIR / "templates"
    return shipped if shipped.is_dir() else PACKAGE_DIR.parent / "templates"


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the casework Flask app. ``config`` overrides the environment (tests use it)."""
    from casework.api import init_api
    from casework.config import configure
    from casework.extensions import db, migrate
    from casework.routing import IdConverter
    from casework.views import register_blueprints

    app = Flask(__name__, template_folder=str(templates_dir()), instance_relative_config=True)
    configure(app, config)
    app.url_map.converters["int"] = IdConverter
    db.init_app(app)
    migrate.init_app(app, db, directory=str(PACKAGE_DIR / "migrations"))
    register_blueprints(app)
    init_api(app)

    from casework.cli import register_commands

    register_commands(app)
    return app
