"""The JSON API for MIS integration, under /api/v1: flask-smorest blueprints over the same
service functions as the CLI and the pages, described by OpenAPI 3 at /api/v1/openapi.json
with browsable docs at /api/v1/docs."""

from __future__ import annotations

import http

from flask import Flask, send_from_directory
from flask_smorest import Api, Blueprint
from flask_smorest.utils import prepare_response
from swagger_ui_bundle import swagger_ui_path

from casework.api.auth import authenticate
from casework.api.jsonbody import init_json
from casework.api.problems import API_PREFIX, PROBLEM_JSON, PROBLEMS, ProblemSchema, case_problem
from casework.errors import CaseError
from casework.extensions import csrf

API_VERSION = "1.0.0"
_DOCS_ASSETS = f"{API_PREFIX}/docs/assets/"


class CaseworkApi(Api):
    """flask-smorest's Api, with errors documented (and sent) as problem details."""

    ERROR_SCHEMA = ProblemSchema

    def _register_error_handlers(self) -> None:
        # casework.views.errors owns the app's error handlers: problems for the API, pages for
        # people. flask-smorest's own would answer every page's 404 with JSON.
        pass

    def _register_pagination_header(self) -> None:
        # An HTTP header is a string: the metadata travels as JSON text, so say so (flask-smorest
        # documents it as an object, which schema checks of the header rightly fail).
        self.spec.components.header(
            "PAGINATION",
            {
                "description": "Pagination metadata as JSON: total, total_pages, first_page, "
                "last_page, page, previous_page, next_page.",
                "schema": {"type": "string"},
            },
            lazy=True,
        )

    def _register_responses(self) -> None:
        for status in http.HTTPStatus:
            response = {"description": status.phrase}
            if status >= 400:
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_JSON)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "A problem (RFC 9457)", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, PROBLEM_JSON)
        self.spec.components.response(self.DEFAULT_ERROR_RESPONSE_NAME, response, lazy=True)


def api_blueprint(name: str, description: str) -> Blueprint:
    """A blueprint of the API: every request needs a token, case errors become problems."""
    blp = Blueprint(name, __name__, url_prefix=API_PREFIX, description=description)
    blp.before_request(authenticate)
    blp.register_error_handler(CaseError, case_problem)
    return blp


def init_api(app: Flask) -> None:
    from casework.api import resources

    app.config.update(
        API_TITLE="casework",
        API_VERSION=API_VERSION,
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX=API_PREFIX,
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL=_DOCS_ASSETS,  # served from the package, never a CDN
        API_SPEC_OPTIONS={
            "info": {
                "description": (
                    "Registers in, cases and letters out. Every request needs an API token "
                    "(`casework create-token EMAIL`) as `Authorization: Bearer <token>`; it "
                    "acts with that user's roles and sees only what they may see. Errors are "
                    "problem details (RFC 9457) whose `type` names the kind of problem."
                )
            },
            "security": [{"bearerAuth": []}],
            "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
        },
    )
    init_json(app)  # every JSON body, the API's or not, is read within bounds
    api = CaseworkApi(app)
    for blp in resources.BLUEPRINTS:
        csrf.exempt(blp)  # bearer tokens, never cookies: no cross-site request can carry one
        api.register_blueprint(blp)
    resources.cases.document_events(api.spec)

    @app.get(f"{_DOCS_ASSETS}<path:filename>")
    def api_docs_asset(filename: str):
        return send_from_directory(swagger_ui_path, filename)

    @app.get(f"{API_PREFIX}/problems/<kind>")
    def api_problem_type(kind: str):
        from casework.api.problems import problem

        if kind not in PROBLEMS:
            return problem("not-found", f"There is no problem type {kind!r}.")
        status, title, meaning = PROBLEMS[kind]
        return {"type": kind, "title": title, "status": status, "meaning": meaning}
