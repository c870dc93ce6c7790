"""The app's error handlers: a person gets a plain page, an API client a problem (RFC 9457);
nobody ever sees a stack trace."""

from __future__ import annotations

from flask import Flask, render_template
from flask_wtf.csrf import CSRFError
from werkzeug import exceptions as http
from werkzeug.exceptions import HTTPException, InternalServerError

from casework.api.problems import http_problem, is_api_request, problem, size_limit_words
from casework.errors import CaseError, Forbidden, IntegrityFailed, NotFound


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if is_api_request():
            return http_problem(error)
        if error.code == 413:
            error.description = (
                f"What you sent is larger than casework takes ({size_limit_words()} at most). "
                "Go back and send less at a time: a register file split into smaller files, "
                "for example."
            )
        return render_template("errors.html", error=error), error.code

    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError):
        error.description = (
            "The form could not be sent: it was open too long, or did not come from casework. "
            "Go back, reload the page and try again."
        )
        return render_template("errors.html", error=error), error.code

    @app.errorhandler(CaseError)
    def case_error(error: CaseError):
        # A page's refusal the view did not turn into a form's errors: outside the user's
        # scope is a 404, a step they may not take a 403, anything else a conflict, in words.
        if isinstance(error, NotFound):
            page_error: HTTPException = http.NotFound()
        elif isinstance(error, Forbidden):
            page_error = http.Forbidden(error.message)
        else:
            page_error = http.Conflict(error.message)
        if isinstance(error, IntegrityFailed):  # logged where it was found
            page_error.heading = "This letter cannot be shown"  # type: ignore[attr-defined]
        return render_template("errors.html", error=page_error), page_error.code

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception):
        app.logger.exception("unhandled error")
        if is_api_request():
            return problem("server-error")
        return render_template("errors.html", error=InternalServerError()), 500
