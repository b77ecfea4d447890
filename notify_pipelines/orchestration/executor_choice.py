"""The executor that picks where steps run: in process, multiprocess on this machine, or Celery workers on any machines.

Used by the retention job, the one job with many steps; its Dagster name stays `retention_executor` (run configs
name it).

Run config picks one (`execution: config: {in_process: {}} | {multiprocess: {...}} | {celery: {...}}`). Without
one, the default follows the environment: Celery (dagster-celery) when NOTIFY_CELERY_BROKER_URL is set, else
LOCAL_PARALLEL: multiprocess with forkserver, whose children fork from a process that has already imported the code
location (0.6 s per step here instead of about 2 s for a new Python).

Every step start costs seconds in a new process or on a Celery worker, so the job's step grain follows the executor
(`steps_for`): a few large steps per process or worker, never one per service. The database load is capped by the
instance's `notify_db` pool (dagster.yaml: `concurrency: pools:`), whichever executor runs the steps.
"""

from __future__ import annotations

import multiprocessing

import dagster as dg

from notify_pipelines.core.settings import celery_broker_url
from notify_pipelines.orchestration.celery_executor import celery_executor_from_config
from notify_pipelines.orchestration.dagster_internals import (
    CELERY_CONFIG,
    IN_PROC_CONFIG,
    MULTI_PROC_CONFIG,
    _core_in_process_executor_creation,
    _core_multiprocess_executor_creation,
    process_config,
)

DB_POOL = "notify_db"  # every step that touches the notifications database; its limit is in dagster.yaml
STEPS_PER_PROCESS = 2  # per process or worker slot: few enough that start-up stays small, two to even out sizes
IN_PROCESS_MAX_STEPS = 50  # in process a step costs about 0.1 s of events and gains no parallelism
LOCAL_PARALLEL = {
    "multiprocess": {
        "max_concurrent": min(4, multiprocessing.cpu_count()),
        "start_method": {"forkserver": {"preload_modules": ["notify_pipelines.definitions"]}},
    }
}

CONFIG_TYPE = dg.Selector({
    "in_process": IN_PROC_CONFIG,
    "multiprocess": MULTI_PROC_CONFIG,
    "celery": dg.Field(
        # dagster-celery's schema, without its rpc:// default for the backend: the settings choose one
        {**CELERY_CONFIG, "backend": dg.Field(dg.Noneable(dg.StringSource), is_required=False)},
        description="dagster-celery; broker and backend default to NOTIFY_CELERY_BROKER_URL and "
                    "NOTIFY_CELERY_BACKEND_URL",
    ),
})


def chosen(executor_config: dict | None) -> dict:
    """The run config's choice, or the environment's default, with the schema's defaults filled in."""
    value = executor_config or ({"celery": {}} if celery_broker_url() else LOCAL_PARALLEL)
    result = process_config(CONFIG_TYPE, value)
    if not result.success:
        raise dg.DagsterInvalidConfigError("invalid retention executor config", result.errors, value)
    return result.value


def _requirements(executor_config):
    return [] if "in_process" in chosen(executor_config) else dg.multiple_process_executor_requirements()


@dg.executor(
    name="retention_executor",
    config_schema=dg.Field(
        CONFIG_TYPE, is_required=False,
        description="in_process, multiprocess or celery; unset: celery if NOTIFY_CELERY_BROKER_URL is set, "
                    "else multiprocess with forkserver (LOCAL_PARALLEL)",
    ),
    requirements=_requirements,
)
def retention_executor(init_context: dg.InitExecutorContext) -> dg.Executor:
    (name, config), = chosen(init_context.executor_config).items()
    if name == "in_process":
        return _core_in_process_executor_creation(config)
    if name == "multiprocess":
        return _core_multiprocess_executor_creation(config)
    return celery_executor_from_config(config)


def steps_for(context: dg.OpExecutionContext) -> int:
    """How many steps a night's services are grouped into, for the executor running this run. A step does not see
    the executor object, so this reads the same choice again: the job's executor and the run's config."""
    executor_def = context.get_step_execution_context().plan_data.job.get_definition().executor_def
    if executor_def.name != retention_executor.name:  # execute_in_process puts its own in-process executor
        return IN_PROCESS_MAX_STEPS
    (name, config), = chosen(context.run_config.get("execution", {}).get("config")).items()
    if name == "in_process":
        return IN_PROCESS_MAX_STEPS
    if name == "multiprocess":
        return STEPS_PER_PROCESS * (config.get("max_concurrent") or multiprocessing.cpu_count())
    return STEPS_PER_PROCESS * celery_executor_from_config(config).worker_slots()
