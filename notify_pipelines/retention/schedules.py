"""Retention's schedules, London time, each launching today's London partition (the night of today):
01:35 deep_archive_notification_history (not partitioned: it takes whatever hours are due), 01:40 delete_inbound_sms,
03:00 nightly_retention (after the reporting facts at 00:15/00:30), 04:00 remove_old_job_files. On 2021-03-28 01:40 does not exist: Dagster runs that tick at 02:00 BST, still that day; on
2021-10-31 it runs once (at the second 01:40, GMT)."""

from __future__ import annotations

import dagster as dg

from notify_pipelines.core.vocabulary import LONDON, LONDON_TZ
from notify_pipelines.orchestration.run_limits import max_runtime
from notify_pipelines.retention.cleanup_jobs import (
    delete_inbound_sms,
    remove_old_job_files,
)
from notify_pipelines.retention.deep_archive_job import deep_archive_notification_history
from notify_pipelines.retention.job import nightly_retention

# On the run request, not the job: job.py is being reworked (issue 9); move it to RETENTION_TAGS's job tags then.
NIGHTLY_RETENTION_MAX_RUNTIME = max_runtime(hours=4)


@dg.schedule(
    job=nightly_retention,
    cron_schedule="0 3 * * *",
    execution_timezone=LONDON_TZ,
    default_status=dg.DefaultScheduleStatus.RUNNING,  # deleting data on time is a legal duty, not an opt-in
)
def nightly_retention_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    day = context.scheduled_execution_time.astimezone(LONDON).date().isoformat()
    return dg.RunRequest(run_key=day, partition_key=day, tags=NIGHTLY_RETENTION_MAX_RUNTIME)


def _tonight(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    day = context.scheduled_execution_time.astimezone(LONDON).date().isoformat()
    return dg.RunRequest(run_key=day, partition_key=day)


@dg.schedule(job=delete_inbound_sms, cron_schedule="40 1 * * *", execution_timezone=LONDON_TZ,
             default_status=dg.DefaultScheduleStatus.RUNNING)
def delete_inbound_sms_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    return _tonight(context)


@dg.schedule(job=remove_old_job_files, cron_schedule="0 4 * * *", execution_timezone=LONDON_TZ,
             default_status=dg.DefaultScheduleStatus.RUNNING)
def remove_old_job_files_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    return _tonight(context)


# TIMETABLE: the deep archive at 01:35 London, as the reference's deep-archive-notification-history-up-to-limit; the
# single timetable module will absorb this constant.
DEEP_ARCHIVE_CRON = "35 1 * * *"


@dg.schedule(job=deep_archive_notification_history, cron_schedule=DEEP_ARCHIVE_CRON, execution_timezone=LONDON_TZ,
             default_status=dg.DefaultScheduleStatus.RUNNING)
def deep_archive_notification_history_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    return dg.RunRequest(run_key=context.scheduled_execution_time.astimezone(LONDON).date().isoformat())


retention_schedules = [nightly_retention_schedule, delete_inbound_sms_schedule, remove_old_job_files_schedule,
                       deep_archive_notification_history_schedule]
