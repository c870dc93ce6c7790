"""Learners and their contacts (parents and carers, employers, main schools).

Administrators see every learner; anyone else the learners with an enrolment they may see
(casework.scope.visible_enrolments). Administrators add learners; an administration officer adds
one only with their first enrolment (so never one they could not then see), and changes the
learners enrolled on a programme they keep.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, exists, func, or_, select

from casework import scope
from casework.errors import Forbidden, NotFound
from casework.extensions import db
from casework.models import Contact, Enrolment, Learner, Role, User
from casework.records.common import (
    FieldErrors,
    administered_programmes,
    apply,
    commit,
    invalid,
    require_role,
)

WRITERS = (Role.ADMINISTRATOR, Role.ADMINISTRATION_OFFICER)
LEARNER_FIELDS = (
    "learner_ref",
    "given_name",
    "family_name",
    "preferred_name",
    "date_of_birth",
    "email",
    "phone",
    "address",
    "postcode",
)
CONTACT_FIELDS = (
    "kind",
    "name",
    "relationship_to_learner",
    "email",
    "phone",
    "address",
    "postcode",
    "receives_letters",
    "notify_by_sms",
    "notify_by_email",
)


def visible_learners(user: User) -> Select[tuple[Learner]]:
    query = select(Learner)
    if user.active and user.has_role(Role.ADMINISTRATOR):
        return query
    enrolled = scope.visible_enrolments(user).with_only_columns(Enrolment.learner_id)
    return query.where(Learner.id.in_(enrolled))


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped.lower()}%"


def list_learners(
    user: User,
    *,
    programme_id: int | None = None,
    mentor_id: int | None = None,
    learner_ref: str | None = None,
    q: str | None = None,
) -> Select[tuple[Learner]]:
    """Learners ``user`` may see, by family and given name. ``programme_id`` and ``mentor_id``
    match one enrolment (on that programme, with that mentor); ``q`` is part of a name."""
    query = visible_learners(user).order_by(Learner.family_name, Learner.given_name, Learner.id)
    if programme_id is not None or mentor_id is not None:
        enrolled = scope.visible_enrolments(user).with_only_columns(Enrolment.learner_id)
        if programme_id is not None:
            enrolled = enrolled.where(Enrolment.programme_id == programme_id)
        if mentor_id is not None:
            enrolled = enrolled.where(Enrolment.mentor_id == mentor_id)
        query = query.where(Learner.id.in_(enrolled))
    if learner_ref is not None:
        query = query.where(Learner.learner_ref == learner_ref)
    if q:
        pattern = _like(q)
        query = query.where(
            or_(
                *(
                    func.lower(column).like(pattern, escape="\\")
                    for column in (Learner.given_name, Learner.family_name, Learner.preferred_name)
                ),
                func.lower(Learner.given_name + " " + Learner.family_name).like(
                    pattern, escape="\\"
                ),
            )
        )
    return query


def learner_for(user: User, learner_id: int) -> Learner:
    learner = db.session.scalars(
        visible_learners(user).where(Learner.id == learner_id)
    ).one_or_none()
    if learner is None:
        raise NotFound(f"There is no learner {learner_id}.")
    return learner


def _require_writer(actor: User, learner: Learner) -> None:
    """An administrator, or an administration officer of a programme the learner is on."""
    require_role(actor, *WRITERS)
    if actor.has_role(Role.ADMINISTRATOR):
        return
    kept = select(Enrolment.id).where(
        Enrolment.learner_id == learner.id,
        Enrolment.programme_id.in_(administered_programmes(actor)),
    )
    if not db.session.scalar(select(exists(kept))):
        raise Forbidden(
            "Only an administrator or an administration officer of the learner's programme "
            "may do this."
        )


def ref_taken_message(learner_ref: str) -> str:
    return f"There is already a learner {learner_ref}."


def _ref_taken(learner_ref: str, learner_id: int | None = None) -> str | None:
    query = select(Learner.id).where(Learner.learner_ref == learner_ref)
    if learner_id is not None:
        query = query.where(Learner.id != learner_id)
    if db.session.scalar(query) is not None:
        return ref_taken_message(learner_ref)
    return None


def new_learner(
    values: dict[str, Any], errors: FieldErrors, *, field: str | None = None
) -> Learner:
    """A learner made from ``values``, not yet added to the session. A reference already
    taken is an error on ``learner_ref`` (within ``field``, where the learner's fields are one
    field of a larger request, as the schema nests its own errors)."""
    if taken := _ref_taken(values["learner_ref"]):
        if field is None:
            errors.add("learner_ref", taken)
        else:
            errors[field] = {"learner_ref": [taken]}
    learner = Learner()
    apply(learner, values, LEARNER_FIELDS)
    return learner


def create_learner(actor: User, values: dict[str, Any]) -> Learner:
    """A new learner, not enrolled yet: administrators only. Nobody else could see them until
    they are enrolled, so an administration officer adds a learner with their first enrolment
    (casework.records.enrolments.create_enrolment), never on their own."""
    if not (actor.active and actor.has_role(Role.ADMINISTRATOR)):
        raise Forbidden(
            "Only an administrator may add a learner on their own; an administration officer "
            "adds one with their first enrolment (a new enrolment's learner)."
        )
    errors = FieldErrors()
    learner = new_learner(values, errors)
    errors.raise_any()
    db.session.add(learner)
    commit("learner_ref", ref_taken_message(values["learner_ref"]))
    return learner


def update_learner(actor: User, learner_id: int, changes: dict[str, Any]) -> Learner:
    learner = learner_for(actor, learner_id)
    _require_writer(actor, learner)
    ref = changes.get("learner_ref")
    if ref is not None and (taken := _ref_taken(ref, learner.id)):
        raise invalid("learner_ref", taken)
    apply(learner, changes, LEARNER_FIELDS)
    commit("learner_ref", ref_taken_message(learner.learner_ref))
    return learner


def list_contacts(user: User, learner_id: int) -> Select[tuple[Contact]]:
    learner = learner_for(user, learner_id)
    return select(Contact).where(Contact.learner_id == learner.id).order_by(Contact.id)


def contact_for(user: User, contact_id: int) -> Contact:
    contact = db.session.scalars(
        select(Contact).where(
            Contact.id == contact_id,
            Contact.learner_id.in_(visible_learners(user).with_only_columns(Learner.id)),
        )
    ).one_or_none()
    if contact is None:
        raise NotFound(f"There is no contact {contact_id}.")
    return contact


def _check_contact(values: dict[str, Any]) -> None:
    """Notifications need somewhere to go."""
    errors = FieldErrors()
    if values.get("notify_by_sms") and not values.get("phone"):
        errors.add("notify_by_sms", "Give a phone number to notify by SMS.")
    if values.get("notify_by_email") and not values.get("email"):
        errors.add("notify_by_email", "Give an email address to notify by email.")
    errors.raise_any()


def create_contact(actor: User, learner_id: int, values: dict[str, Any]) -> Contact:
    learner = learner_for(actor, learner_id)
    _require_writer(actor, learner)
    _check_contact(values)
    contact = Contact(learner=learner)
    apply(contact, values, CONTACT_FIELDS)
    db.session.add(contact)
    db.session.commit()
    return contact


def update_contact(actor: User, contact_id: int, changes: dict[str, Any]) -> Contact:
    contact = contact_for(actor, contact_id)
    _require_writer(actor, contact.learner)
    _check_contact({name: getattr(contact, name) for name in CONTACT_FIELDS} | changes)
    apply(contact, changes, CONTACT_FIELDS)
    db.session.commit()
    return contact
