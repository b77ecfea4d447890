"""The job `deep_archive_notification_history` (not partitioned): one op over deep_archive.py, in process, in
retention's one-at-a-time run queue lane. Each run archives the oldest whole hours due, up to `max_hours`."""

import dagster as dg
from dagster_aws.s3 import S3Resource
from pydantic import Field

from notify_pipelines.core import settings
from notify_pipelines.core.vocabulary import utc_now
from notify_pipelines.orchestration.executor_choice import DB_POOL
from notify_pipelines.orchestration.resources import DeepArchiveBucketResource, NotifyDatabase
from notify_pipelines.orchestration.retries import StepConfig
from notify_pipelines.orchestration.run_limits import job_max_runtime_tags
from notify_pipelines.retention import deep_archive
from notify_pipelines.retention.job import RETENTION_TAGS
from notify_pipelines.retention.s3_client import retention_s3_client


class DeepArchiveConfig(StepConfig):
    max_hours: int = Field(default=deep_archive.DEFAULT_MAX_HOURS_PER_RUN, ge=1,
                           description="At most this many hours of notification_history archived by one run")
    batch_rows: int = Field(default=deep_archive.DEFAULT_BATCH_ROWS, ge=1,
                            description="Rows read per batch and written per Parquet row group")
    lease_seconds: int = Field(default=deep_archive.DEFAULT_LEASE_SECONDS, ge=30, le=3600,
                               description="The run's lease on the deep archive (renewed each hour): how long a run "
                               "killed outright keeps the next one waiting")


@dg.op(pool=DB_POOL)
def archive_old_notification_history(context: dg.OpExecutionContext, config: DeepArchiveConfig,
                                     notify_db: NotifyDatabase, s3: S3Resource,
                                     deep_archive_bucket: DeepArchiveBucketResource) -> dict:
    """Export the oldest whole hours older than NOTIFY_DEEP_ARCHIVE_AFTER_DAYS to Parquet in S3, then delete them."""
    try:
        result = deep_archive.deep_archive_notification_history(
            notify_db.engine, retention_s3_client(s3), deep_archive_bucket.name, now=utc_now(),
            after_days=settings.deep_archive_after_days(), max_hours=config.max_hours, batch_rows=config.batch_rows,
            lease_seconds=config.lease_seconds, log=context.log)
    except (deep_archive.DeepArchiveError, settings.ConfigError, ValueError) as exc:
        raise dg.Failure(description=str(exc)) from exc
    context.add_output_metadata({
        "rows_archived": dg.MetadataValue.int(result.rows),
        "hours_archived": dg.MetadataValue.int(len(result.hours)),
        "cutoff": dg.MetadataValue.text(f"{result.cutoff} UTC"),
        "bucket": dg.MetadataValue.text(deep_archive_bucket.name),
    })
    return result.as_dict()


@dg.job(
    executor_def=dg.in_process_executor,
    tags={**RETENTION_TAGS, **job_max_runtime_tags("deep_archive_notification_history")},
    description="notification_history's oldest whole UTC hours older than NOTIFY_DEEP_ARCHIVE_AFTER_DAYS (365) to "
    "Parquet files in NOTIFY_DEEP_ARCHIVE_BUCKET, each hour deleted once its file is uploaded and its row count "
    "read back; at most max_hours hours a run.",
)
def deep_archive_notification_history():
    archive_old_notification_history()
