"""What a sensor remembers between ticks, kept so that it survives a failed tick; and the sensors' clock.

Dagster discards the cursor of a tick that raises, yet a check that fails must still remember what it already did
(re-submitted letters, rows it reported), or the next tick would act twice. So the state is written to the
instance's key-value store (the one Dagster's own daemons keep their cursors in) before the sensor raises, and is
mirrored into the sensor's cursor so that it shows in the UI, where an operator can also change it.
"""

from __future__ import annotations

import datetime as dt
import json

import dagster as dg

from notify_pipelines.core.calendar import to_naive_utc
from notify_pipelines.core.vocabulary import utc_now
from notify_pipelines.orchestration.dagster_internals import get_cursor_value, set_cursor_value

KEY_PREFIX = "notify_pipelines/sensor_state/"


def _saved(context: dg.SensorEvaluationContext, name: str) -> dict | None:
    stored = get_cursor_value(context.instance, KEY_PREFIX + name)
    return json.loads(stored) if stored else None


def load_state(context: dg.SensorEvaluationContext, name: str) -> dict:
    """The state last saved, unless an operator has since set the cursor in the UI (then the cursor wins: an empty
    cursor starts the sensor afresh). The cursor is either the saved state (the tick succeeded) or what it was when
    that tick began (the tick failed); anything else was set by hand."""
    saved = _saved(context, name)
    if saved is None or context.cursor not in (saved["cursor"], saved["cursor_before"]):
        return json.loads(context.cursor) if context.cursor else {}
    return saved["state"]


def save_state(context: dg.SensorEvaluationContext, name: str, state: dict) -> None:
    raw = json.dumps(state, sort_keys=True, default=str)
    # The cursor this tick began with: on a second save in the same tick, context.cursor is already the first save's.
    previous = _saved(context, name) if context.cursor_updated else None
    before = previous["cursor_before"] if previous else context.cursor
    saved = {"state": state, "cursor": raw, "cursor_before": before}
    set_cursor_value(context.instance, KEY_PREFIX + name, json.dumps(saved, default=str))
    context.update_cursor(raw)


class MonitoringClock(dg.ConfigurableResource):
    """"Now" for the sensors: the wall clock, or `fixed_utc` (ISO, naive UTC) when a test pins it."""

    fixed_utc: str | None = None

    def now(self) -> dt.datetime:
        if self.fixed_utc:
            return to_naive_utc(dt.datetime.fromisoformat(self.fixed_utc))
        return utc_now()


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
