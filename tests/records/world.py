"""A small college for the record tests: two programmes under different policies, the staff of
each role, and learners mentored by different tutors.

Users are made without a password (scrypt would be most of each test's time): the API tests
sign in with tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from casework.extensions import db
from casework.models import (
    Enrolment,
    Programme,
    ProgrammeRole,
    ProgrammeStaff,
    Role,
    Session,
    User,
    UserRole,
)
from tests.factories import Factory


@dataclass
class World:
    programme: Programme  # 003-green-labyrinth
    other_programme: Programme  # 001-sts
    admin: User
    officer: User  # keeps programme's registers
    other_officer: User  # keeps other_programme's
    head: User  # leads programme
    mentor: User
    other_mentor: User
    safeguarding: User
    outsider: User  # a tutor/mentor of nobody
    mine: Enrolment  # on programme, mentored by mentor
    theirs: Enrolment  # on programme, mentored by other_mentor
    elsewhere: Enrolment  # on other_programme, no mentor
    session: Session  # of programme
    other_session: Session  # of other_programme

    def link(self, user: User, programme: Programme, role: ProgrammeRole) -> None:
        db.session.add(ProgrammeStaff(programme=programme, user=user, role=role))
        db.session.commit()


def make_user(name: str, *roles: Role) -> User:
    user = User(name=name, email=f"{name.lower().replace(' ', '.')}@example.org")
    user.password_hash = "-"  # never signs in with a password
    user.role_rows = [UserRole(role=role) for role in roles]
    db.session.add(user)
    db.session.flush()
    return user


def build_world(make: Factory) -> World:
    programme = make.programme("003-green-labyrinth", code="HSC3", title="Health and Social Care")
    other = make.programme("001-sts", code="ENG2", title="Engineering Apprenticeship")
    staff = {
        "admin": make_user("Ada Admin", Role.ADMINISTRATOR),
        "officer": make_user("Oli Officer", Role.ADMINISTRATION_OFFICER),
        "other_officer": make_user("Ora Officer", Role.ADMINISTRATION_OFFICER),
        "head": make_user("Hana Head", Role.HEAD_OF_PROGRAMME),
        "mentor": make_user("Mo Mentor", Role.TUTOR_MENTOR),
        "other_mentor": make_user("Otto Mentor", Role.TUTOR_MENTOR),
        "safeguarding": make_user("Sal Safeguarding", Role.SAFEGUARDING_LEAD),
        "outsider": make_user("Uma Outsider", Role.TUTOR_MENTOR),
    }
    for user, prog, role in (
        (staff["officer"], programme, ProgrammeRole.ADMINISTRATION),
        (staff["other_officer"], other, ProgrammeRole.ADMINISTRATION),
        (staff["head"], programme, ProgrammeRole.HEAD),
    ):
        db.session.add(ProgrammeStaff(programme=prog, user=user, role=role))
    world = World(
        programme=programme,
        other_programme=other,
        mine=make.enrolment(
            make.learner(given_name="Alex", family_name="Mine"),
            programme,
            mentor_id=staff["mentor"].id,
        ),
        theirs=make.enrolment(
            make.learner(given_name="Bo", family_name="Theirs"),
            programme,
            mentor_id=staff["other_mentor"].id,
        ),
        elsewhere=make.enrolment(make.learner(given_name="Cy", family_name="Elsewhere"), other),
        session=make.session(programme, datetime(2026, 9, 7, 9, 0)),
        other_session=make.session(other, datetime(2026, 9, 8, 9, 0)),
        **staff,
    )
    db.session.commit()
    return world
