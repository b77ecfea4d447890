"""Brokers without worker replies (SQS): the executor neither pings workers nor asks their pool sizes."""

from __future__ import annotations

from notify_pipelines.retention.celery_app import (
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
