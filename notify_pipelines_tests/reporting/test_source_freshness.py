"""Source freshness of `notifications`: the check fails once the newest row is more than the window old during the
watched London hours (edges of both, and a clock change), not at night, reports each change once, and recovers when
rows arrive. The settings refuse malformed values."""

from __future__ import annotations

import datetime as dt
import warnings

import dagster as dg
import pytest
import sqlalchemy as sa

from notify_pipelines.core import settings
from notify_pipelines.core.calendar import london_to_utc
from notify_pipelines.core.settings import ConfigError, SourceFreshnessSettings
from notify_pipelines.reporting import source_freshness as sf
from notify_pipelines_tests import factories as f
from notify_pipelines_tests.reporting.helpers import explain

warnings.filterwarnings("ignore", category=dg.BetaWarning)
warnings.filterwarnings("ignore", category=dg.PreviewWarning)

RULE = SourceFreshnessSettings(dt.time(8), dt.time(22), dt.timedelta(minutes=60))


def london(*args) -> dt.datetime:
    return london_to_utc(dt.datetime(*args))


@pytest.fixture
def add_row(engine):
    with engine.begin() as conn:
        template = f.create_template(conn, f.create_service(conn), "sms")

    def add(created_at: dt.datetime) -> None:
        with engine.begin() as conn:
            f.create_notification(conn, template, created_at=created_at)

    return add


def tick(engine, cursor, now):
    with engine.connect() as conn:
        return sf.source_freshness_tick(conn, cursor, now, RULE)


def reported(result: dg.SensorResult) -> list[bool]:
    return [e.passed for e in result.asset_events]


def test_an_hour_without_rows_during_the_day_fails_once_and_rows_arriving_recover_it(engine, add_row):
    add_row(london(2021, 6, 15, 10, 0))
    first = tick(engine, None, london(2021, 6, 15, 11, 0))  # exactly the window: still fresh
    assert reported(first) == [True]
    assert reported(tick(engine, first.cursor, london(2021, 6, 15, 11, 0, 0))) == []  # no change, no report

    late = tick(engine, first.cursor, london(2021, 6, 15, 11, 0, 1))
    assert reported(late) == [False]
    event = late.asset_events[0]
    assert event.asset_key == dg.AssetKey("notifications") and event.check_name == sf.CHECK_NAME
    assert event.description.startswith("notifications has received no rows since 2021-06-15 09:00:00 UTC: more "
                                        "than 60 min during the watched hours (08:00-22:00 London)")
    assert reported(tick(engine, late.cursor, london(2021, 6, 15, 12, 0))) == []  # the same episode

    add_row(london(2021, 6, 15, 12, 1))
    assert reported(tick(engine, late.cursor, london(2021, 6, 15, 12, 2))) == [True]


@pytest.mark.parametrize(
    "now, fires",
    [
        (london(2021, 6, 15, 7, 59, 59), False),  # before the watched hours
        (london(2021, 6, 15, 8, 0), True),
        (london(2021, 6, 15, 21, 59, 59), True),
        (london(2021, 6, 15, 22, 0), False),  # after them
        (london(2021, 6, 16, 3, 0), False),  # night
        (dt.datetime(2021, 3, 28, 6, 59, 59), False),  # 23-hour day: 07:59:59 BST
        (dt.datetime(2021, 3, 28, 7, 0), True),  # 08:00 BST
        (dt.datetime(2021, 10, 31, 7, 59, 59), False),  # 25-hour day: 07:59:59 GMT
        (dt.datetime(2021, 10, 31, 8, 0), True),
    ],
)
def test_it_fires_only_within_the_watched_london_hours(engine, add_row, now, fires):
    add_row(now - dt.timedelta(hours=3))
    assert reported(tick(engine, json_state("pass"), now)) == ([False] if fires else [])


def json_state(state: str) -> str:
    return '{"state": "%s"}' % state


def test_a_failure_that_runs_into_the_night_stays_open_until_rows_arrive(engine, add_row):
    add_row(london(2021, 6, 15, 20, 0))
    failing = tick(engine, json_state("pass"), london(2021, 6, 15, 21, 30))
    assert reported(failing) == [False]
    assert reported(tick(engine, failing.cursor, london(2021, 6, 15, 22, 30))) == []  # a quiet night is no recovery
    add_row(london(2021, 6, 15, 23, 0))
    assert reported(tick(engine, failing.cursor, london(2021, 6, 15, 23, 30))) == [True]


def test_an_empty_table_fails_during_the_day(engine):
    result = tick(engine, None, london(2021, 6, 15, 9))
    assert reported(result) == [False]
    assert "received no rows at all" in result.asset_events[0].description


def test_the_newest_row_is_one_step_down_the_created_at_index(engine, add_row):
    add_row(dt.datetime(2021, 1, 1))
    with engine.begin() as conn:
        conn.execute(sa.text(
            'INSERT INTO notifications (id, service_id, template_id, template_version, key_type, notification_type,'
            ' created_at, notification_status, "to") SELECT gen_random_uuid(), service_id, template_id, 1, key_type,'
            " notification_type, created_at + g * interval '1 minute', 'created', 'x'"
            " FROM notifications, generate_series(1, 20000) g"))
        conn.execute(sa.text("ANALYZE notifications"))
        plan = explain(conn, sa.select(sa.func.max(sf.schema.notifications.c.created_at)))
    assert "ix_notifications_created_at" in plan and "Seq Scan" not in plan, plan


def test_the_settings_and_their_refusals(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOURCE_FRESHNESS_HOURS", raising=False)
    monkeypatch.delenv("NOTIFY_SOURCE_FRESHNESS_WINDOW_MINUTES", raising=False)
    assert settings.source_freshness_settings() == RULE
    monkeypatch.setenv("NOTIFY_SOURCE_FRESHNESS_HOURS", "07:30-23:00")
    monkeypatch.setenv("NOTIFY_SOURCE_FRESHNESS_WINDOW_MINUTES", "20")
    assert settings.source_freshness_settings() == SourceFreshnessSettings(
        dt.time(7, 30), dt.time(23), dt.timedelta(minutes=20))
    for hours, minutes in (("7-23", "20"), ("22:00-08:00", "20"), ("08:00-22:00", "0"), ("08:00-22:00", "1h")):
        monkeypatch.setenv("NOTIFY_SOURCE_FRESHNESS_HOURS", hours)
        monkeypatch.setenv("NOTIFY_SOURCE_FRESHNESS_WINDOW_MINUTES", minutes)
        with pytest.raises(ConfigError):
            settings.source_freshness_settings()
