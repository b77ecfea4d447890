"""Freshness of the daily facts: the partition owed at a London time, the sensor's evaluations (fail while yesterday
is missing after the deadline, pass once it is built), and the alert forwarder's one alert and one recovery."""

from __future__ import annotations

import datetime as dt
import warnings

import dagster as dg
import pytest
import sqlalchemy as sa

from notify_pipelines.core.calendar import london_to_utc
from notify_pipelines.monitoring.alerts import AlertChannel, alert_forwarder
from notify_pipelines.reporting.assets import (
    ft_billing,
    ft_billing_letter_despatch,
    ft_notification_status,
    ft_processing_time,
)
from notify_pipelines.reporting.freshness import (
    CHECK_NAME,
    freshness_checks,
    freshness_tick,
    owed_day,
)
from notify_pipelines_tests.conftest import create_database, drop_database

warnings.filterwarnings("ignore", category=dg.BetaWarning)
warnings.filterwarnings("ignore", category=dg.PreviewWarning)
D = dt.date


def london(*args) -> dt.datetime:
    """A London wall-clock time as naive UTC."""
    return london_to_utc(dt.datetime(*args))


@pytest.mark.parametrize(
    "now, deadline, owed",
    [
        (london(2021, 6, 2, 1, 59), dt.time(2), D(2021, 5, 31)),  # before the deadline: the day before's is owed
        (london(2021, 6, 2, 2, 0), dt.time(2), D(2021, 6, 1)),
        (london(2021, 6, 2, 2, 59), dt.time(3), D(2021, 5, 31)),
        (london(2021, 3, 28, 3, 0), dt.time(2), D(2021, 3, 27)),  # the 23-hour day skips 01:00-02:00 London
        (london(2021, 10, 31, 2, 0), dt.time(2), D(2021, 10, 30)),  # 25-hour day: 02:00 GMT
    ],
)
def test_the_partition_owed_at_a_london_time(now, deadline, owed):
    assert owed_day(now, deadline) == owed


def build(instance, notify_db, asset, day: str) -> None:
    assert dg.materialize([asset], partition_key=day, instance=instance, resources={"notify_db": notify_db}).success


def states(result: dg.SensorResult) -> dict[str, tuple[str, bool]]:
    return {e.asset_key.to_user_string(): (e.metadata["partition"].value, e.passed) for e in result.asset_events}


def test_the_check_fails_for_a_missing_yesterday_after_the_deadline_and_passes_once_it_is_built(engine, notify_db):
    instance = dg.DagsterInstance.ephemeral()
    build(instance, notify_db, ft_billing, "2021-05-31")
    before = freshness_tick(instance, None, london(2021, 6, 2, 1, 30))
    assert states(before)["ft_billing"] == ("2021-05-31", True)  # before 02:00 the day before is owed, and is there

    after = freshness_tick(instance, before.cursor, london(2021, 6, 2, 2, 5))
    assert states(after) == {"ft_billing": ("2021-06-01", False), "ft_notification_status": ("2021-06-01", False)}
    failing = next(e for e in after.asset_events if e.asset_key == ft_billing.key)
    assert failing.check_name == CHECK_NAME
    assert failing.description.startswith("ft_billing partition 2021-06-01 is not built: it was due by 02:00")
    never = next(e for e in after.asset_events if e.asset_key == ft_notification_status.key)
    assert never.description == (  # an empty deployment: what to do, in one line
        "ft_notification_status has never been built on this instance: backfill it up to 2021-06-01 (asset page > "
        "Materialize, or dg launch --assets ft_notification_status --partition-range FIRST...2021-06-01); the "
        "nightly run keeps it fresh after.")
    assert freshness_tick(instance, after.cursor, london(2021, 6, 2, 2, 10)).asset_events == []  # no repeats

    build(instance, notify_db, ft_billing, "2021-06-01")
    landed = freshness_tick(instance, after.cursor, london(2021, 6, 2, 2, 15))
    assert states(landed) == {"ft_billing": ("2021-06-01", True)}


def test_the_checks_run_by_hand_report_the_current_state(engine, notify_db):
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [ft_processing_time, *freshness_checks], selection=dg.AssetSelection.checks(*freshness_checks),
        instance=instance, resources={"notify_db": notify_db}, raise_on_error=False,
    )
    evaluations = result.get_asset_check_evaluations()
    assert evaluations and not any(e.passed for e in evaluations)  # nothing was ever built in this instance


@pytest.fixture
def postgres_instance():
    """A Dagster instance on PostgreSQL, as in every deployment (the forwarder needs its instance-wide event ids)."""
    url = create_database("dagster_test")
    try:
        with dg.instance_for_test(overrides={"storage": {"postgres": {"postgres_url": url}}}) as instance:
            with instance.run_storage.connect() as conn:
                conn.execute(sa.text("DELETE FROM kvs"))
            yield instance
    finally:
        drop_database(url)


def test_a_late_partition_is_one_alert_and_a_recovery_when_it_lands(engine, notify_db, postgres_instance, http_recorder):
    instance = postgres_instance
    channel = AlertChannel(enabled=True, environment="test", ui_base_url="http://dagster.test",
                           webhook_url=http_recorder.url)

    def sensor_then_forwarder(cursor, now):
        result = freshness_tick(instance, cursor, now)
        for event in result.asset_events:  # what the sensor daemon does with a tick's asset events
            instance.report_runless_asset_event(event)
        with dg.build_sensor_context(instance=instance, resources={"alert_channel": channel}) as context:
            alert_forwarder.evaluate_tick(context)
        return result.cursor

    for asset in (ft_notification_status, ft_processing_time, ft_billing_letter_despatch):  # every fact but billing
        build(instance, notify_db, asset, "2021-06-01")
    cursor = sensor_then_forwarder(None, london(2021, 6, 2, 3, 5))
    cursor = sensor_then_forwarder(cursor, london(2021, 6, 2, 3, 10))
    alerts = [r.json() for r in http_recorder.requests]
    assert [(a["status"], a["name"]) for a in alerts] == [("failure", f"ft_billing:{CHECK_NAME}")]
    assert "ft_billing has never been built on this instance: backfill it up to 2021-06-01" in alerts[0]["message"]

    build(instance, notify_db, ft_billing, "2021-06-01")
    sensor_then_forwarder(cursor, london(2021, 6, 2, 3, 15))
    assert [r.json()["status"] for r in http_recorder.requests] == ["failure", "recovery"]
