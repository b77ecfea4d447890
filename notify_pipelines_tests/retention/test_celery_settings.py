"""The Celery executor's settings: brokers without worker replies (SQS), and the result polling it tunes."""

from __future__ import annotations

from dagster_celery import core_execution_loop

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
