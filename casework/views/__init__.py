"""Blueprints for the web pages."""

from __future__ import annotations

from flask import Flask


def register_blueprints(app: Flask) -> None:
    from casework.views.errors import register_error_handlers
    from casework.views.home import bp as home_bp

    app.register_blueprint(home_bp)
    register_error_handlers(app)
