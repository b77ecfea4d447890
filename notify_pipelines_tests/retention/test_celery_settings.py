"""The Celery executor's settings: brokers without worker replies (SQS), the result polling it tunes, and how long
a dead worker's step takes to come back (visibility timeout, lost-worker delay)."""

from __future__ import annotations

import pytest
from dagster_celery import core_execution_loop

from notify_pipelines.core.settings import ConfigError
from notify_pipelines.orchestration import dagster_internals
from notify_pipelines.orchestration.celery_executor import (
    RESULT_POLL_SECONDS,
    SLOTS_WITHOUT_REMOTE_CONTROL,
    celery_executor,
)


def test_on_sqs_the_grain_assumes_a_fixed_number_of_slots_without_asking():
    executor = celery_executor("sqs://", backend="redis://127.0.0.1:1/0")  # nothing listens: asking would fail
    assert not executor.remote_control
    assert executor.worker_slots() == SLOTS_WITHOUT_REMOTE_CONTROL


def test_on_redis_and_rabbitmq_workers_are_asked():
    assert celery_executor("redis://127.0.0.1:6379/0").remote_control
    assert celery_executor("amqp://guest:guest@127.0.0.1:5672//").remote_control


def test_the_result_poll_interval_we_set_is_the_one_dagster_celery_sleeps_on(monkeypatch):
    # executor.execute sets it through the adapter; if dagster-celery renamed it, the setting would silently do nothing
    source = open(core_execution_loop.__file__).read()
    assert "time.sleep(TICK_SECONDS)" in source
    monkeypatch.setattr(core_execution_loop, "TICK_SECONDS", core_execution_loop.TICK_SECONDS)  # restored after
    dagster_internals.set_celery_result_poll_seconds(RESULT_POLL_SECONDS)
    assert core_execution_loop.TICK_SECONDS == dagster_internals.celery_result_poll_seconds() == RESULT_POLL_SECONDS


def test_the_visibility_timeout_and_the_lost_worker_delay_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("NOTIFY_CELERY_VISIBILITY_TIMEOUT", "90")
    monkeypatch.setenv("NOTIFY_CELERY_WORKER_LOST_SECONDS", "2.5")
    executor = celery_executor("redis://127.0.0.1:6379/0")
    transport = executor.config_source.broker_transport_options
    assert transport["visibility_timeout"] == 90
    assert transport["unacked_restore_interval"] == 9  # Redis workers look for expired messages every tenth of it
    assert transport["unacked_restore_throttle"] == 1
    assert transport["max_retries"] == 3  # dagster-celery's publish retries are kept
    assert executor.lost_seconds == 2.5


def test_by_default_an_hour_and_a_minute_and_run_config_options_win(monkeypatch):
    monkeypatch.delenv("NOTIFY_CELERY_VISIBILITY_TIMEOUT", raising=False)
    monkeypatch.delenv("NOTIFY_CELERY_WORKER_LOST_SECONDS", raising=False)
    executor = celery_executor("redis://127.0.0.1:6379/0",
                               config_source={"broker_transport_options": {"visibility_timeout": 7}})
    transport = executor.config_source.broker_transport_options
    assert transport["visibility_timeout"] == 7 and transport["unacked_restore_interval"] == 10
    assert executor.lost_seconds == 60
    assert celery_executor("redis://127.0.0.1:6379/0").config_source.broker_transport_options[
        "visibility_timeout"] == 3600


@pytest.mark.parametrize("value", ["0", "-5", "soon"])
def test_a_timeout_that_is_not_a_positive_number_is_refused_in_one_line(monkeypatch, value):
    monkeypatch.setenv("NOTIFY_CELERY_VISIBILITY_TIMEOUT", value)
    with pytest.raises(ConfigError, match=f"NOTIFY_CELERY_VISIBILITY_TIMEOUT must be a number of seconds above 0, "
                                          f"got '{value}'"):
        celery_executor("redis://127.0.0.1:6379/0")
