"""A PostgreSQL-backed Dagster instance (as every deployment's dagster.yaml configures), the night_plan and
missed_nights sensors ticked at a pinned "now", and the alert forwarder ticked into a recording webhook."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest

from notify_pipelines.monitoring.alerts import AlertChannel, alert_forwarder
from notify_pipelines.orchestration import night


@pytest.fixture
def instance(postgres_instance):
    return postgres_instance


@pytest.fixture
def repository(database_url):
    from notify_pipelines.definitions import defs

    return defs.get_repository_def()


@pytest.fixture
def clock(monkeypatch):
    """Pins night_plan's and the schedules' "now" (aware UTC): clock.at(moment)."""

    class Clock:
        now = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)

        def at(self, moment: dt.datetime) -> None:
            self.now = moment

    pinned = Clock()
    monkeypatch.setattr(night, "utc_now", lambda: pinned.now)
    return pinned


@pytest.fixture
def tick_night_plan(instance, repository):
    """One night_plan tick, with the cursor the previous tick left, as the daemon runs it."""
    sensor = repository.get_sensor_def(night.NIGHT_PLAN)
    cursor = {"value": None}

    def tick():
        with dg.build_sensor_context(instance=instance, repository_def=repository, cursor=cursor["value"]) as context:
            result = sensor.evaluate_tick(context)
        cursor["value"] = result.cursor
        return result

    return tick


@pytest.fixture
def forward(instance, http_recorder):
    """One alert forwarder tick into the recording webhook; returns every alert it has received so far."""
    channel = AlertChannel(enabled=True, environment="test", ui_base_url="http://dagster.test",
                           webhook_url=http_recorder.url)

    def forward_once() -> list[dict]:
        with dg.build_sensor_context(instance=instance, resources={"alert_channel": channel}) as context:
            alert_forwarder.evaluate_tick(context)
        return [r.json() for r in http_recorder.requests]

    return forward_once
