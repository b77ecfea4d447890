"""The monitoring domain's schedules (times and order: orchestration/timetable.py)."""

from notify_pipelines.core.vocabulary import LONDON_TZ
from notify_pipelines.monitoring.jobs import timeout_sending_notifications
from notify_pipelines.monitoring.run_retention import delete_old_runs_job
from notify_pipelines.orchestration.night import timetable_schedule

timeout_sending_notifications_schedule = timetable_schedule(
    "timeout_sending_notifications_schedule", timeout_sending_notifications)
delete_old_runs_schedule = timetable_schedule("delete_old_runs_schedule", delete_old_runs_job)

monitoring_schedules = [timeout_sending_notifications_schedule, delete_old_runs_schedule]
