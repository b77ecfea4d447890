"""The alert forwarder on a real Dagster instance: real failing sensor ticks made by Dagster's own sensor daemon, a
real failed run and a real failing asset check, and a real HTTP server as the webhook."""

from __future__ import annotations

import logging
import os
import time

import dagster as dg
import pytest

from notify_pipelines.monitoring.alerts import (
    AlertChannel,
    alert_channel_from_env,
    alert_forwarder,
)

FLAKY_ENV = "NOTIFY_TEST_FLAKY_SENSOR"


# ---- a code location whose sensor fails or passes on demand (loaded by the daemon from this file) ---------------------


@dg.sensor(name="flaky_check", minimum_interval_seconds=1, default_status=dg.DefaultSensorStatus.RUNNING)
def flaky_check(context):
    if os.environ.get(FLAKY_ENV) == "fail":
        raise RuntimeError("3 letters are stuck in 'created'. What to do: follow the runbook.")
    return dg.SkipReason("nothing stuck")


flaky_defs = dg.Definitions(sensors=[flaky_check])


@pytest.fixture
def instance(postgres_instance):
    return postgres_instance


@pytest.fixture
def sensor_daemon(instance):
    """Runs one iteration of Dagster's sensor daemon over the flaky code location, at a given offset in seconds."""
    from dagster._core.remote_origin import InProcessCodeLocationOrigin
    from dagster._core.test_utils import (
        InProcessTestWorkspaceLoadTarget,
        create_test_daemon_workspace_context,
        freeze_time,
    )
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
    from dagster._daemon.sensor import execute_sensor_iteration

    origin = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(python_file=__file__, attribute="flaky_defs"), location_name="flaky_location"
    )
    start = time.time()
    with create_test_daemon_workspace_context(InProcessTestWorkspaceLoadTarget(origin), instance) as workspace:

        def tick(outcome: str, at_second: int) -> None:
            os.environ[FLAKY_ENV] = outcome
            with freeze_time(start + at_second):
                list(execute_sensor_iteration(workspace, logging.getLogger("test"), None, None))

        yield tick
    os.environ.pop(FLAKY_ENV, None)


def webhook_channel(url: str, *, enabled: bool = True) -> AlertChannel:
    return AlertChannel(enabled=enabled, environment="test", ui_base_url="http://dagster.test", webhook_url=url)


def forward(instance, channel: AlertChannel):
    """One forwarder tick with a fresh context, as the daemon would run it (its state lives in the instance)."""
    with dg.build_sensor_context(instance=instance, resources={"alert_channel": channel}) as context:
        return alert_forwarder.evaluate_tick(context)


# ---- failed ticks: one alert per episode, one recovery ---------------------------------------------------------------


def test_failed_tick_alerts_once_per_episode_and_recovery_once(instance, sensor_daemon, http_recorder):
    channel = webhook_channel(http_recorder.url)
    forward(instance, channel)
    assert http_recorder.requests == []

    sensor_daemon("fail", 10)
    forward(instance, channel)
    assert len(http_recorder.requests) == 1
    alert = http_recorder.requests[0].json()
    assert alert["status"] == "failure" and alert["kind"] == "sensor" and alert["name"] == "flaky_check"
    assert alert["message"] == "3 letters are stuck in 'created'. What to do: follow the runbook."
    assert alert["url"] == "http://dagster.test/locations/__repository__@flaky_location/sensors/flaky_check"
    assert alert["environment"] == "test" and "flaky_check failed" in alert["text"]

    sensor_daemon("fail", 20)
    sensor_daemon("fail", 30)
    forward(instance, channel)
    assert len(http_recorder.requests) == 1  # the same episode

    sensor_daemon("pass", 40)
    forward(instance, channel)
    forward(instance, channel)
    assert len(http_recorder.requests) == 2
    recovery = http_recorder.requests[1].json()
    assert recovery["status"] == "recovery" and recovery["name"] == "flaky_check"
    assert recovery["message"] == "Latest tick: nothing stuck"

    sensor_daemon("fail", 50)  # a new episode
    forward(instance, channel)
    assert [r.json()["status"] for r in http_recorder.requests] == ["failure", "recovery", "failure"]


def test_unreachable_channel_keeps_the_alert_and_delivers_it_once_later(instance, sensor_daemon, http_recorder):
    channel = webhook_channel(http_recorder.url)
    sensor_daemon("fail", 10)
    http_recorder.respond_with(500)
    with pytest.raises(Exception, match="could not be delivered"):
        forward(instance, channel)
    http_recorder.respond_with(200)
    forward(instance, channel)
    forward(instance, channel)
    assert [r.json()["status"] for r in http_recorder.requests] == ["failure", "failure"]  # one retry, then done
    assert len({r.body for r in http_recorder.requests}) == 1


def test_disabled_channel_only_logs(instance, sensor_daemon, http_recorder):
    channel = webhook_channel(http_recorder.url, enabled=False)
    sensor_daemon("fail", 10)
    result = forward(instance, channel)
    assert http_recorder.requests == []
    assert result.skip_message == "1 alert(s) forwarded to the log only"


def test_enabled_without_a_channel_fails_loudly(instance, sensor_daemon):
    sensor_daemon("fail", 10)
    with pytest.raises(Exception, match="NOTIFY_ALERTS_WEBHOOK_URL"):
        forward(instance, AlertChannel(enabled=True))


# ---- failed runs and failed asset checks ----------------------------------------------------------------------------


@dg.op
def explode():
    raise ValueError("the partition could not be built: ft_billing is locked")


@dg.job
def fragile_job():
    explode()


def test_failed_run_alerts_once(instance, http_recorder):
    channel = webhook_channel(http_recorder.url)
    result = fragile_job.execute_in_process(instance=instance, raise_on_error=False)
    forward(instance, channel)
    forward(instance, channel)
    assert len(http_recorder.requests) == 1
    alert = http_recorder.requests[0].json()
    assert alert["kind"] == "run" and alert["name"].startswith("fragile_job")
    assert alert["message"] == "step explode: the partition could not be built: ft_billing is locked"
    assert alert["url"] == f"http://dagster.test/runs/{result.run_id}"


CHECK_PASSES = {"value": False}


@dg.asset
def daily_totals():
    return 1


@dg.asset_check(asset=daily_totals, blocking=False)
def totals_match_history():
    return dg.AssetCheckResult(passed=CHECK_PASSES["value"], description="ft_billing differs from history by 12 rows")


def test_failing_non_blocking_check_alerts_once_and_recovers(instance, http_recorder):
    channel = webhook_channel(http_recorder.url)
    CHECK_PASSES["value"] = False
    for _ in range(2):
        assert dg.materialize([daily_totals, totals_match_history], instance=instance).success  # the run succeeds
        forward(instance, channel)
    assert len(http_recorder.requests) == 1
    alert = http_recorder.requests[0].json()
    assert alert["kind"] == "asset check" and alert["name"] == "daily_totals:totals_match_history"
    assert alert["message"] == "ft_billing differs from history by 12 rows"
    assert alert["url"] == "http://dagster.test/assets/daily_totals?view=checks"

    CHECK_PASSES["value"] = True
    dg.materialize([daily_totals, totals_match_history], instance=instance)
    forward(instance, channel)
    assert [r.json()["status"] for r in http_recorder.requests] == ["failure", "recovery"]


# ---- configuration --------------------------------------------------------------------------------------------------


def test_channel_from_environment(monkeypatch):
    for name in list(os.environ):
        if name.startswith("NOTIFY_ALERTS_") or name == "NOTIFY_UI_BASE_URL":
            monkeypatch.delenv(name)
    assert alert_channel_from_env().enabled is False
    monkeypatch.setenv("NOTIFY_ALERTS_ENABLED", "true")
    monkeypatch.setenv("NOTIFY_ALERTS_ENVIRONMENT", "production")
    monkeypatch.setenv("NOTIFY_UI_BASE_URL", "https://dagster.example.gov.uk/")
    monkeypatch.setenv("NOTIFY_ALERTS_WEBHOOK_URL", "https://hooks.example/abc")
    channel = alert_channel_from_env()
    assert channel.enabled and channel.environment == "production"
    assert channel.ui_base_url == "https://dagster.example.gov.uk"
    assert channel.webhook_url == dg.EnvVar("NOTIFY_ALERTS_WEBHOOK_URL")
