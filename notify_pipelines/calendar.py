"""London days, cutoffs and deadlines as naive-UTC datetimes. Pure functions, no I/O.

Every timestamp in the database is naive UTC; every "day" is a Europe/London calendar day, whose window
[london_midnight(d), london_midnight(d + 1)) is 23 or 25 hours long on clock-change days.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")
UTC = dt.timezone.utc
PRINT_DEADLINE = dt.time(17, 30)  # LETTER_PROCESSING_DEADLINE, local time


def to_naive_utc(moment: dt.datetime) -> dt.datetime:
    """An aware datetime as naive UTC; a naive one is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def utc_to_london(moment: dt.datetime) -> dt.datetime:
    """Naive UTC -> aware London time."""
    return moment.replace(tzinfo=UTC).astimezone(LONDON)


def london_to_utc(local: dt.datetime) -> dt.datetime:
    """Naive London wall-clock time -> naive UTC."""
    return to_naive_utc(local.replace(tzinfo=LONDON))


def london_midnight(day: dt.date) -> dt.datetime:
    """Naive UTC instant of London midnight at the start of `day` (2016-06-17 -> 2016-06-16 23:00)."""
    return london_to_utc(dt.datetime.combine(day, dt.time()))


def day_window(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of a London day in naive UTC."""
    return london_midnight(day), london_midnight(day + dt.timedelta(days=1))


def london_date(moment_utc: dt.datetime) -> dt.date:
    """The London calendar date of a naive-UTC (or aware) instant."""
    return utc_to_london(to_naive_utc(moment_utc)).date()


def local_today(now_utc: dt.datetime) -> dt.date:
    return london_date(now_utc)


def retention_cutoff(day: dt.date, days_of_retention: int) -> dt.datetime:
    """Rows created strictly before this naive-UTC instant are past retention on the night of `day`."""
    return london_midnight(day - dt.timedelta(days=days_of_retention))


def print_deadline_yesterday(now_utc: dt.datetime) -> dt.datetime:
    """Naive UTC of 17:30 London time on the London day before `now_utc`."""
    yesterday = local_today(now_utc) - dt.timedelta(days=1)
    return london_to_utc(dt.datetime.combine(yesterday, PRINT_DEADLINE))


def days(first: dt.date, last: dt.date) -> list[dt.date]:
    """Every date from first to last inclusive."""
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
