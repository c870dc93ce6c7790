"""Blueprints for the web pages, and what they share: the design system's templates, sign-in,
CSRF protection, limits on failed sign-ins and the security headers."""

from __future__ import annotations

from datetime import date

from flask import Flask
from govuk_frontend_wtf.main import WTFormsHelpers
from jinja2 import ChoiceLoader, PackageLoader, PrefixLoader


def register_blueprints(app: Flask) -> None:
    from casework.extensions import csrf, limiter, login_manager
    from casework.views import (
        auth,
        cases,
        dashboard,
        health,
        home,
        learner,
        learners,
        letters,
        messages,
        registers,
        staff,
    )
    from casework.views.errors import register_error_handlers
    from casework.views.security import init_security

    # casework's templates first; the GOV.UK macros and form widgets under their own prefixes.
    app.jinja_loader = ChoiceLoader(
        [
            app.jinja_loader,
            PrefixLoader(
                {
                    "govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja"),
                    "govuk_frontend_wtf": PackageLoader("govuk_frontend_wtf"),
                }
            ),
        ]
    )
    WTFormsHelpers(app)
    app.add_template_filter(long_date)
    app.add_template_global(auth.landing)
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.sign_in"
    login_manager.login_message = "Sign in to see that page."
    login_manager.session_protection = "strong"
    init_security(app)

    for blueprint in (
        home.bp,
        health.bp,
        auth.bp,
        dashboard.bp,
        staff.bp,
        cases.bp,
        learners.bp,
        registers.bp,
        letters.bp,
        messages.bp,
        learner.bp,
    ):
        app.register_blueprint(blueprint)
    register_error_handlers(app)


def long_date(value: str | date) -> str:
    """A day as people write it: 7 September 2026 (the schemas give ISO dates)."""
    day = date.fromisoformat(value) if isinstance(value, str) else value
    return f"{day.day} {day:%B %Y}"
