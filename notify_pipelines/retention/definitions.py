"""The retention domain's Dagster objects, assembled for notify_pipelines.definitions."""

import dagster as dg

from notify_pipelines.retention.cleanup_jobs import (
    delete_inbound_sms,
    remove_old_job_files,
)
from notify_pipelines.retention.deep_archive_job import deep_archive_notification_history
from notify_pipelines.retention.job import nightly_retention
from notify_pipelines.retention.schedules import retention_schedules

defs = dg.Definitions(
    jobs=[nightly_retention, remove_old_job_files, delete_inbound_sms, deep_archive_notification_history],
    schedules=retention_schedules,
)
