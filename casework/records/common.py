"""What the record services share: role checks, field errors, committing against unique keys."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select
from sqlalchemy.exc import IntegrityError

from casework.errors import Forbidden, InvalidData
from casework.extensions import db
from casework.models import ProgrammeRole, ProgrammeStaff, Role, User
from casework.scope import linked_programmes


class FieldErrors(dict[str, list[str]]):
    """Problems collected field by field, so one answer names them all."""

    def add(self, field: str, message: str) -> None:
        self.setdefault(field, []).append(message)

    def raise_any(self) -> None:
        if self:
            raise InvalidData("Some of the data is missing or wrong.", errors=dict(self))


def invalid(field: str, message: str) -> InvalidData:
    return InvalidData(message, errors={field: [message]})


def require_role(actor: User, *roles: Role) -> None:
    if not (actor.active and any(actor.has_role(role) for role in roles)):
        words = " or ".join(role.label.lower() for role in roles)
        raise Forbidden(f"Only an {words} may do this.")


def administered_programmes(user: User) -> Select:
    """Ids of the programmes whose registers and learners ``user`` keeps."""
    return linked_programmes(user, ProgrammeRole.ADMINISTRATION)


def administers(user: User, programme_id: int) -> bool:
    """An administrator, or an administration officer of the programme."""
    if not user.active:
        return False
    if user.has_role(Role.ADMINISTRATOR):
        return True
    if not user.has_role(Role.ADMINISTRATION_OFFICER):
        return False
    linked = administered_programmes(user).where(ProgrammeStaff.programme_id == programme_id)
    return db.session.scalar(linked) is not None


def require_administers(user: User, programme_id: int) -> None:
    if not administers(user, programme_id):
        raise Forbidden(
            "Only an administrator or the programme's administration officer may do this."
        )


def apply(row: Any, changes: dict[str, Any], names: Iterable[str]) -> None:
    """Set the attributes of ``row`` named in ``names`` that ``changes`` gives."""
    for name in names:
        if name in changes:
            setattr(row, name, changes[name])


def commit(conflict_field: str, conflict_message: str) -> None:
    """Commit; a unique key taken by a concurrent request since it was checked is that
    field's error (checked before, so this is only the race), never a server error."""
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        raise invalid(conflict_field, conflict_message) from exc
