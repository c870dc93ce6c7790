"""Programmes: each under one policy, with its heads of programme and administration officers.

Administrators create and change them. Others see the programmes they are linked to in the role
they hold (head, administration officer) and those where they mentor an enrolment.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, false, or_, select
from sqlalchemy.orm import selectinload

from casework.errors import NotFound
from casework.extensions import db
from casework.models import (
    Enrolment,
    Policy,
    Programme,
    ProgrammeRole,
    ProgrammeStaff,
    Role,
    User,
)
from casework.records.common import (
    FieldErrors,
    apply,
    commit,
    invalid,
    require_administers,
    require_role,
)
from casework.scope import linked_programmes

# The programme role each list of staff fills, and the user role it needs.
STAFF_FIELDS = {
    "head_of_programme_ids": (ProgrammeRole.HEAD, Role.HEAD_OF_PROGRAMME),
    "administration_officer_ids": (ProgrammeRole.ADMINISTRATION, Role.ADMINISTRATION_OFFICER),
}


def visible_programmes(user: User) -> Select[tuple[Programme]]:
    """A query of the programmes ``user`` may see (and whose sessions they may see)."""
    query = select(Programme)
    if not user.active:
        return query.where(false())
    if user.has_role(Role.ADMINISTRATOR):
        return query
    conditions = []
    for programme_role, role in STAFF_FIELDS.values():
        if user.has_role(role):
            conditions.append(Programme.id.in_(linked_programmes(user, programme_role)))
    if user.has_role(Role.TUTOR_MENTOR):
        mentored = select(Enrolment.programme_id).where(Enrolment.mentor_id == user.id)
        conditions.append(Programme.id.in_(mentored))
    return query.where(or_(*conditions)) if conditions else query.where(false())


def _loaded(query: Select) -> Select:
    return query.options(
        selectinload(Programme.policy),
        selectinload(Programme.staff_links).selectinload(ProgrammeStaff.user),
    )


def list_programmes(user: User, *, policy: str | None = None) -> Select[tuple[Programme]]:
    """The programmes ``user`` may see, by code; ``policy`` is a policy key."""
    query = _loaded(visible_programmes(user)).order_by(Programme.code, Programme.id)
    if policy is not None:
        query = query.join(Programme.policy).where(Policy.key == policy)
    return query


def programme_for(user: User, programme_id: int) -> Programme:
    programme = db.session.scalars(
        _loaded(visible_programmes(user)).where(Programme.id == programme_id)
    ).one_or_none()
    if programme is None:
        raise NotFound(f"There is no programme {programme_id}.")
    return programme


def programme_to_administer(actor: User, programme_id: int) -> Programme:
    """The programme a new enrolment or session is for: one the actor sees (else invalid data,
    naming the field) and keeps the registers of (else forbidden)."""
    require_role(actor, Role.ADMINISTRATOR, Role.ADMINISTRATION_OFFICER)
    programme = db.session.scalars(
        visible_programmes(actor).where(Programme.id == programme_id)
    ).one_or_none()
    if programme is None:
        raise invalid("programme_id", f"There is no programme {programme_id}.")
    require_administers(actor, programme.id)
    return programme


def staff_of(programme: Programme, programme_role: ProgrammeRole) -> list[User]:
    links = [link for link in programme.staff_links if link.role == programme_role]
    return sorted((link.user for link in links), key=lambda user: user.id)


def _staff(errors: FieldErrors, field: str, ids: Iterable[int]) -> list[User]:
    """The users named, each checked to exist and to hold the role the list needs."""
    _, role = STAFF_FIELDS[field]
    wanted = list(dict.fromkeys(ids))
    found = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(wanted)))}
    for user_id in wanted:
        user = found.get(user_id)
        if user is None:
            errors.add(field, f"There is no user {user_id}.")
        elif not user.has_role(role):
            errors.add(field, f"User {user_id} is not {role.label.lower()}.")
    return [found[i] for i in wanted if i in found]


def _set_staff(programme: Programme, programme_role: ProgrammeRole, users: list[User]) -> None:
    """Make ``users`` the programme's staff in ``programme_role``, keeping links that stay."""
    wanted = {user.id: user for user in users}
    kept = [
        link
        for link in programme.staff_links
        if link.role != programme_role or link.user_id in wanted
    ]
    linked = {link.user_id for link in kept if link.role == programme_role}
    added = [
        ProgrammeStaff(user=user, role=programme_role)
        for user_id, user in wanted.items()
        if user_id not in linked
    ]
    programme.staff_links = kept + added


def create_programme(
    actor: User,
    *,
    code: str,
    title: str,
    policy: str,
    head_of_programme_ids: Iterable[int] = (),
    administration_officer_ids: Iterable[int] = (),
) -> Programme:
    require_role(actor, Role.ADMINISTRATOR)
    errors = FieldErrors()
    if db.session.scalar(select(Programme.id).where(Programme.code == code)) is not None:
        errors.add("code", f"There is already a programme {code}.")
    policy_row = db.session.scalar(select(Policy).where(Policy.key == policy))
    if policy_row is None:
        errors.add("policy", f"There is no policy {policy}.")
    staff = {
        field: _staff(errors, field, ids)
        for field, ids in (
            ("head_of_programme_ids", head_of_programme_ids),
            ("administration_officer_ids", administration_officer_ids),
        )
    }
    errors.raise_any()
    programme = Programme(code=code, title=title, policy=policy_row)
    for field, users in staff.items():
        _set_staff(programme, STAFF_FIELDS[field][0], users)
    db.session.add(programme)
    commit("code", f"There is already a programme {code}.")
    return programme


def update_programme(actor: User, programme_id: int, changes: dict[str, Any]) -> Programme:
    """Change the title or replace the lists of heads and administration officers."""
    programme = programme_for(actor, programme_id)
    require_role(actor, Role.ADMINISTRATOR)
    errors = FieldErrors()
    staff = {
        field: _staff(errors, field, changes[field]) for field in STAFF_FIELDS if field in changes
    }
    errors.raise_any()
    apply(programme, changes, ["title"])
    for field, users in staff.items():
        _set_staff(programme, STAFF_FIELDS[field][0], users)
    commit("_schema", "The programme changed while this was saved; try again.")
    return programme
