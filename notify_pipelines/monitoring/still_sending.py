"""The `letters_still_sending` sensor (reference §4.10): on DVLA working days, fail when normal-key letters handed to
DVLA 2 or more DVLA working days ago are still in 'sending' (DVLA has not said it printed them).

Once a day, at the first tick at or after its timetable time (orchestration/timetable.py), as the reference's cron; a
day that is not a DVLA working day (a weekend or an England and Wales bank holiday, from govuk-bank-holidays' bundled
list) is skipped. Like the other
daily checks, a failing check fails that tick only; the later ticks of the day skip, saying what it found, and the
next working day checks again (a letter still stuck is reported again: DVLA must be chased until it moves).
"""

from __future__ import annotations

import datetime as dt

import dagster as dg

from notify_pipelines.core.calendar import is_dvla_working_day, london_date
from notify_pipelines.monitoring import queries
from notify_pipelines.monitoring.sensor_state import (
    MonitoringClock,
    daily_check_due,
    load_state,
    next_daily_check,
    save_state,
)
from notify_pipelines.monitoring.sensors import RUNNING, CheckFailed, _fmt, _listed
from notify_pipelines.orchestration.resources import NotifyDatabase
from notify_pipelines.orchestration.timetable import slot

NAME = "letters_still_sending"
CHECK = slot(NAME)


def still_sending_message(found: queries.StillSending, expected: dt.date, today: dt.date) -> str:
    lines = [f"  - id {l.id}, reference {l.reference}, {l.postage or 'no'} postage, sent {_fmt(l.sent_at)}"
             for l in found.sample]
    return (
        f"There are {found.count} letter(s) in the 'sending' state from {expected:%A %d %B %Y} or earlier: handed to "
        f"DVLA {queries.STILL_SENDING_WORKING_DAYS} or more DVLA working days before {today:%A %d %B %Y} and not yet "
        f"reported printed (normal keys):\n{_listed(lines, found.count)}\n"
        f"What to do: ask DVLA whether they received and printed these letters (the print files are in "
        f"NOTIFY_LETTERS_PRINT_BUCKET under that day's folder, with a manifest listing each letter); when DVLA's "
        f"status callbacks arrive the letters leave 'sending'."
    )


@dg.sensor(
    name=NAME,
    minimum_interval_seconds=900,
    default_status=RUNNING,
    description=f"{CHECK.when()}: normal-key letters still in 'sending' 2 or more DVLA working days "
    "after they were sent to print (reference §4.10).",
)
def letters_still_sending(context: dg.SensorEvaluationContext, notify_db: NotifyDatabase,
                          monitoring_clock: MonitoringClock):
    now = monitoring_clock.now()
    state = load_state(context, NAME)
    if not daily_check_due(now, CHECK.at, state.get("last_day"), weekdays_only=False):
        last = f"checked {state['last_day']}: {state.get('found', 0)} found" if state.get("last_day") else "not checked yet"
        return dg.SkipReason(f"{last}; next check at {_fmt(next_daily_check(now, CHECK.at, weekdays_only=False))}")
    today = london_date(now)
    if not CHECK.runs_on(today):
        save_state(context, NAME, {"last_day": now.date().isoformat(), "found": 0})
        return dg.SkipReason(f"{today:%A %d %B %Y} is not a DVLA working day (weekend or bank holiday): no check")
    expected, sent_before = queries.letters_still_sending_cutoff(today)
    with notify_db.begin() as conn:
        found = queries.letters_still_sending(conn, sent_before)
    save_state(context, NAME, {"last_day": now.date().isoformat(), "found": found.count})
    if found.count:
        raise CheckFailed(still_sending_message(found, expected, today))
    return dg.SkipReason(f"no normal-key letter sent on {expected:%A %d %B %Y} or earlier is still in 'sending'")


