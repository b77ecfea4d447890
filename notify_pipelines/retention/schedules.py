"""Retention's timetable slots (times and order: orchestration/timetable.py), each launching today's London partition
(the night of today): delete_inbound_sms and remove_old_job_files by their schedules; nightly_retention by the
night_plan sensor, once the night's facts have succeeded. Dagster's schedules handle the clock changes: a London
time that does not exist on the 23-hour day ticks at the first minute after the gap, still that day; on the 25-hour
day a repeated time ticks once."""

from __future__ import annotations

from notify_pipelines.orchestration.night import follower, timetable_schedule
from notify_pipelines.retention.cleanup_jobs import (
    delete_inbound_sms,
    remove_old_job_files,
)
from notify_pipelines.retention.deep_archive_job import deep_archive_notification_history
from notify_pipelines.retention.job import nightly_retention

follower("nightly_retention", nightly_retention)  # deleting data on time is a legal duty, not an opt-in
delete_inbound_sms_schedule = timetable_schedule("delete_inbound_sms_schedule", delete_inbound_sms)
remove_old_job_files_schedule = timetable_schedule("remove_old_job_files_schedule", remove_old_job_files)
deep_archive_notification_history_schedule = timetable_schedule("deep_archive_notification_history_schedule",
                                                                deep_archive_notification_history)

retention_schedules = [delete_inbound_sms_schedule, remove_old_job_files_schedule,
                       deep_archive_notification_history_schedule]
