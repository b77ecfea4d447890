"""What a sensor remembers between ticks, kept so that it survives a failed tick; and the sensors' clock.

Dagster discards the cursor of a tick that raises, yet a check that fails must still remember what it already did
(re-submitted letters, rows it reported), or the next tick would act twice. So the state is written to the
instance's key-value store (the one Dagster's own daemons keep their cursors in) before the sensor raises, and is
mirrored into the sensor's cursor so that it shows in the UI.
"""

from __future__ import annotations

import datetime as dt
import json

import dagster as dg

from notify_pipelines.calendar import to_naive_utc

KEY_PREFIX = "notify_pipelines/sensor_state/"


def load_state(context: dg.SensorEvaluationContext, name: str) -> dict:
    stored = context.instance.run_storage.get_cursor_values({KEY_PREFIX + name}).get(KEY_PREFIX + name)
    raw = stored or context.cursor
    return json.loads(raw) if raw else {}


def save_state(context: dg.SensorEvaluationContext, name: str, state: dict) -> None:
    raw = json.dumps(state, sort_keys=True, default=str)
    context.instance.run_storage.set_cursor_values({KEY_PREFIX + name: raw})
    context.update_cursor(raw)


class MonitoringClock(dg.ConfigurableResource):
    """"Now" for the sensors: the wall clock, or `fixed_utc` (ISO, naive UTC) when a test pins it."""

    fixed_utc: str | None = None

    def now(self) -> dt.datetime:
        if self.fixed_utc:
            return to_naive_utc(dt.datetime.fromisoformat(self.fixed_utc))
        return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def parse_time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def daily_check_due(now: dt.datetime, at: dt.time, last_day: str | None, *, weekdays_only: bool) -> bool:
    """A daily check runs at the first tick at or after `at` (UTC, as the reference's cron) on each due day."""
    if weekdays_only and now.weekday() >= 5:
        return False
    return now.time() >= at and last_day != now.date().isoformat()


def next_daily_check(now: dt.datetime, at: dt.time, *, weekdays_only: bool) -> dt.datetime:
    day = now.date() if now.time() < at else now.date() + dt.timedelta(days=1)
    while weekdays_only and day.weekday() >= 5:
        day += dt.timedelta(days=1)
    return dt.datetime.combine(day, at)
