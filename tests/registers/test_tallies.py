"""Enrolment tallies: after any sequence of writes they equal a full recount of the marks, the
scan's figures from them equal the recount's, and an unchanged import rewrites nothing."""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from casework.extensions import db
from casework.models import EnrolmentTally, Mark, Role
from casework.records.enrolments import update_enrolment
from casework.records.sessions import update_session
from casework.registers import tallies
from casework.registers.figures import attendance_figures
from casework.registers.importing import ImportRejected, import_marks, import_register
from casework.registers.tallies import (
    refresh_tallies,
    tallied_figures,
    tally_differences,
    window_of,
)
from tests.registers.conftest import csv_bytes

SINCE = window_of(2026)
LEARNERS = 3
SESSIONS = 8
# (code, minutes late, reason, evidence): every kind of mark the figures tell apart.
MARKS = [
    ("P", "", "", ""),
    ("L", "10", "", ""),
    ("L", "45", "", ""),  # past the register's close: unauthorised, an arrival
    ("U", "", "", ""),
    ("U", "20", "", ""),  # unauthorised, came late
    ("N", "", "", ""),
    ("A", "", "illness", ""),
    ("A", "", "illness", "GP note"),
    ("A", "", "bereavement", ""),
    ("X", "", "", ""),
    ("E", "", "", ""),
]

write = st.lists(
    st.tuples(
        st.integers(0, LEARNERS - 1), st.integers(0, SESSIONS - 1), st.integers(0, len(MARKS) - 1)
    ),
    min_size=1,
    max_size=12,
)
step = st.one_of(
    st.tuples(st.just("import"), write),
    # a session moved (its start, so its place in the order, and its register's close)
    st.tuples(st.just("move"), st.integers(0, SESSIONS - 1), st.integers(-3, 3)),
    # an enrolment ended (or its end cleared)
    st.tuples(st.just("end"), st.integers(0, LEARNERS - 1), st.none() | st.integers(0, 20)),
)


def _world(make):
    programme = make.programme("003-green-labyrinth")
    enrolments = [make.enrolment(programme=programme) for _ in range(LEARNERS)]
    sessions = [
        make.session(programme, datetime(2026, 9, 7, 9) + timedelta(days=2 * i))
        for i in range(SESSIONS)
    ]
    return programme, enrolments, sessions


def _items(enrolments, sessions, writes):
    chosen = {}
    for learner, session, mark in writes:  # a batch names each learner and session once
        chosen[(learner, session)] = mark
    return [
        [
            enrolments[e].learner.learner_ref,
            sessions[s].session_ref,
            *MARKS[mark],
            "",
            "",
        ]
        for (e, s), mark in chosen.items()
    ]


def _assert_tallies_equal_a_recount(enrolments, as_at_days):
    assert list(tally_differences()) == []
    ids = [e.id for e in enrolments]
    for days in as_at_days:
        as_at = date(2026, 9, 6) + timedelta(days=days)
        tallied, recount = tallied_figures(as_at, SINCE, ids)
        recounted = attendance_figures(as_at, since=SINCE, enrolment_ids=ids)
        # Where a tally answers for the day, it says what the recount says.
        assert {e: recounted[e] for e in tallied} == tallied
        latest = {
            t.enrolment_id: t.last_session_at
            for t in db.session.scalars(
                select(EnrolmentTally).where(EnrolmentTally.enrolment_id.in_(ids))
            )
        }
        # and it answers for every day from its last counted session on (none: no tally yet)
        for eid in recount:
            assert eid not in latest or latest[eid].date() > as_at


def _import_or_refuse(items) -> None:
    try:
        import_marks(items, source="t", imported_by="tests")
    except ImportRejected as rejected:  # a session after an enrolment's end: nothing
        assert all("outside learner" in str(e) for e in rejected.errors), rejected


def _write(admin, enrolments, sessions, kind: str, args) -> None:
    """One step: an import, a session moved (its start, so its place in the order, and its
    register's close), or an enrolment ended (or its end cleared)."""
    if kind == "import":
        _import_or_refuse(_items(enrolments, sessions, args[0]))
    elif kind == "move":
        session, days = sessions[args[0]], args[1]
        starts = session.starts_at + timedelta(days=days, minutes=days)
        update_session(
            admin,
            session.id,
            {
                "starts_at": starts,
                "ends_at": starts + timedelta(hours=2),
                "register_closes_at": starts + timedelta(minutes=30 + 10 * days),
            },
        )
    else:
        end = None if args[1] is None else date(2026, 9, 7) + timedelta(days=args[1])
        update_enrolment(admin, enrolments[args[0]].id, {"end_date": end})


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    steps=st.lists(step, min_size=1, max_size=6),
    as_at_days=st.lists(st.integers(0, 30), max_size=3),
)
def test_after_any_writes_the_tallies_equal_a_full_recount(make, steps, as_at_days):
    admin = make.user(Role.ADMINISTRATOR)
    _programme, enrolments, sessions = _world(make)
    db.session.commit()
    for kind, *args in steps:
        _write(admin, enrolments, sessions, kind, args)
        _assert_tallies_equal_a_recount(enrolments, [*as_at_days, 60])


# Marks that carry state over an append's boundary, drawn as often as any other: illness runs
# (unevidenced, then evidenced or not), absence runs (late past the close, U, came-late U), and
# not-counted marks inside both.
CARRIED = [
    MARKS.index(m)
    for m in [("A", "", "illness", ""), ("U", "", "", ""), ("L", "45", "", ""), ("X", "", "", "")]
]
DAY_SESSIONS = 3
DAYS = 5
# A day's sessions in id order: 09:00, then two at 12:00 (ties are ordered by session id).
DAY_STARTS = (timedelta(hours=9), timedelta(hours=12), timedelta(hours=12))
mark_or_none = st.one_of(st.sampled_from(CARRIED), st.integers(0, len(MARKS) - 1), st.none())
appended = st.tuples(
    st.just("append"),
    # the next sessions in order, each with a mark (or none) per learner
    st.lists(st.lists(mark_or_none, min_size=LEARNERS, max_size=LEARNERS), min_size=1, max_size=4),
)
any_write = st.lists(
    st.tuples(
        st.integers(0, LEARNERS - 1),
        st.integers(0, DAY_SESSIONS * DAYS - 1),
        st.integers(0, len(MARKS) - 1),
    ),
    min_size=1,
    max_size=6,
)
append_step = st.one_of(
    appended,
    appended,
    appended,
    st.tuples(st.just("import"), any_write),  # corrections and earlier sessions
    st.tuples(st.just("move"), st.integers(0, DAY_SESSIONS * DAYS - 1), st.integers(-2, 2)),
    st.tuples(st.just("end"), st.integers(0, LEARNERS - 1), st.none() | st.integers(0, 6)),
)


def _days_world(make):
    programme = make.programme("003-green-labyrinth")
    enrolments = [make.enrolment(programme=programme) for _ in range(LEARNERS)]
    sessions = [
        make.session(programme, datetime(2026, 9, 7) + timedelta(days=day) + offset)
        for day in range(DAYS)
        for offset in DAY_STARTS
    ]
    return enrolments, sessions


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# First a day appended (so there are tallies to carry on), then anything.
@given(first=appended, steps=st.lists(append_step, min_size=1, max_size=8))
def test_appended_days_carry_the_tallies_on_as_a_recount_would(make, first, steps):
    """Mostly the nightly append (the next sessions in order), with corrections, earlier
    sessions, moved sessions and end dates between: the tallies stay a full recount's."""
    admin = make.user(Role.ADMINISTRATOR)
    enrolments, sessions = _days_world(make)
    db.session.commit()
    upto = 0  # the next session to append
    for kind, *args in [first, *steps]:
        if kind == "append":
            days = args[0][: len(sessions) - upto]
            writes = [
                (learner, upto + offset, mark)
                for offset, marks in enumerate(days)
                for learner, mark in enumerate(marks)
                if mark is not None
            ]
            upto += len(days)
            if writes:
                _import_or_refuse(_items(enrolments, sessions, writes))
        else:
            _write(admin, enrolments, sessions, kind, args)
        _assert_tallies_equal_a_recount(enrolments, [0, 2, 4, 60])


def _recounts_seen(monkeypatch) -> list[list[int]]:
    """The enrolments each recount of the tallies was asked for, from now on."""
    seen: list[list[int]] = []
    original = tallies.recount

    def watched(since, enrolment_ids, **kw):
        seen.append(list(enrolment_ids))
        return original(since, enrolment_ids, **kw)

    monkeypatch.setattr(tallies, "recount", watched)
    return seen


def test_an_appended_day_is_folded_in_without_recounting_the_year(make, monkeypatch):
    enrolments, sessions = _days_world(make)
    ill, absent, present = enrolments
    # The first four days: runs of illness and of absence up to the append's boundary.
    runs = {
        ill.id: MARKS.index(("A", "", "illness", "")),
        absent.id: MARKS.index(("U", "", "", "")),
    }
    items = _items(
        enrolments,
        sessions,
        [
            (learner, s, runs.get(e.id, 0))
            for s in range(DAY_SESSIONS * (DAYS - 1))
            for learner, e in enumerate(enrolments)
        ],
    )
    import_marks(items, source="t", imported_by="tests")
    recounts = _recounts_seen(monkeypatch)
    last_day = range(DAY_SESSIONS * (DAYS - 1), DAY_SESSIONS * DAYS)
    import_marks(
        _items(
            enrolments,
            sessions,
            [
                (learner, s, runs.get(e.id, 0))
                for s in last_day
                for learner, e in enumerate(enrolments)
            ],
        ),
        source="t",
        imported_by="tests",
    )
    assert recounts == []  # no enrolment's older marks were read
    assert list(tally_differences()) == []
    recounts.clear()  # the check recounts everything
    stored = {t.enrolment_id: t for t in db.session.scalars(select(EnrolmentTally))}
    assert stored[ill.id].illness_pairs == DAY_SESSIONS * DAYS - 1 and stored[ill.id].ends_ill
    assert stored[absent.id].period_sessions == DAY_SESSIONS * DAYS
    assert stored[present.id].present == DAY_SESSIONS * DAYS
    # A correction (a mark replaced) is recounted, and only for its enrolment.
    import_marks(
        _items(enrolments, sessions, [(2, 0, MARKS.index(("U", "", "", "")))]),
        source="t",
        imported_by="tests",
    )
    assert recounts == [[present.id]]
    assert list(tally_differences()) == []


def test_a_tally_from_before_it_knew_how_its_marks_end_is_recounted(make, monkeypatch):
    enrolments, sessions = _days_world(make)
    first, *_ = enrolments
    import_marks(_items(enrolments, sessions, [(0, 0, 0)]), source="t", imported_by="tests")
    db.session.execute(update(EnrolmentTally).values(ends_ill=None))  # as after migration 0014
    assert list(tally_differences()) == []  # not known is not wrong
    recounts = _recounts_seen(monkeypatch)
    import_marks(_items(enrolments, sessions, [(0, 1, 0)]), source="t", imported_by="tests")
    assert recounts == [[first.id]]
    assert list(tally_differences()) == []


def test_a_tally_is_only_used_for_a_day_after_its_last_session(make):
    _programme, (enrolment, *_), sessions = _world(make)
    ref = enrolment.learner.learner_ref
    import_marks(
        [[ref, s.session_ref, "U", "", "", "", "", ""] for s in sessions],
        source="t",
        imported_by="tests",
    )
    last = sessions[-1].starts_at.date()
    tallied, recount = tallied_figures(last, SINCE, [enrolment.id])
    assert recount == [] and tallied[enrolment.id].unauthorised == SESSIONS
    assert tallied[enrolment.id].absence_period.sessions == SESSIONS
    # A day before the last session: the tally counts a session after it, so it is recounted.
    tallied, recount = tallied_figures(last - timedelta(days=1), SINCE, [enrolment.id])
    assert tallied == {} and recount == [enrolment.id]
    # Another window's tally does not answer either.
    tallied, recount = tallied_figures(last, SINCE - timedelta(days=1), [enrolment.id])
    assert tallied == {} and recount == [enrolment.id]


def test_an_enrolment_without_marks_has_a_zero_tally_once_refreshed(make):
    _programme, (enrolment, *_), _sessions = _world(make)
    refresh_tallies([enrolment.id])
    tallied, recount = tallied_figures(date(2026, 10, 1), SINCE, [enrolment.id])
    assert recount == [] and tallied == attendance_figures(
        date(2026, 10, 1), since=SINCE, enrolment_ids=[enrolment.id]
    )


def test_an_unchanged_file_rewrites_nothing_and_says_so(make):
    _programme, enrolments, sessions = _world(make)
    rows = [
        f"{e.learner.learner_ref},{s.session_ref},{code},{minutes},{reason},{evidence},,"
        for e in enrolments
        for s, (code, minutes, reason, evidence) in zip(sessions[:-1], MARKS, strict=False)
    ]
    first = import_register(csv_bytes(*rows), filename="r.csv", imported_by="tests")
    assert (first.created, first.updated, first.unchanged) == (len(rows), 0, 0)
    written = {m.id: (m.import_id, m.recorded_at) for m in db.session.scalars(select(Mark))}
    again = import_register(csv_bytes(*rows), filename="r.csv", imported_by="someone else")
    assert (again.created, again.updated, again.unchanged) == (0, 0, len(rows))
    db.session.expire_all()
    assert {m.id: (m.import_id, m.recorded_at) for m in db.session.scalars(select(Mark))} == written
    # One row changed, one new: only those are written, and reported as such.
    changed = rows[0].replace(",P,", ",U,")
    new = f"{enrolments[0].learner.learner_ref},{sessions[-1].session_ref},P,,,,,"
    third = import_register(
        csv_bytes(changed, *rows[1:], new), filename="r.csv", imported_by="tests"
    )
    assert (third.created, third.updated, third.unchanged) == (1, 1, len(rows) - 1)
    assert list(tally_differences()) == []


def test_two_imports_at_once_into_the_same_enrolments_both_count(app, make):
    _programme, enrolments, sessions = _world(make)
    db.session.commit()
    refs = [e.learner.learner_ref for e in enrolments]
    halves = [
        [[ref, s.session_ref, "P", "", "", "", "", ""] for ref in refs for s in part]
        for part in (sessions[: SESSIONS // 2], sessions[SESSIONS // 2 :])
    ]
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def worker(items) -> None:
        try:
            with app.app_context():
                barrier.wait()
                import_marks(items, source="t", imported_by="tests")
                db.session.remove()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(half,)) for half in halves]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    db.session.expire_all()
    assert list(tally_differences()) == []
    tallied, recount = tallied_figures(date(2026, 12, 1), SINCE, [e.id for e in enrolments])
    assert recount == [] and {f.present for f in tallied.values()} == {SESSIONS}
