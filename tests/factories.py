"""Build model rows for tests with sensible defaults; every call flushes so ids exist."""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from casework.extensions import db
from casework.models import (
    CodeSet,
    Contact,
    ContactKind,
    DeliveryAttempt,
    DeliveryMode,
    Enrolment,
    Learner,
    LearnerAccount,
    Mark,
    MarkCode,
    MessageChannel,
    MessageKind,
    MessageStatus,
    OutboxMessage,
    Policy,
    Programme,
    Role,
    Session,
    SessionKind,
    User,
    UserRole,
    academic_year_of,
)
from casework.registers.tallies import refresh_tallies

_serial = itertools.count(1)


class Factory:
    def _add(self, row):
        db.session.add(row)
        db.session.flush()
        return row

    def policy(self, key: str = "003-green-labyrinth") -> Policy:
        return db.session.scalars(select(Policy).where(Policy.key == key)).one()

    def programme(self, policy_key: str = "003-green-labyrinth", **kw: Any) -> Programme:
        n = next(_serial)
        kw.setdefault("code", f"PRG{n:04d}")
        kw.setdefault("title", f"Programme {n}")
        return self._add(Programme(policy=self.policy(policy_key), **kw))

    def learner(self, **kw: Any) -> Learner:
        n = next(_serial)
        kw.setdefault("learner_ref", f"L{n:06d}")
        kw.setdefault("given_name", "Sam")
        kw.setdefault("family_name", f"Learner{n}")
        kw.setdefault("date_of_birth", date(2008, 3, 14))
        return self._add(Learner(**kw))

    def contact(self, learner: Learner, kind: ContactKind = ContactKind.PARENT_CARER, **kw):
        kw.setdefault("name", "Alex Parent")
        return self._add(Contact(learner=learner, kind=kind, **kw))

    def enrolment(
        self,
        learner: Learner | None = None,
        programme: Programme | None = None,
        start_date: date = date(2026, 9, 1),
        **kw: Any,
    ) -> Enrolment:
        kw.setdefault("academic_year", academic_year_of(start_date))
        return self._add(
            Enrolment(
                learner=learner or self.learner(),
                programme=programme or self.programme(),
                start_date=start_date,
                **kw,
            )
        )

    def session(
        self,
        programme: Programme,
        starts_at: datetime = datetime(2026, 9, 7, 9, 0),
        *,
        minutes: int = 120,
        register_open_minutes: int = 30,
        **kw: Any,
    ) -> Session:
        kw.setdefault("session_ref", f"S{next(_serial):07d}")
        kw.setdefault("kind", SessionKind.WORKSHOP)
        kw.setdefault("delivery_mode", DeliveryMode.FACE_TO_FACE)
        return self._add(
            Session(
                programme=programme,
                starts_at=starts_at,
                ends_at=starts_at + timedelta(minutes=minutes),
                register_closes_at=starts_at + timedelta(minutes=register_open_minutes),
                **kw,
            )
        )

    def code(self, code: str, code_set: CodeSet = CodeSet.FURTHER_EDUCATION) -> MarkCode:
        return db.session.scalars(
            select(MarkCode).where(MarkCode.code_set == code_set, MarkCode.code == code)
        ).one()

    def mark(self, enrolment: Enrolment, session: Session, code: str, **kw: Any) -> Mark:
        code_set = enrolment.programme.policy.code_set
        kw.setdefault("recorded_by", "tests")
        mark = self._add(
            Mark(enrolment=enrolment, session=session, code=self.code(code, code_set), **kw)
        )
        refresh_tallies([enrolment.id])  # as every writer of marks does
        return mark

    def register(
        self,
        enrolment: Enrolment,
        codes: str | list[str],
        start: datetime = datetime(2026, 9, 7, 9),
    ) -> list[Mark]:
        """One session a day from ``start`` for each code, marked with that code: one flush for
        the lot (a flush per row is most of a long register's time on PostgreSQL)."""
        sequence = list(codes) if isinstance(codes, str) else codes
        code_set = enrolment.programme.policy.code_set
        code_of = {c: self.code(c, code_set) for c in set(sequence)}
        marks = []
        for i, c in enumerate(sequence):
            starts = start + timedelta(days=i)
            session = Session(
                programme_id=enrolment.programme_id,
                session_ref=f"S{next(_serial):07d}",
                kind=SessionKind.WORKSHOP,
                delivery_mode=DeliveryMode.FACE_TO_FACE,
                starts_at=starts,
                ends_at=starts + timedelta(minutes=120),
                register_closes_at=starts + timedelta(minutes=30),
            )
            marks.append(
                Mark(enrolment=enrolment, session=session, code=code_of[c], recorded_by="tests")
            )
        db.session.add_all(marks)
        db.session.flush()
        refresh_tallies([enrolment.id])  # as every writer of marks does
        return marks

    def cohort(
        self,
        programme: Programme,
        count: int,
        codes: str,
        start: datetime = datetime(2026, 9, 7, 9),
        **enrolment_kw: Any,
    ) -> list[Enrolment]:
        """``count`` learners on ``programme``, each marked ``codes`` over the same sessions
        (one a day from ``start``): one flush for the lot, for tests that need a college's worth."""
        code_set = programme.policy.code_set
        code_of = {c: self.code(c, code_set) for c in set(codes)}
        sessions = [
            Session(
                programme=programme,
                session_ref=f"S{next(_serial):07d}",
                kind=SessionKind.WORKSHOP,
                delivery_mode=DeliveryMode.FACE_TO_FACE,
                starts_at=start + timedelta(days=i),
                ends_at=start + timedelta(days=i, minutes=120),
                register_closes_at=start + timedelta(days=i, minutes=30),
            )
            for i in range(len(codes))
        ]
        enrolments = []
        for _ in range(count):
            n = next(_serial)
            learner = Learner(
                learner_ref=f"L{n:06d}",
                given_name="Sam",
                family_name=f"Learner{n}",
                date_of_birth=date(2000, 3, 14),
            )
            enrolment = Enrolment(
                learner=learner,
                programme=programme,
                start_date=start.date(),
                academic_year=academic_year_of(start.date()),
                **enrolment_kw,
            )
            db.session.add_all(
                Mark(enrolment=enrolment, session=session, code=code_of[c], recorded_by="tests")
                for c, session in zip(codes, sessions, strict=True)
            )
            enrolments.append(enrolment)
        db.session.flush()
        refresh_tallies([e.id for e in enrolments])  # as every writer of marks does
        return enrolments

    def user(self, *roles: Role, password: str = "correct horse", **kw: Any) -> User:
        n = next(_serial)
        kw.setdefault("name", f"Staff Member {n}")
        kw.setdefault("email", f"staff{n}@example.org")
        user = User(**kw)
        user.set_password(password)
        user.role_rows = [UserRole(role=r) for r in roles]
        return self._add(user)

    def learner_account(
        self, learner: Learner | None = None, *, password: str = "correct horse", **kw: Any
    ) -> LearnerAccount:
        learner = learner or self.learner()
        kw.setdefault("email", f"{learner.learner_ref.lower()}@learners.example.org")
        account = LearnerAccount(learner=learner, **kw)
        account.set_password(password)
        return self._add(account)

    def outbox_message(
        self,
        enrolment: Enrolment,
        contact: Contact | None = None,
        *,
        status: MessageStatus = MessageStatus.QUEUED,
        channel: MessageChannel = MessageChannel.EMAIL,
        **kw: Any,
    ) -> OutboxMessage:
        """A message about ``enrolment``'s learner to ``contact`` (to the learner without one)."""
        learner = enrolment.learner
        n = next(_serial)
        kw.setdefault(
            "key", f"test:{n}:{channel}:" + (f"contact:{contact.id}" if contact else "learner")
        )
        kw.setdefault("kind", MessageKind.ABSENCE)
        if "created_at" in kw:  # written then, and due then
            kw.setdefault("due_at", kw["created_at"])
        kw.setdefault("recipient_kind", contact.kind.value if contact else "learner")
        kw.setdefault("recipient_name", contact.name if contact else learner.full_name)
        field = "email" if channel is MessageChannel.EMAIL else "phone"
        kw.setdefault("address", getattr(contact or learner, field))
        kw.setdefault("subject", f"{learner.full_name} was absent today")
        kw.setdefault("body", f"{learner.full_name} was not at today's session.")
        return self._add(
            OutboxMessage(
                programme_id=enrolment.programme_id,
                learner_id=learner.id,
                contact_id=contact.id if contact else None,
                status=status,
                channel=channel,
                **kw,
            )
        )

    def delivery_attempt(
        self, message: OutboxMessage, outcome: str = "failed", **kw: Any
    ) -> DeliveryAttempt:
        kw.setdefault("error", "550 mailbox unavailable" if outcome == "failed" else None)
        kw.setdefault("finished_at", kw.get("started_at"))
        message.attempts += 1
        return self._add(DeliveryAttempt(message=message, outcome=outcome, **kw))
