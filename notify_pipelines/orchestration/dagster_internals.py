"""The one place that reaches into Dagster's private API (`dagster._...` modules, the instance's storages) and
dagster-celery's internals (its executor class, app factory, task, config schema and polling loop).

Written for dagster 1.13.27; notify_pipelines_tests/test_dagster_internals.py pins that version and exercises every
name here, so an upgrade fails there first: re-check each wrapper against the new version's source, then move the pin.
Everything else in the package uses `dagster` (dg) only; `grep -rnE "dagster\\._|dagster_celery" notify_pipelines`
finds this file (notify_pipelines_tests/test_architecture.py checks it).

Who needs what:
- the alert forwarder (monitoring/alerts.py): every schedule's and sensor's state and ticks, tick statuses, failure
  events, the instance-wide asset-check evaluation records;
- sensor state (monitoring/sensor_state.py): the instance's key-value cursor store beside a sensor's own cursor;
- the executor choice and the Celery executor (orchestration/executor_choice.py, orchestration/celery_executor.py):
  Dagster's own in-process/multiprocess executor config and creation functions, config processing, the retry mode,
  and dagster-celery's executor class, app factory, config schema and result-polling interval;
- the Celery worker (tooling/worker.py): dagster-celery's step task;
- dead Celery workers (orchestration/celery_faults.py): dagster-celery's execution loop, its task submission and its
  transport defaults, and the run a step task belongs to (the worker's guard).
"""

from __future__ import annotations

from typing import Iterable

import dagster as dg
from dagster._config import process_config  # noqa: F401  (for orchestration/executor_choice.py)
from dagster._core.definitions.executor_definition import (  # noqa: F401  (for orchestration/executor_choice.py)
    IN_PROC_CONFIG,
    MULTI_PROC_CONFIG,
    _core_in_process_executor_creation,
    _core_multiprocess_executor_creation,
)
from dagster._core.definitions.run_request import InstigatorType
from dagster._core.execution.retries import RetryMode  # noqa: F401  (for orchestration/celery_executor.py)
from dagster._core.scheduler.instigation import TickStatus  # noqa: F401  (compared by the alert forwarder)
from dagster_celery import core_execution_loop
from dagster_celery.executor import CELERY_CONFIG, CeleryExecutor  # noqa: F401  (for the orchestration executors)
from dagster_celery.make_app import make_app  # noqa: F401  (for orchestration/celery_executor.py)
from dagster_celery.tasks import create_task  # noqa: F401  (for tooling/worker.py)
from dagster_shared.error import SerializableErrorInfo  # noqa: F401  (a failure's error, cause chain included)

DAGSTER_VERSION = "1.13.27"  # the version these wrappers were written and tested against

__all__ = [
    "CELERY_CONFIG",
    "CeleryExecutor",
    "DAGSTER_VERSION",
    "IN_PROC_CONFIG",
    "MULTI_PROC_CONFIG",
    "RetryMode",
    "SerializableErrorInfo",
    "TickStatus",
    "_core_in_process_executor_creation",
    "_core_multiprocess_executor_creation",
    "asset_check_evaluation_records",
    "celery_execution_loop",
    "celery_result_poll_seconds",
    "celery_transport_defaults",
    "create_task",
    "get_cursor_value",
    "instigator_kind",
    "instigator_states",
    "make_app",
    "process_config",
    "set_celery_result_poll_seconds",
    "set_cursor_value",
    "step_task_run",
    "submit_celery_step",
    "ticks",
]


# ---- schedules' and sensors' ticks (the alert forwarder) ------------------------------------------------------------


def instigator_states(instance: dg.DagsterInstance) -> list:
    """Every schedule's and sensor's stored state (InstigatorState): name, selector_id, origin."""
    return list(instance.all_instigator_state())


def instigator_kind(state) -> str:
    """'schedule' or 'sensor'."""
    return "schedule" if state.instigator_type == InstigatorType.SCHEDULE else "sensor"


def ticks(instance: dg.DagsterInstance, state, *, after: float, limit: int) -> list:
    """The instigator's ticks (InstigatorTick: status, timestamp, error, skip_reason) after a timestamp."""
    return list(instance.get_ticks(state.instigator_origin_id, state.selector_id, after=after, limit=limit))


# ---- asset check evaluations across the instance (the alert forwarder) ----------------------------------------------


def asset_check_evaluation_records(instance: dg.DagsterInstance, *, after_cursor: int | None,
                                   after_timestamp: float | None, limit: int) -> Iterable | None:
    """Asset check evaluation event records in storage order after a storage id (or a timestamp), or None where the
    event log is run-sharded (Dagster's default SQLite storage has no instance-wide event ids)."""
    storage = instance.event_log_storage
    if storage.is_run_sharded:
        return None
    records_filter = dg.EventRecordsFilter(
        event_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION, after_cursor=after_cursor, after_timestamp=after_timestamp
    )
    return storage.get_event_records(records_filter, limit=limit, ascending=True)


# ---- the instance's key-value store (sensor state) ------------------------------------------------------------------


def get_cursor_value(instance: dg.DagsterInstance, key: str) -> str | None:
    return instance.run_storage.get_cursor_values({key}).get(key)


def set_cursor_value(instance: dg.DagsterInstance, key: str, value: str) -> None:
    instance.run_storage.set_cursor_values({key: value})


# ---- dagster-celery's result polling (the Celery executor) ----------------------------------------------------------


def set_celery_result_poll_seconds(seconds: float) -> None:
    """How long dagster-celery's execution loop sleeps between checks of its steps' results. The loop reads a
    module global (`core_execution_loop.TICK_SECONDS`, 1 s by default), so this sets it for the whole process."""
    core_execution_loop.TICK_SECONDS = seconds


def celery_result_poll_seconds() -> float:
    """The interval dagster-celery's execution loop sleeps on now."""
    return core_execution_loop.TICK_SECONDS


# ---- dead Celery workers (orchestration/celery_faults.py) ----------------------------------------------------------

celery_execution_loop = core_execution_loop.core_celery_execution_loop  # (context, plan, step_execution_fn)


def submit_celery_step(app, plan_context, step, queue, priority, known_state):
    """dagster-celery's own submission of one step (its `_submit_task`): the AsyncResult of its `execute_plan` task."""
    from dagster_celery.executor import _submit_task

    return _submit_task(app, plan_context, step, queue, priority, known_state)


def celery_transport_defaults() -> dict:
    """dagster-celery's broker_transport_options (publish retries), which a config_source of ours would replace."""
    from dagster_celery.defaults import broker_transport_options

    return dict(broker_transport_options)


def step_task_run(execute_step_args_packed: dict) -> dg.DagsterRun | None:
    """The run a dagster-celery `execute_plan` task belongs to, from its packed ExecuteStepArgs (run id, instance)."""
    from dagster._grpc.types import ExecuteStepArgs
    from dagster._serdes import unpack_value

    args = unpack_value(execute_step_args_packed, as_type=ExecuteStepArgs)
    with dg.DagsterInstance.from_ref(args.instance_ref) as instance:
        return instance.get_run_by_id(args.run_id)
