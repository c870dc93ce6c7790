"""Schemathesis fuzzes every operation of the API's own OpenAPI, authenticated, against a real
database holding a case with letters: no server errors, no response that breaks the schema.

One test per operation (the operations are read from the app's spec at collection), each drawing
examples from schemathesis' strategy for it. (Schemathesis' lazy pytest fixture loader does not
work with pytest 9, so the strategy is used directly, as its docs show for custom runners.)
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import given
from schemathesis.checks import positive_data_acceptance

from casework import create_app
from casework.tokens import create_token
from tests.api.conftest import FUZZING

SPEC = "/api/v1/openapi.json"


def _labels() -> list[str]:
    # The spec does not depend on the database: an app on an unused in-memory one serves it.
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "TESTING": True})
    schema = schemathesis.openapi.from_wsgi(SPEC, app)
    return sorted(result.ok().label for result in schema.get_all_operations())


@pytest.mark.parametrize("label", _labels())
def test_every_operation_holds_to_its_schema(app, opened, label):
    t, _ = opened
    _, secret = create_token(email=t.admin.email, name="schemathesis")
    operation = schemathesis.openapi.from_wsgi(SPEC, app).find_operation_by_label(label)
    auth = {"Authorization": f"Bearer {secret}"}

    @given(case=operation.as_strategy())
    @FUZZING
    def fuzz(case):
        # Not "positive data acceptance": rules across fields or against the database (a session
        # ends after it starts, a mentor exists) are beyond JSON Schema, and are 422s by design.
        case.call_and_validate(headers=auth, excluded_checks=[positive_data_acceptance])

    fuzz()
