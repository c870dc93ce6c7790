"""Who sees what and may act on what, as queries and checks (docs/workflow.md, "Who sees and
does what").

Every read of cases goes through ``visible_cases``; a case outside a user's scope is reported as
not found, never as forbidden, so its existence does not leak.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import Any, Final

from sqlalchemy import Select, bindparam, false, or_, select
from sqlalchemy.orm.interfaces import ORMOption

from casework.errors import NotFound
from casework.extensions import db
from casework.models import (
    Case,
    Enrolment,
    Letter,
    OutboxMessage,
    ProgrammeRole,
    ProgrammeStaff,
    Role,
    User,
)


class ScanActor:
    """The nightly scan as the actor of a case event: it has no user, no scope and one part
    ("scan"), which a policy may give the open event alone."""

    _instance: ScanActor | None = None

    def __new__(cls) -> ScanActor:  # one scan actor: ``actor is SCAN`` always holds
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "SCAN"


SCAN: Final = ScanActor()
# Who acts on a case: a member of staff or the nightly scan (never None).
Actor = User | ScanActor


def linked_programmes(user: User, role: ProgrammeRole) -> Select:
    """Ids of the programmes ``user`` is linked to in ``role`` (leads, or keeps registers of)."""
    return _linked(user.id, role)


def _linked(user_id: Any, role: ProgrammeRole) -> Select:
    """``linked_programmes`` of the user ``user_id`` (a value or a bound parameter)."""
    return select(ProgrammeStaff.programme_id).where(
        ProgrammeStaff.user_id == user_id, ProgrammeStaff.role == role
    )


def visible_cases(user: User) -> Select[tuple[Case]]:
    """A query of the cases ``user`` may see."""
    return _visible_cases(user.active, user.roles, user.id)


def visible_cases_of(active: bool, roles: frozenset[Role]) -> Select[tuple[Case]]:
    """``visible_cases`` of any active (or not) user holding ``roles``, the user's id a bound
    parameter ``user_id``: for a statement built once and run for every such user."""
    return _visible_cases(active, roles, bindparam("user_id"))


def _visible_cases(active: bool, roles: frozenset[Role], user_id: Any) -> Select[tuple[Case]]:
    """``visible_cases`` of an active (or not) user holding ``roles``, whose id is ``user_id``
    (a value, or a bound parameter in a statement built once for every such user)."""
    query = select(Case)
    if not active:
        return query.where(false())
    if Role.ADMINISTRATOR in roles:
        return query
    conditions = []
    if Role.HEAD_OF_PROGRAMME in roles:
        led = select(Enrolment.id).where(
            Enrolment.programme_id.in_(_linked(user_id, ProgrammeRole.HEAD))
        )
        conditions.append(Case.enrolment_id.in_(led))
    if Role.TUTOR_MENTOR in roles:
        conditions.append(
            Case.enrolment_id.in_(select(Enrolment.id).where(Enrolment.mentor_id == user_id))
        )
    if Role.SAFEGUARDING_LEAD in roles:
        conditions.append(Case.safeguarding_flagged_at.is_not(None))
    return query.where(or_(*conditions)) if conditions else query.where(false())


def led_cases(user: User) -> Select[tuple[Case]]:
    """The cases ``user`` sees on the programmes they head (a query)."""
    led = select(Enrolment.id).where(
        Enrolment.programme_id.in_(linked_programmes(user, ProgrammeRole.HEAD))
    )
    return visible_cases(user).where(Case.enrolment_id.in_(led))


def visible_enrolments(user: User) -> Select[tuple[Enrolment]]:
    """A query of the enrolments (learners on programmes) ``user`` may see."""
    query = select(Enrolment)
    if not user.active:
        return query.where(false())
    if user.has_role(Role.ADMINISTRATOR):
        return query
    conditions = []
    if user.has_role(Role.HEAD_OF_PROGRAMME):
        conditions.append(Enrolment.programme_id.in_(linked_programmes(user, ProgrammeRole.HEAD)))
    if user.has_role(Role.ADMINISTRATION_OFFICER):
        conditions.append(
            Enrolment.programme_id.in_(linked_programmes(user, ProgrammeRole.ADMINISTRATION))
        )
    if user.has_role(Role.TUTOR_MENTOR):
        conditions.append(Enrolment.mentor_id == user.id)
    if user.has_role(Role.SAFEGUARDING_LEAD):
        flagged = select(Case.enrolment_id).where(Case.safeguarding_flagged_at.is_not(None))
        conditions.append(Enrolment.id.in_(flagged))
    return query.where(or_(*conditions)) if conditions else query.where(false())


def visible_letters(user: User) -> Select[tuple[Letter]]:
    """A query of the stored letters on the cases ``user`` may see."""
    return select(Letter).where(Letter.case_id.in_(visible_cases(user).with_only_columns(Case.id)))


def visible_messages(user: User) -> Select[tuple[OutboxMessage]]:
    """A query of the outbox messages ``user`` may see: those of the programmes they lead or keep
    registers of, and those about the learners they mentor (on that programme). A message of no
    programme (a report to staff) is the administrators' alone."""
    query = select(OutboxMessage)
    if not user.active:
        return query.where(false())
    if user.has_role(Role.ADMINISTRATOR):
        return query
    conditions = []
    for role, link in (
        (Role.HEAD_OF_PROGRAMME, ProgrammeRole.HEAD),
        (Role.ADMINISTRATION_OFFICER, ProgrammeRole.ADMINISTRATION),
    ):
        if user.has_role(role):
            conditions.append(OutboxMessage.programme_id.in_(linked_programmes(user, link)))
    if user.has_role(Role.TUTOR_MENTOR):
        mentored = select(Enrolment.id).where(
            Enrolment.mentor_id == user.id,
            Enrolment.learner_id == OutboxMessage.learner_id,
            Enrolment.programme_id == OutboxMessage.programme_id,
        )
        conditions.append(mentored.exists())
    return query.where(or_(*conditions)) if conditions else query.where(false())


def case_for(
    user: User, case_id: int, *, for_update: bool = False, options: Sequence[ORMOption] = ()
) -> Case:
    """Case ``case_id`` if ``user`` may see it (else ``NotFound``); ``options``: what to load
    with it (``joinedload``...), the same objects on every call (a module's constant)."""
    query = _case_by_id(user.active, user.roles, for_update, tuple(options))
    case = db.session.scalars(query, {"user_id": user.id, "case_id": case_id}).one_or_none()
    if case is None:
        raise NotFound(f"There is no case {case_id}.")
    return case


def read_case(
    user: User,
    case_id: int,
    *,
    options: Sequence[ORMOption] = (),
    extend: Callable[[Select], Select] | None = None,
    params: dict[str, Any] | None = None,
) -> tuple[Case, frozenset[str], tuple[Any, ...]]:
    """``case_for``, the user's ``case_roles`` in the case and what ``extend(query)`` adds to
    the case's statement (columns, with their joins and ``params``), read in one statement:
    what every read of a case page or the API's case asks first. ``options`` and ``extend``
    are a module's constants (the statement is built once for each)."""
    query = _case_by_id(user.active, user.roles, False, tuple(options), True, extend)
    row = db.session.execute(
        query, {"user_id": user.id, "case_id": case_id, **(params or {})}
    ).one_or_none()
    if row is None:
        raise NotFound(f"There is no case {case_id}.")
    case, heads, *extra = row
    return case, case_roles(user, case.enrolment, heads=heads), tuple(extra)


# Whether the user (a bound parameter) heads the programme of the case in the outer query.
_HEADS_CASE = (
    select(Enrolment.id)
    .where(
        Enrolment.id == Case.enrolment_id,
        Enrolment.programme_id.in_(_linked(bindparam("user_id"), ProgrammeRole.HEAD)),
    )
    .exists()
)


@cache
def _case_by_id(
    active: bool,
    roles: frozenset[Role],
    for_update: bool,
    options: tuple[ORMOption, ...],
    with_heads: bool = False,
    extend: Callable[[Select], Select] | None = None,
) -> Select[tuple[Case]]:
    """``case_for``'s statement (``read_case``'s with ``extend``), built once for each kind of
    user (every request reads a case this way, and building the statement costs more than
    running it): the user and the case are bound parameters."""
    query = (
        _visible_cases(active, roles, bindparam("user_id"))
        .where(Case.id == bindparam("case_id"))
        .options(*options)
    )
    if with_heads:
        query = query.add_columns(_HEADS_CASE)
    if extend is not None:
        query = extend(query)
    if for_update:
        # Lock the row and read it afresh: the version check must see what is committed now.
        query = query.with_for_update().execution_options(populate_existing=True)
    return query


def enrolment_for(user: User, enrolment_id: int) -> Enrolment:
    enrolment = db.session.scalars(
        visible_enrolments(user).where(Enrolment.id == enrolment_id)
    ).one_or_none()
    if enrolment is None:
        raise NotFound(f"There is no enrolment {enrolment_id}.")
    return enrolment


# Whether a user heads a programme: asked on every read of a case, so built once.
_HEADS = _linked(bindparam("user_id"), ProgrammeRole.HEAD).where(
    ProgrammeStaff.programme_id == bindparam("programme_id")
)


def case_roles(user: Actor, enrolment: Enrolment, *, heads: bool | None = None) -> frozenset[str]:
    """The parts ``user`` plays in a case on ``enrolment``: what policy event roles name.
    ``heads``: whether the user heads its programme, when already read (``read_case``).

    An administrator has none: administrators make no case decisions.
    """
    if isinstance(user, ScanActor):
        return frozenset({"scan"})
    if not user.active:
        return frozenset()
    roles = set()
    if user.has_role(Role.TUTOR_MENTOR) and enrolment.mentor_id == user.id:
        roles.add("tutor_mentor")
    if user.has_role(Role.HEAD_OF_PROGRAMME):
        if heads is None:
            heads = (
                db.session.scalar(
                    _HEADS, {"programme_id": enrolment.programme_id, "user_id": user.id}
                )
                is not None
            )
        if heads:
            roles.add("head_of_programme")
    return frozenset(roles)


def works_on(user: Actor, case: Case, roles: frozenset[str] | None = None) -> bool:
    """The case's mentor or head of programme: the people working on it. ``roles``: the user's
    ``case_roles`` in it, when the caller has them already."""
    if roles is None:
        roles = case_roles(user, case.enrolment)
    return bool(roles - {"scan"})


def may_see_circumstances(user: User, case: Case, roles: frozenset[str] | None = None) -> bool:
    """Special-category data: only those working on the case and the safeguarding lead."""
    return works_on(user, case, roles) or (user.active and user.has_role(Role.SAFEGUARDING_LEAD))
