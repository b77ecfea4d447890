"""The monitoring domain's schedules (London time): 00:05 timeout_sending_notifications, before the nightly status
facts so they count the timed-out statuses."""

import dagster as dg

from notify_pipelines.core.vocabulary import LONDON_TZ
from notify_pipelines.monitoring.jobs import timeout_sending_notifications
from notify_pipelines.monitoring.run_retention import delete_old_runs_job

timeout_sending_notifications_schedule = dg.ScheduleDefinition(
    name="timeout_sending_notifications_schedule",
    job=timeout_sending_notifications,
    cron_schedule="5 0 * * *",  # before the nightly status facts, so they count the timed-out statuses
    execution_timezone=LONDON_TZ,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)

delete_old_runs_schedule = dg.ScheduleDefinition(
    name="delete_old_runs_schedule",
    job=delete_old_runs_job,
    cron_schedule="30 4 * * *",  # after the night's clean-ups
    execution_timezone=LONDON_TZ,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)

monitoring_schedules = [timeout_sending_notifications_schedule, delete_old_runs_schedule]
