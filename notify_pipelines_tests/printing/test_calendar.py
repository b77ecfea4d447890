"""The print deadline and DVLA working days: pure functions, around both clock changes and bank holidays."""

from __future__ import annotations

import datetime as dt

import pytest

from notify_pipelines.core import calendar
from notify_pipelines.core.calendar import (
    dvla_working_day_offset,
    is_dvla_working_day,
    print_deadline,
    print_deadline_passed,
)
from notify_pipelines.monitoring.queries import letters_still_sending_cutoff

D = dt.date
T = dt.datetime


@pytest.mark.parametrize(("day", "deadline_utc"), [
    (D(2021, 1, 15), T(2021, 1, 15, 17, 30)),  # winter: GMT
    (D(2021, 6, 15), T(2021, 6, 15, 16, 30)),  # summer: BST
    (D(2021, 3, 27), T(2021, 3, 27, 17, 30)),  # the day before the clocks go forward
    (D(2021, 3, 28), T(2021, 3, 28, 16, 30)),  # clocks went forward at 01:00 UTC: 17:30 is BST
    (D(2021, 10, 30), T(2021, 10, 30, 16, 30)),
    (D(2021, 10, 31), T(2021, 10, 31, 17, 30)),  # clocks went back at 01:00 UTC: 17:30 is GMT
])
def test_print_deadline_is_1730_london(day, deadline_utc):
    assert print_deadline(day) == deadline_utc


def test_the_deadline_has_passed_from_1730_london():
    assert not print_deadline_passed(D(2021, 3, 28), T(2021, 3, 28, 16, 29, 59))
    assert print_deadline_passed(D(2021, 3, 28), T(2021, 3, 28, 16, 30))
    assert not print_deadline_passed(D(2021, 10, 31), T(2021, 10, 31, 17, 29, 59))
    assert print_deadline_passed(D(2021, 10, 31), T(2021, 10, 31, 17, 30))
    assert print_deadline_passed(D(2021, 10, 31), T(2021, 11, 1, 0, 0, tzinfo=dt.timezone.utc))


@pytest.mark.parametrize(("day", "working"), [
    (D(2021, 6, 15), True),     # a Tuesday
    (D(2021, 6, 19), False),    # Saturday
    (D(2021, 6, 20), False),    # Sunday
    (D(2021, 3, 28), False),    # Sunday of the spring clock change
    (D(2021, 3, 29), True),
    (D(2021, 10, 31), False),   # Sunday of the autumn clock change
    (D(2021, 11, 1), True),
    (D(2021, 4, 2), False),     # Good Friday
    (D(2021, 4, 5), False),     # Easter Monday (England and Wales only)
    (D(2021, 5, 31), False),    # Spring bank holiday
    (D(2020, 5, 8), False),     # VE Day: the Early May bank holiday moved to a Friday
    (D(2020, 12, 28), False),   # Boxing Day substitute
    (D(2021, 8, 2), True),      # Scotland's summer bank holiday: DVLA works
    (D(2021, 7, 12), True),     # Northern Ireland's Battle of the Boyne: DVLA works
    (D(2021, 11, 30), True),    # St Andrew's Day (Scotland)
    (D(2021, 8, 30), False),    # England and Wales summer bank holiday
])
def test_dvla_working_days(day, working):
    assert is_dvla_working_day(day) is working


@pytest.mark.parametrize(("day", "days", "expected"), [
    (D(2021, 6, 17), -2, D(2021, 6, 15)),   # Thursday -> Tuesday
    (D(2021, 6, 14), -2, D(2021, 6, 10)),   # Monday -> Thursday over a weekend
    (D(2020, 5, 11), -2, D(2020, 5, 6)),    # Monday after VE Day's Friday: Wednesday
    (D(2020, 5, 11), -1, D(2020, 5, 7)),
    (D(2021, 4, 6), -2, D(2021, 3, 31)),    # Tuesday after Easter: the Wednesday before Good Friday
    (D(2020, 12, 29), -2, D(2020, 12, 23)),
    (D(2021, 3, 29), -2, D(2021, 3, 25)),   # over the spring clock change
    (D(2021, 11, 2), -2, D(2021, 10, 29)),  # over the autumn clock change
    (D(2021, 6, 19), -1, D(2021, 6, 18)),   # from a Saturday
    (D(2021, 4, 1), 1, D(2021, 4, 6)),      # forwards over Easter
])
def test_dvla_working_day_offset(day, days, expected):
    assert dvla_working_day_offset(day, days) == expected


def test_a_zero_offset_is_refused():
    with pytest.raises(ValueError):
        dvla_working_day_offset(D(2021, 6, 15), 0)


def test_still_sending_cutoff_is_the_end_of_the_london_day_across_clock_changes():
    # Monday 29 March 2021 (BST since Sunday): 2 working days back is Thursday 25 March, which ends at GMT midnight.
    assert letters_still_sending_cutoff(D(2021, 3, 29)) == (D(2021, 3, 25), T(2021, 3, 26, 0, 0))
    # Tuesday 2 November 2021 (GMT since Sunday): Friday 29 October ends at BST midnight, 23:00 UTC.
    assert letters_still_sending_cutoff(D(2021, 11, 2)) == (D(2021, 10, 29), T(2021, 10, 29, 23, 0))


def test_bank_holidays_come_from_the_bundled_list_with_no_network(monkeypatch):
    import requests

    def no_network(*args, **kwargs):
        raise AssertionError("bank holidays must not be downloaded")

    monkeypatch.setattr(requests, "get", no_network)
    monkeypatch.setattr(requests.Session, "request", no_network)
    calendar._england_and_wales_bank_holidays.cache_clear()
    try:
        assert not is_dvla_working_day(D(2025, 12, 25))
        assert calendar.bank_holidays_known_until() >= D(2026, 12, 28)
    finally:
        calendar._england_and_wales_bank_holidays.cache_clear()
