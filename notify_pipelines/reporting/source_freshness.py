"""Source freshness: `notifications` must keep receiving rows during the day. If the API stops writing, nothing
else notices until the next night's facts are short.

The check `received_rows_recently` on the `notifications` source asset passes when the newest row was created at most
NOTIFY_SOURCE_FRESHNESS_WINDOW_MINUTES (60) ago, and applies only between the London times of
NOTIFY_SOURCE_FRESHNESS_HOURS (08:00-22:00, start inclusive, end exclusive): at night an hour without a notification
is normal. It follows freshness.py's design: the sensor `source_freshness` evaluates it every minute without launching
a run and reports an evaluation only when the result changes, so the alert forwarder sends one alert when rows stop
and one recovery message when they come back. Outside the hours it reports no new failure, but does report the
recovery if rows arrive then (an episode that began in the evening stays open overnight until rows arrive).

The newest row is found with `max(created_at)`, one step down ix_notifications_created_at.
"""

# No `from __future__ import annotations`: Dagster reads the context annotations at runtime.

import datetime as dt
import json

import dagster as dg
import sqlalchemy as sa

from notify_pipelines.core import settings
from notify_pipelines.core.calendar import to_naive_utc, utc_to_london
from notify_pipelines.db import schema
from notify_pipelines.reporting.sources import source_key
from notify_pipelines.orchestration.resources import NotifyDatabase
from notify_pipelines.core.vocabulary import utc_now

CHECK_NAME = "received_rows_recently"
SENSOR_NAME = "source_freshness"
NOTIFICATIONS = source_key(schema.notifications)


def last_row_at(conn: sa.Connection) -> dt.datetime | None:
    return conn.execute(sa.select(sa.func.max(schema.notifications.c.created_at))).scalar_one()


def watched(now_utc: dt.datetime, rule: settings.SourceFreshnessSettings) -> bool:
    """Whether the London time of `now_utc` is within the watched hours [start, end)."""
    local = utc_to_london(to_naive_utc(now_utc)).time()
    return rule.start <= local < rule.end


def fresh(last_row: dt.datetime | None, now_utc: dt.datetime, rule: settings.SourceFreshnessSettings) -> bool:
    """The newest row is at most `rule.window` old (exactly `window` old still counts)."""
    return last_row is not None and to_naive_utc(now_utc) - last_row <= rule.window


def evaluate(last_row: dt.datetime | None, now_utc: dt.datetime,
             rule: settings.SourceFreshnessSettings) -> dg.AssetCheckEvaluation:
    """Passes outside the watched hours, and inside them when the newest row is at most `rule.window` old."""
    now = to_naive_utc(now_utc)
    minutes = int(rule.window.total_seconds() // 60)
    hours = f"{rule.start:%H:%M}-{rule.end:%H:%M} London"
    metadata = {"last_row_at": str(last_row) if last_row else "none", "window_minutes": minutes,
                "watched_hours": hours}
    if not watched(now, rule):
        passed, description = True, f"outside the watched hours ({hours}); newest row {last_row or 'none'} UTC"
    elif fresh(last_row, now, rule):
        passed, description = True, f"newest row created {last_row:%Y-%m-%d %H:%M:%S} UTC, within {minutes} min"
    else:
        passed = False
        since = f"since {last_row:%Y-%m-%d %H:%M:%S} UTC" if last_row else "at all"
        description = (
            f"notifications has received no rows {since}: more than {minutes} min during the watched hours "
            f"({hours}). Is the API writing? Look at the API's health and its database connection."
        )
    return dg.AssetCheckEvaluation(asset_key=NOTIFICATIONS, check_name=CHECK_NAME, passed=passed,
                                   description=description, metadata=metadata)


@dg.asset_check(
    asset=NOTIFICATIONS,
    name=CHECK_NAME,
    description="notifications received a row in the last NOTIFY_SOURCE_FRESHNESS_WINDOW_MINUTES during "
    f"NOTIFY_SOURCE_FRESHNESS_HOURS (London; evaluated by {SENSOR_NAME}).",
)
def notifications_received_rows_recently(context: dg.AssetCheckExecutionContext,
                                         notify_db: NotifyDatabase) -> dg.AssetCheckResult:
    with notify_db.engine.connect() as conn:
        result = evaluate(last_row_at(conn), utc_now(), settings.source_freshness_settings())
    return dg.AssetCheckResult(passed=result.passed, description=result.description, metadata=result.metadata)


def source_freshness_tick(conn: sa.Connection, cursor: str | None, now_utc: dt.datetime,
                          rule: settings.SourceFreshnessSettings) -> dg.SensorResult:
    """The evaluation when its result changed since the cursor. Outside the watched hours nothing changes, except
    that a failure recovers once rows arrive (a quiet night alone is no recovery)."""
    last = json.loads(cursor) if cursor else {}
    newest = last_row_at(conn)
    evaluation = evaluate(newest, now_utc, rule)
    state = "pass" if evaluation.passed else "fail"
    events = []
    if last.get("state") != state and (watched(now_utc, rule) or fresh(newest, now_utc, rule)):
        events.append(evaluation)
        last["state"] = state
    return dg.SensorResult(asset_events=events, cursor=json.dumps(last, sort_keys=True))


@dg.sensor(
    name=SENSOR_NAME,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Reports notifications' check received_rows_recently when it changes (no row for an hour during "
    "the day); no runs.",
)
def source_freshness(context: dg.SensorEvaluationContext, notify_db: NotifyDatabase) -> dg.SensorResult:
    with notify_db.engine.connect() as conn:
        return source_freshness_tick(conn, context.cursor, utc_now(), settings.source_freshness_settings())
