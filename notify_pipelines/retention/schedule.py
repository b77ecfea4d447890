"""03:00 London time, after the reporting facts (00:15/00:30), run retention for today's London date."""

from __future__ import annotations

import dagster as dg

from notify_pipelines.calendar import LONDON
from notify_pipelines.retention.job import nightly_retention


@dg.schedule(
    job=nightly_retention,
    cron_schedule="0 3 * * *",
    execution_timezone="Europe/London",
    default_status=dg.DefaultScheduleStatus.RUNNING,  # deleting data on time is a legal duty, not an opt-in
)
def nightly_retention_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    day = context.scheduled_execution_time.astimezone(LONDON).date().isoformat()
    return dg.RunRequest(run_key=day, partition_key=day)
