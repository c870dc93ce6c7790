"""Attendance figures: each mark category, the edge cases, and the current absence period."""

from __future__ import annotations

from datetime import date, datetime
from fractions import Fraction

import pytest

from casework.models import CodeSet
from casework.registers.figures import attendance_figures, figures_for

AS_AT = date(2026, 12, 18)


def test_no_sessions_yet(make):
    enrolment = make.enrolment()
    figures = figures_for(enrolment.id, AS_AT)
    assert (figures.possible, figures.attended, figures.sessions_missed) == (0, 0, 0)
    assert figures.attendance_percent is None and figures.punctuality_percent is None
    assert figures.absence_period is None
    assert not figures.below(90)  # nobody is "0%" before any session


@pytest.mark.parametrize(
    ("code", "field", "possible", "attended"),
    [
        ("P", "present", 1, 1),
        ("L", "late", 1, 1),
        ("E", "approved_activity", 1, 1),
        ("A", "authorised", 1, 0),
        ("U", "unauthorised", 1, 0),
        ("N", "unauthorised", 1, 0),
        ("X", "not_counted", 0, 0),
    ],
)
def test_each_further_education_category(make, code, field, possible, attended):
    enrolment = make.enrolment()
    make.register(enrolment, code)
    figures = figures_for(enrolment.id, AS_AT)
    assert getattr(figures, field) == 1
    assert (figures.possible, figures.attended) == (possible, attended)


@pytest.mark.parametrize(
    ("code", "field"),
    [
        ("/", "present"),
        ("\\", "present"),
        ("L", "late"),
        ("K", "approved_activity"),
        ("V", "approved_activity"),
        ("P", "approved_activity"),
        ("W", "approved_activity"),
        ("B", "approved_activity"),
        ("I", "authorised"),
        ("C2", "authorised"),
        ("M", "authorised"),
        ("G", "unauthorised"),
        ("O", "unauthorised"),
        ("U", "unauthorised"),
        ("D", "not_counted"),
        ("Y3", "not_counted"),
        ("#", "not_counted"),
    ],
)
def test_statutory_codes_count_in_their_category(make, code, field):
    enrolment = make.enrolment(programme=make.programme("004-nxt-gen"))
    make.register(enrolment, [code])
    assert getattr(figures_for(enrolment.id, AS_AT), field) == 1


def test_percentages_and_missed_sessions(make):
    enrolment = make.enrolment()
    make.register(enrolment, "PPPPPPLLAUXX")
    figures = figures_for(enrolment.id, AS_AT)
    assert (figures.possible, figures.attended, figures.late) == (10, 8, 2)
    assert figures.sessions_missed == 2
    assert figures.attendance == Fraction(8, 10) and figures.attendance_percent == 80.0
    assert figures.punctuality == Fraction(6, 8) and figures.punctuality_percent == 75.0


def test_approved_activity_off_site_is_no_arrival(make):
    enrolment = make.enrolment()
    make.register(enrolment, "PLEE")
    figures = figures_for(enrolment.id, AS_AT)
    assert (figures.attended, figures.arrivals) == (4, 2)
    assert figures.punctuality == Fraction(1, 2)


def test_only_approved_activity_has_no_punctuality(make):
    enrolment = make.enrolment()
    make.register(enrolment, "EU")
    figures = figures_for(enrolment.id, AS_AT)
    assert figures.arrivals == 0 and figures.punctuality is None


def test_all_not_counted(make):
    enrolment = make.enrolment()
    make.register(enrolment, "XXX")
    figures = figures_for(enrolment.id, AS_AT)
    assert figures.not_counted == 3 and figures.possible == 0
    assert figures.attendance is None


def test_late_after_the_register_closed_is_unauthorised(make):
    enrolment = make.enrolment()
    early, late = make.register(enrolment, "LL")
    early.minutes_late = 30  # the register closes 30 minutes after the start: still late
    late.minutes_late = 31
    figures = figures_for(enrolment.id, AS_AT)
    assert (figures.late, figures.unauthorised, figures.attended) == (1, 1, 1)
    assert figures.absence_period is not None and figures.absence_period.first_mark_id == late.id


def test_further_education_arrival_after_the_close_is_not_on_time(make):
    enrolment = make.enrolment()
    marks = make.register(enrolment, "PPPLLU")
    marks[3].minutes_late = 10  # late, before the close
    marks[4].minutes_late = 31  # after the close: an unauthorised absence, but an arrival
    figures = figures_for(enrolment.id, AS_AT)
    assert (figures.present, figures.late, figures.unauthorised) == (3, 1, 2)
    assert (figures.after_close, figures.arrivals, figures.attended) == (1, 5, 4)
    # On time / arrivals: the plain U (no arrival recorded) is no arrival.
    assert figures.punctuality == Fraction(3, 5) and figures.punctuality_percent == 60.0
    assert figures.attendance == Fraction(4, 6)


def test_further_education_unauthorised_mark_with_minutes_late_is_an_arrival(make):
    enrolment = make.enrolment()
    _present, came = make.register(enrolment, "PU")
    came.minutes_late = 45
    figures = figures_for(enrolment.id, AS_AT)
    assert (figures.unauthorised, figures.after_close) == (1, 1)
    assert figures.punctuality == Fraction(1, 2)


def test_statutory_u_is_an_arrival_after_the_close(make):
    enrolment = make.enrolment(programme=make.programme("004-nxt-gen"))
    make.register(enrolment, ["/", "\\", "L", "U", "O", "N", "K"])
    figures = figures_for(enrolment.id, AS_AT)
    assert (figures.present, figures.late, figures.unauthorised) == (2, 1, 3)
    assert (figures.after_close, figures.arrivals) == (1, 4)
    assert figures.punctuality == Fraction(2, 4) and figures.punctuality_percent == 50.0
    assert (figures.attended, figures.possible) == (4, 7)


def test_statutory_late_past_the_close_is_an_arrival_after_it(make):
    enrolment = make.enrolment(programme=make.programme("002-ap-schools"))
    _on_time, late, after = make.register(enrolment, ["/", "L", "L"])
    late.minutes_late, after.minutes_late = 20, 40
    figures = figures_for(enrolment.id, AS_AT)
    assert (figures.late, figures.unauthorised, figures.after_close) == (1, 1, 1)
    assert figures.punctuality == Fraction(1, 3)


@pytest.mark.parametrize("open_minutes", [7, 10, 15, 30, 45, 59])
def test_late_exactly_at_the_close_is_still_late(make, open_minutes):
    enrolment = make.enrolment()
    session = make.session(
        enrolment.programme, datetime(2026, 9, 7, 9, 6), register_open_minutes=open_minutes
    )
    make.mark(enrolment, session, "L", minutes_late=open_minutes)
    figures = figures_for(enrolment.id, AS_AT)
    assert (figures.late, figures.unauthorised) == (1, 0)


def test_enrolment_starting_mid_term_counts_from_its_start(make):
    programme = make.programme()
    early_session = make.session(programme, datetime(2026, 9, 7, 9))
    later_session = make.session(programme, datetime(2026, 11, 2, 9))
    newcomer = make.enrolment(programme=programme, start_date=date(2026, 11, 2))
    # A mark left from before the start (say the start date was corrected later) does not count.
    make.mark(newcomer, early_session, "U")
    make.mark(newcomer, later_session, "P")
    figures = figures_for(newcomer.id, AS_AT)
    assert (figures.possible, figures.attended, figures.unauthorised) == (1, 1, 0)


def test_as_at_date_excludes_later_sessions_and_window_start(make):
    enrolment = make.enrolment()
    make.register(enrolment, "PPUU", start=datetime(2026, 9, 7, 9))  # 7th to 10th September
    assert figures_for(enrolment.id, date(2026, 9, 8)).possible == 2
    assert figures_for(enrolment.id, date(2026, 9, 10)).possible == 4
    assert figures_for(enrolment.id, AS_AT, since=date(2026, 9, 9)).unauthorised == 2
    assert figures_for(enrolment.id, AS_AT, since=date(2026, 9, 9)).possible == 2


def test_current_absence_period_and_its_first_mark(make):
    enrolment = make.enrolment()
    marks = make.register(enrolment, "PUUAUXNU")
    period = figures_for(enrolment.id, AS_AT).absence_period
    # The authorised absence (A) ends the first run; X neither starts nor breaks one.
    assert period is not None
    assert period.sessions == 3
    assert period.first_mark_id == marks[4].id
    assert period.started_at == marks[4].session.starts_at


def test_no_absence_period_once_the_learner_returns(make):
    enrolment = make.enrolment()
    make.register(enrolment, "UUUP")
    assert figures_for(enrolment.id, AS_AT).absence_period is None


def test_all_enrolments_at_once_match_one_at_a_time(make):
    enrolments = [make.enrolment() for _ in range(4)]
    for enrolment, codes in zip(enrolments, ["PPPU", "UUUU", "LPAX", ""], strict=True):
        make.register(enrolment, codes)
    every = attendance_figures(AS_AT)
    assert set(every) == {e.id for e in enrolments}
    for enrolment in enrolments:
        assert every[enrolment.id] == figures_for(enrolment.id, AS_AT)
    assert every[enrolments[1].id].absence_period.sessions == 4


def test_threshold_comparison_is_exact(make):
    enrolment = make.enrolment()
    make.register(enrolment, "PPPPPPPPPU")  # exactly 90%
    figures = figures_for(enrolment.id, AS_AT)
    assert not figures.below(90)
    assert figures.below(90, inclusive=True)
    assert CodeSet.STATUTORY.label == "England statutory school"
