"""End to end: a sending-side sensor run by Dagster's own sensor daemon on a real instance fails its tick, the alert
forwarder sends one alert with the sensor's message, and the next good tick sends one recovery message."""

from __future__ import annotations

import datetime as dt
import logging
import time

import dagster as dg
import pytest
import sqlalchemy as sa

from notify_pipelines.core.vocabulary import utc_now
from notify_pipelines.db import schema
from notify_pipelines.monitoring.job_reprocessing import RecordedJobReprocessor
from notify_pipelines.monitoring.sending_checks import stuck_jobs
from notify_pipelines.monitoring.sensor_state import MonitoringClock
from notify_pipelines.orchestration.resources import NotifyDatabase
from notify_pipelines_tests import factories as f
from notify_pipelines_tests.monitoring.test_alerts import (  # noqa: F401  (fixtures: Dagster's storage on PostgreSQL)
    forward,
    instance,
    webhook_channel,
)

# The code location the daemon loads from this file: the real sensor on the test database, with the wall clock.
sending_defs = dg.Definitions(
    sensors=[stuck_jobs],
    resources={
        "notify_db": NotifyDatabase(url=dg.EnvVar("NOTIFY_DATABASE_URL")),
        "job_reprocessor": RecordedJobReprocessor(),
        "monitoring_clock": MonitoringClock(),
    },
)


@pytest.fixture
def sensor_daemon(instance, database_url):  # noqa: F811
    from dagster._core.remote_origin import InProcessCodeLocationOrigin
    from dagster._core.test_utils import (
        InProcessTestWorkspaceLoadTarget,
        create_test_daemon_workspace_context,
        freeze_time,
    )
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
    from dagster._daemon.sensor import execute_sensor_iteration

    origin = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(python_file=__file__, attribute="sending_defs"), location_name="sending_location"
    )
    start = time.time()
    with create_test_daemon_workspace_context(InProcessTestWorkspaceLoadTarget(origin), instance) as workspace:

        def tick(at_second: int) -> None:
            with freeze_time(start + at_second):  # Dagster's clock only: the sensor reads the wall clock
                list(execute_sensor_iteration(workspace, logging.getLogger("test"), None, None))

        yield tick


def test_a_stuck_job_alerts_once_and_the_next_good_tick_recovers(engine, instance, sensor_daemon,  # noqa: F811
                                                                 http_recorder):
    with engine.begin() as conn:
        template = f.create_template(conn, f.create_service(conn), "sms")
        job_id = f.create_job(conn, template, created_at=utc_now() - dt.timedelta(hours=1), notification_count=5)
        conn.execute(sa.update(schema.jobs).where(schema.jobs.c.id == job_id).values(
            job_status="in progress", processing_started=utc_now() - dt.timedelta(minutes=31)))
    channel = webhook_channel(http_recorder.url)
    forward(instance, channel)

    sensor_daemon(0)
    forward(instance, channel)
    [alert] = [r.json() for r in http_recorder.requests]
    assert alert["status"] == "failure" and alert["kind"] == "sensor" and alert["name"] == "stuck_jobs"
    assert alert["message"].startswith("1 job(s) stuck: in progress since, or pending though scheduled for,")
    assert str(job_id) in alert["message"] and "What to do" in alert["message"]
    with engine.begin() as conn:
        assert conn.execute(sa.select(schema.jobs.c.job_status)).scalar_one() == "error"
        assert conn.execute(sa.select(schema.job_reprocessing_requests.c.job_id)).scalars().all() == [job_id]

    sensor_daemon(70)  # the sensor's minimum interval is 60 s
    forward(instance, channel)
    assert len(http_recorder.requests) == 2
    recovery = http_recorder.requests[1].json()
    assert recovery["status"] == "recovery" and recovery["name"] == "stuck_jobs"
    assert recovery["message"].startswith("Latest tick: no job in progress since, or pending though scheduled for,")
