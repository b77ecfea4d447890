"""The jobs `remove_old_job_files` and `delete_inbound_sms`: one op each, partitioned by London day like
`nightly_retention` (partition D applies the cutoffs of the night of D), in process (one step: a new Python process
would cost more than the work), and in retention's one-at-a-time run queue lane."""

import dagster as dg

from notify_pipelines.orchestration.partitions import daily_partitions
from notify_pipelines.orchestration.run_limits import max_runtime
from notify_pipelines.retention.cleanup_ops import (
    delete_old_inbound_sms,
    remove_job_csv_files,
)
from notify_pipelines.retention.job import RETENTION_TAGS
from notify_pipelines.orchestration.run_limits import job_max_runtime_tags


@dg.job(
    partitions_def=daily_partitions,
    executor_def=dg.in_process_executor,
    tags={**RETENTION_TAGS, **job_max_runtime_tags("remove_old_job_files")},
    description="Job CSV files past retention for one London day: delete each from the CSV upload bucket, then mark "
    "the job archived (each job by its service's retention for the job's template type, or 7 days).",
)
def remove_old_job_files():
    remove_job_csv_files()


@dg.job(
    partitions_def=daily_partitions,
    executor_def=dg.in_process_executor,
    tags={**RETENTION_TAGS, **job_max_runtime_tags("delete_inbound_sms")},
    description="Inbound SMS past each service's SMS retention (or 7 days) for one London day, deleted in batches, "
    "each message copied to inbound_sms_history (without content and sender) by the same statement.",
)
def delete_inbound_sms():
    delete_old_inbound_sms()
