"""Working days skip weekends and the bank holidays of England and Wales."""

from __future__ import annotations

from datetime import date

import pytest

from casework.workdays import add_working_days, is_working_day


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        (date(2026, 9, 11), 5, date(2026, 9, 18)),  # Friday: the next five weekdays
        (
            date(2026, 12, 23),
            5,
            date(2027, 1, 4),
        ),  # Christmas, Boxing Day (substitute 28th), New Year
        (date(2027, 3, 25), 2, date(2027, 3, 31)),  # Good Friday 26th, Easter Monday 29th
        (date(2026, 8, 28), 1, date(2026, 9, 1)),  # summer bank holiday 31 August
        (date(2026, 9, 11), 0, date(2026, 9, 11)),
    ],
)
def test_add_working_days(start, days, expected):
    assert add_working_days(start, days) == expected


def test_scottish_holidays_do_not_count():
    assert is_working_day(date(2027, 1, 4))  # a Scottish bank holiday (2 January substitute)
    assert is_working_day(date(2026, 11, 30))  # St Andrew's Day: Scotland only
    assert not is_working_day(date(2026, 5, 25))  # spring bank holiday


def test_negative_days_are_refused():
    with pytest.raises(ValueError, match="must not be negative"):
        add_working_days(date(2026, 9, 11), -1)
