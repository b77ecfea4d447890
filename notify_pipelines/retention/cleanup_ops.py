"""Ops for the nightly clean-ups beside notification retention (reference §3.7): job CSV files, inbound SMS and
events. Thin: the SQL and S3 work is in job_files.py, inbound_sms.py and events.py, which the tests call too."""

import datetime as dt

import dagster as dg
from dagster_aws.s3 import S3Resource
from pydantic import Field

from notify_pipelines.orchestration.executor_choice import DB_POOL
from notify_pipelines.orchestration.resources import (
    CsvUploadBucketResource,
    NotifyDatabase,
)
from notify_pipelines.orchestration.retries import TRANSIENT_FAULTS, StepConfig
from notify_pipelines.retention import events, inbound_sms, job_files
from notify_pipelines.retention.s3_client import retention_s3_client


def _night(context: dg.OpExecutionContext) -> dt.date:
    return dt.date.fromisoformat(context.partition_key)


class JobFilesConfig(StepConfig):
    batch_size: int = Field(default=job_files.DEFAULT_BATCH_SIZE, ge=1,
                            description="Jobs per batch: one S3 DeleteObjects call and one UPDATE")


@dg.op(pool=DB_POOL, retry_policy=TRANSIENT_FAULTS)
def remove_job_csv_files(context: dg.OpExecutionContext, config: JobFilesConfig, notify_db: NotifyDatabase,
                         s3: S3Resource, csv_upload_bucket: CsvUploadBucketResource) -> dict:
    """Delete the CSV of every job past its service's retention for its template type, then mark the job archived.
    Jobs whose file S3 failed to delete stay unarchived, and the step fails once every other job is done."""
    day = _night(context)
    result = job_files.remove_old_job_files(notify_db.engine, retention_s3_client(s3), csv_upload_bucket.name, day,
                                            batch_size=config.batch_size, log=context.log)
    metadata = {**{k: (dg.MetadataValue.text(v) if isinstance(v, str) else dg.MetadataValue.int(v))
                   for k, v in result.as_dict().items()},
                "bucket": dg.MetadataValue.text(csv_upload_bucket.name)}
    context.log.info(f"job files for the night of {day}: {result.archived} jobs archived, {result.files_deleted} "
                     f"CSV files deleted, {result.files_missing} already absent, {result.s3_errors} S3 errors")
    if result.s3_unreachable:
        raise dg.Failure(
            description=f"{result.s3_unreachable}: job files stopped after {result.batches} batches "
            f"({result.archived} jobs archived); the rest stay unarchived; re-run the partition once S3 answers",
            metadata=metadata,
        )
    if result.s3_errors:
        raise dg.Failure(
            description=f"{result.s3_errors} job CSV files could not be removed from s3 bucket "
            f"{csv_upload_bucket.name}: those jobs stay unarchived; re-run the partition once S3 answers",
            metadata=metadata,
        )
    context.add_output_metadata(metadata)
    return result.as_dict()


class InboundSmsConfig(StepConfig):
    batch_size: int = Field(default=inbound_sms.DEFAULT_BATCH_SIZE, ge=1, description="Rows per DELETE and transaction")


@dg.op(pool=DB_POOL, retry_policy=TRANSIENT_FAULTS)
def delete_old_inbound_sms(context: dg.OpExecutionContext, config: InboundSmsConfig, notify_db: NotifyDatabase) -> dict:
    """Delete inbound SMS received before each service's SMS retention (or 7 days), keeping each in
    inbound_sms_history."""
    result = inbound_sms.delete_inbound_sms_older_than_retention(notify_db.engine, _night(context),
                                                                 batch_size=config.batch_size, log=context.log)
    context.add_output_metadata({
        "deleted": dg.MetadataValue.int(result.deleted),
        "services_touched": dg.MetadataValue.int(len(result.services)),
        "batches": dg.MetadataValue.int(result.batches),
    })
    return result.as_dict()


class EventsConfig(StepConfig):
    batch_size: int = Field(default=events.DEFAULT_BATCH_SIZE, ge=1, description="Rows per DELETE and transaction")


@dg.op(pool=DB_POOL, retry_policy=TRANSIENT_FAULTS)
def delete_old_events(context: dg.OpExecutionContext, config: EventsConfig, notify_db: NotifyDatabase) -> dict:
    """Delete `events` rows created before London midnight 52 weeks before the night."""
    result = events.delete_old_events(notify_db.engine, _night(context), batch_size=config.batch_size, log=context.log)
    context.add_output_metadata({
        "deleted": dg.MetadataValue.int(result.deleted),
        "batches": dg.MetadataValue.int(result.batches),
        "cutoff": dg.MetadataValue.text(f"{result.cutoff} UTC"),
    })
    return result.as_dict()
