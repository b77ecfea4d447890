"""London days, cutoffs and deadlines as naive-UTC datetimes. Pure functions, no I/O.

Every timestamp in the database is naive UTC; every "day" is a Europe/London calendar day, whose window
[london_midnight(d), london_midnight(d + 1)) is 23 or 25 hours long on clock-change days.
"""

from __future__ import annotations

import datetime as dt
import functools

from notify_pipelines.core.vocabulary import LONDON, UTC

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


# ---- the print deadline and DVLA working days -----------------------------------------------------------------------


def print_deadline(day: dt.date) -> dt.datetime:
    """Naive UTC of 17:30 London time on `day`: the print run of `day` takes letters created strictly before it
    (16:30 UTC in summer time, 17:30 UTC in winter)."""
    return london_to_utc(dt.datetime.combine(day, PRINT_DEADLINE))


def print_deadline_passed(day: dt.date, now_utc: dt.datetime) -> bool:
    """True once `day`'s deadline is behind `now_utc`: before that, letters can still be created (or cancelled) for
    that day's print run, so it must not be collated yet."""
    return to_naive_utc(now_utc) >= print_deadline(day)


@functools.cache
def _england_and_wales_bank_holidays() -> frozenset[dt.date]:
    """England and Wales bank holidays from the list bundled with govuk-bank-holidays (never downloaded: the
    machines that run this may reach no network). The bundled list ends with the package's release; keep the
    package up to date."""
    from govuk_bank_holidays.bank_holidays import BankHolidays

    holidays = BankHolidays(use_cached_holidays=True)
    return frozenset(h["date"] for h in holidays.get_holidays(division=BankHolidays.ENGLAND_AND_WALES))


def bank_holidays_known_until() -> dt.date:
    """The last England and Wales bank holiday the bundled list knows: later years look holiday-free."""
    return max(_england_and_wales_bank_holidays())


def is_bank_holiday(day: dt.date) -> bool:
    """An England and Wales bank holiday (from the bundled list)."""
    return day in _england_and_wales_bank_holidays()


def is_dvla_working_day(day: dt.date) -> bool:
    """DVLA prints Monday to Friday, except England and Wales bank holidays."""
    return day.weekday() < 5 and day not in _england_and_wales_bank_holidays()


def dvla_working_day_offset(day: dt.date, days: int) -> dt.date:
    """The DVLA working day `days` working days after `day` (before it when negative); `day` itself is not
    counted, and need not be a working day (reference: get_dvla_working_day_offset_by)."""
    if days == 0:
        raise ValueError("days must not be 0")
    step = 1 if days > 0 else -1
    remaining = abs(days)
    while remaining:
        day += dt.timedelta(days=step)
        if is_dvla_working_day(day):
            remaining -= 1
    return day


def financial_year(day: dt.date) -> int:
    """The April's year of the financial year holding `day` (2022-03-31 -> 2021, 2022-04-01 -> 2022)."""
    return day.year if day.month >= 4 else day.year - 1
