"""The retention domain's Dagster objects, assembled for notify_pipelines.definitions."""

import dagster as dg

from notify_pipelines.retention.cleanup_jobs import (
    delete_inbound_sms,
    remove_old_job_files,
)
from notify_pipelines.retention.job import nightly_retention
from notify_pipelines.retention.schedule import (
    delete_inbound_sms_schedule,
    nightly_retention_schedule,
    remove_old_job_files_schedule,
)

defs = dg.Definitions(
    jobs=[nightly_retention, remove_old_job_files, delete_inbound_sms],
    schedules=[nightly_retention_schedule, delete_inbound_sms_schedule, remove_old_job_files_schedule],
)
