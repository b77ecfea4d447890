"""Run retention: Dagster's `retention:` setting (dagster.yaml) covers schedule and sensor ticks only, so run records
(and their event logs) older than NOTIFY_RUN_RETENTION_DAYS (default 90) are deleted here, through the instance's
public API, at most `limit` a run (oldest first), so a first run on a long-lived instance does not hold the run storage
for hours: the rest go on the following nights. Runs still in progress are never deleted."""

import datetime as dt

import dagster as dg
from pydantic import Field

from notify_pipelines.core import settings
from notify_pipelines.core.vocabulary import utc_now_aware
from notify_pipelines.orchestration.retries import TRANSIENT_FAULTS, StepConfig
from notify_pipelines.orchestration.run_limits import job_max_runtime_tags

DEFAULT_LIMIT = 1000
FINISHED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]


def delete_old_runs(instance: dg.DagsterInstance, max_age_days: int, limit: int, now: dt.datetime) -> list[str]:
    """Delete up to `limit` finished runs created more than `max_age_days` before `now` (aware), oldest first;
    returns their ids."""
    records = instance.get_run_records(
        filters=dg.RunsFilter(created_before=now - dt.timedelta(days=max_age_days), statuses=FINISHED),
        limit=limit, order_by="create_timestamp", ascending=True,
    )
    deleted = []
    for record in records:
        instance.delete_run(record.dagster_run.run_id)
        deleted.append(record.dagster_run.run_id)
    return deleted


class RunRetentionConfig(StepConfig):
    max_age_days: int = Field(default_factory=settings.run_retention_days, ge=1,
                              description="runs created more than this many days ago are deleted")
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, description="at most this many runs a night")


@dg.op(retry_policy=TRANSIENT_FAULTS)
def delete_old_run_records(context: dg.OpExecutionContext, config: RunRetentionConfig) -> dg.Output:
    deleted = delete_old_runs(context.instance, config.max_age_days, config.limit, utc_now_aware())
    context.log.info(f"Deleted {len(deleted)} run(s) created more than {config.max_age_days} days ago")
    return dg.Output(len(deleted), metadata={"deleted": len(deleted), "max_age_days": config.max_age_days,
                                             "limit_reached": len(deleted) >= config.limit})


@dg.job(
    name="delete_old_runs",
    executor_def=dg.in_process_executor,
    tags=job_max_runtime_tags("delete_old_runs"),
    description="Deletes Dagster run records (and their event logs) older than NOTIFY_RUN_RETENTION_DAYS (90), "
    "at most 1,000 a night: dagster.yaml's retention covers ticks only.",
)
def delete_old_runs_job():
    delete_old_run_records()
