"""Removing bulk-job CSV files past retention from S3, then marking their jobs archived (reference §3.7,
`remove_sms_email_jobs` / `remove_letter_jobs` with `dao_get_jobs_older_than_data_retention`).

For night D a job is past retention when `coalesce(scheduled_for, created_at)` is before London midnight of D - days,
days being its service's `service_data_retention` for the job's template type (from templates_history, by template id
and version), or 7. Letter jobs and email/SMS jobs each follow their own type's retention, in one pass.

Each batch: choose up to `batch_size` unarchived jobs past retention (a short read on the partial index
ix_jobs_service_id_not_archived, keyset-paged by (service_id, id)), then with no transaction open, HEAD each job's
CSV and delete those found (DeleteObjects), then one short `UPDATE ... WHERE id = ANY(:done) AND NOT archived`, then
one log line naming the batch's archived jobs (not a line a job: each is a row of the Dagster run's event log).
`done` holds the jobs whose file was deleted or confirmed absent (HEAD 404: a warning, still archived); a job with an
S3 error stays unarchived for the next run and is counted. Once S3 proves unreachable (botocore's own errors, after the
client's bounded timeouts and retries: letter_files.py's S3Breaker), no further call is made and the run stops after
that batch: a hanging S3 costs one round of timeouts, not one per job or per batch. The CSV always goes before the
flag: a kill between the two leaves a job unarchived whose file is gone, which the re-run finds absent and archives.
Never the reverse.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

import sqlalchemy as sa
from botocore.exceptions import BotoCoreError, ClientError

from notify_pipelines.core.calendar import retention_cutoff
from notify_pipelines.core.s3_objects import object_exists
from notify_pipelines.retention.letter_files import S3Breaker
from notify_pipelines.retention.work import DEFAULT_RETENTION_DAYS, custom_retention

DEFAULT_BATCH_SIZE = 1_000  # one DeleteObjects call's worth of keys
HEAD_THREADS = 16  # one HEAD per job; in parallel so a batch is not a thousand round trips in a row
DELETE_CHUNK = 1_000  # S3 DeleteObjects limit
REMOVED_LINE = "Job CSV files removed from s3 and their jobs archived"  # then the batch's job IDs

logger = logging.getLogger(__name__)

_OLD_JOBS = """
    SELECT j.id, j.service_id
    FROM jobs j
    CROSS JOIN LATERAL (  -- LIMIT 1 keeps this a primary-key probe per job, never a scan of all of history
        SELECT th.template_type FROM templates_history th
        WHERE th.id = j.template_id AND th.version = j.template_version
        LIMIT 1
    ) AS th
    LEFT JOIN unnest(CAST(:custom_ids AS uuid[]), CAST(:custom_types AS text[]), CAST(:custom_cutoffs AS timestamp[]))
        AS custom(service_id, notification_type, cutoff)
        ON custom.service_id = j.service_id AND custom.notification_type = CAST(th.template_type AS text)
    WHERE NOT j.archived
      {after}
      AND coalesce(j.scheduled_for, j.created_at) < coalesce(custom.cutoff, CAST(:default_cutoff AS timestamp))
    ORDER BY j.service_id, j.id
    LIMIT :limit
"""
FIRST_BATCH = sa.text(_OLD_JOBS.format(after=""))
# service_id >= :after_service bounds the index scan; the row comparison then skips the jobs already seen.
NEXT_BATCH = sa.text(_OLD_JOBS.format(
    after="AND j.service_id >= :after_service AND (j.service_id, j.id) > (:after_service, :after_job)"))

ARCHIVE = sa.text("UPDATE jobs SET archived = true WHERE id = ANY(CAST(:ids AS uuid[])) AND NOT archived RETURNING id")


def csv_key(service_id: uuid.UUID, job_id: uuid.UUID) -> str:
    """FILE_LOCATION_STRUCTURE of the reference (app/aws/s3.py)."""
    return f"service-{service_id}-notify/{job_id}.csv"


@dataclass(frozen=True)
class OldJob:
    id: uuid.UUID
    service_id: uuid.UUID

    @property
    def key(self) -> str:
        return csv_key(self.service_id, self.id)


@dataclass
class JobFilesResult:
    archived: int = 0  # jobs this run marked archived
    files_deleted: int = 0  # CSVs deleted from the bucket
    files_missing: int = 0  # CSVs already absent (a warning; the job is archived all the same)
    s3_errors: int = 0  # jobs left unarchived because S3 failed; the next run tries again
    batches: int = 0
    s3_unreachable: str = ""  # why the run stopped early: S3 could not be reached (later batches not tried)

    def as_dict(self) -> dict:
        return asdict(self)


def job_cutoffs(conn: sa.Connection, day: dt.date) -> dict:
    """The query's cutoff parameters for night `day`: the 7-day default and one per custom (service, type)."""
    custom = [(sid, ntype, days) for ntype, per_service in custom_retention(conn).items()
              for sid, days in per_service.items()]
    return {
        "default_cutoff": retention_cutoff(day, DEFAULT_RETENTION_DAYS),
        "custom_ids": [sid for sid, _, _ in custom],
        "custom_types": [ntype for _, ntype, _ in custom],
        "custom_cutoffs": [retention_cutoff(day, days) for _, _, days in custom],
    }


def old_jobs_batch(conn: sa.Connection, cutoffs: dict, limit: int, after: OldJob | None = None) -> list[OldJob]:
    """Up to `limit` unarchived jobs past retention, in (service_id, id) order, after `after` if given."""
    if after is None:
        rows = conn.execute(FIRST_BATCH, {**cutoffs, "limit": limit})
    else:
        rows = conn.execute(NEXT_BATCH, {**cutoffs, "limit": limit, "after_service": after.service_id,
                                         "after_job": after.id})
    return [OldJob(job_id, service_id) for job_id, service_id in rows]


@dataclass
class CsvOutcome:
    deleted: list[OldJob]
    missing: list[OldJob]
    errors: int


class _NotTried(Exception):
    """S3 was found unreachable before this job's turn."""


def delete_csv_files(s3_client, bucket: str, jobs: list[OldJob], log: logging.Logger = logger,
                     breaker: S3Breaker | None = None) -> CsvOutcome:
    """HEAD each job's CSV (404: confirmed absent), then delete those found. Jobs with any S3 error are in neither
    list: their files may still be there. Once S3 proves unreachable, `breaker` trips and no further call is made."""
    breaker = breaker or S3Breaker()

    def head(job: OldJob) -> bool:
        if breaker.reason is not None:
            raise _NotTried
        try:
            return object_exists(s3_client, bucket, job.key)
        except BotoCoreError as error:
            breaker.trip(error)
            raise

    found: list[OldJob] = []
    outcome = CsvOutcome([], [], 0)
    with ThreadPoolExecutor(max_workers=HEAD_THREADS) as pool:
        for job, future in zip(jobs, [pool.submit(head, job) for job in jobs]):
            try:
                exists = future.result()
            except _NotTried:
                outcome.errors += 1
                continue
            except (ClientError, BotoCoreError) as error:
                log.error(f"Error removing the file of job ID {job.id} from s3 ({bucket}/{job.key}): {error}")
                outcome.errors += 1
                continue
            if exists:
                found.append(job)
            else:
                log.warning(f"Job ID {job.id}: no file in s3 at {bucket}/{job.key}; archiving the job all the same.")
                outcome.missing.append(job)

    for start in range(0, len(found), DELETE_CHUNK):
        chunk = found[start:start + DELETE_CHUNK]
        if breaker.reason is not None:
            outcome.errors += len(chunk)
            continue
        try:
            response = s3_client.delete_objects(
                Bucket=bucket, Delete={"Objects": [{"Key": job.key} for job in chunk], "Quiet": True})
        except (ClientError, BotoCoreError) as error:
            if isinstance(error, BotoCoreError):
                breaker.trip(error)
            for job in chunk:
                log.error(f"Error removing the file of job ID {job.id} from s3 ({bucket}/{job.key}): {error}")
            outcome.errors += len(chunk)
            continue
        failed = {e["Key"]: e for e in response.get("Errors", [])}
        for job in chunk:
            if job.key in failed:
                log.error(f"Error removing the file of job ID {job.id} from s3 ({bucket}/{job.key}): "
                          f"{failed[job.key].get('Code')} {failed[job.key].get('Message')}")
                outcome.errors += 1
            else:
                outcome.deleted.append(job)
    return outcome


def archive_jobs(conn: sa.Connection, ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Mark these jobs archived; the ids this statement changed (not those another run marked first)."""
    if not ids:
        return set()
    return set(conn.execute(ARCHIVE, {"ids": ids}).scalars())


def remove_old_job_files(engine: sa.Engine, s3_client, bucket: str, day: dt.date, *,
                         batch_size: int = DEFAULT_BATCH_SIZE, log: logging.Logger = logger) -> JobFilesResult:
    """Every job past retention on the night of `day`: CSV deleted (or found absent), then archived, batch by batch.
    S3 errors are counted in `s3_errors` and those jobs stay unarchived; an S3 that cannot be reached stops the run
    after the batch that found it so (`s3_unreachable` says why)."""
    if batch_size < 1:
        raise ValueError(f"batch size must be at least 1, got {batch_size}")
    with engine.begin() as conn:
        cutoffs = job_cutoffs(conn, day)
    result = JobFilesResult()
    breaker = S3Breaker()
    after: OldJob | None = None
    while True:
        with engine.begin() as conn:  # a read, committed before any S3 call
            jobs = old_jobs_batch(conn, cutoffs, batch_size, after)
        if not jobs:
            return result
        result.batches += 1
        after = jobs[-1]
        files = delete_csv_files(s3_client, bucket, jobs, log, breaker)
        with engine.begin() as conn:
            archived = archive_jobs(conn, [job.id for job in files.deleted + files.missing])
        result.archived += len(archived)
        result.files_deleted += len(files.deleted)
        result.files_missing += len(files.missing)
        result.s3_errors += files.errors
        removed = [str(job.id) for job in files.deleted if job.id in archived]
        if removed:  # one line a batch: a line a job cost about 3.5 ms each in the night (docs/benchmarks.md)
            log.info(f"{REMOVED_LINE} (batch {result.batches}, {len(removed)}): {', '.join(removed)}")
        if breaker.reason is not None:
            result.s3_unreachable = breaker.reason
            log.error(f"{breaker.reason}: stopping after batch {result.batches}; the jobs not reached stay "
                      "unarchived for the next run")
            return result
        if len(jobs) < batch_size:
            return result
