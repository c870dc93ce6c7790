"""The API's resources, one module each; ``BLUEPRINTS`` is what the app registers."""

from casework.api.resources import (
    cases,
    enrolments,
    learners,
    letters,
    marks,
    programmes,
    scan,
    sessions,
)

BLUEPRINTS = [
    programmes.blp,
    learners.blp,
    enrolments.blp,
    sessions.blp,
    marks.blp,
    cases.blp,
    letters.blp,
    scan.blp,
]
