"""Domain errors of the case service. Each has a stable ``kind`` that the API and pages map to
their own responses; the message is written for a member of staff."""

from __future__ import annotations

from typing import Any, ClassVar


class CaseError(Exception):
    kind: ClassVar[str] = "case_error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(CaseError):
    """No such case, or one outside the user's scope: the two look the same on purpose."""

    kind = "not_found"


class NotAllowed(CaseError):
    """The event cannot happen from the case's stage under its policy."""

    kind = "not_allowed"

    def __init__(self, message: str, *, allowed: list[str]) -> None:
        super().__init__(message, allowed=allowed)
        self.allowed = allowed


class Forbidden(CaseError):
    kind = "forbidden"


class GuardFailed(CaseError):
    kind = "guard_failed"


class InvalidData(CaseError):
    kind = "invalid_data"

    def __init__(self, message: str, *, errors: dict[str, Any]) -> None:
        super().__init__(message, errors=errors)
        self.errors = errors


class Stale(CaseError):
    """The case changed since the user loaded it."""

    kind = "stale"

    def __init__(self, message: str, *, current_version: int) -> None:
        super().__init__(message, current_version=current_version)
        self.current_version = current_version


class CaseOpen(CaseError):
    """A change only the enrolment's open case may make: ``event`` on case ``case_id``."""

    kind = "case_open"

    def __init__(self, message: str, *, case_id: int, event: str) -> None:
        super().__init__(message, case_id=case_id, event=event)
        self.case_id = case_id
        self.event = event


class IntegrityFailed(CaseError):
    """A stored record (a letter) no longer matches its hash or seal: it is never served."""

    kind = "integrity_failed"
