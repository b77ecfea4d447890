"""Handing jobs back to whatever processes them (reference §4.7-4.8): the pluggable `job_reprocessor` resource, the
ledger it is recorded in, and the two repairs that use them.

The reference sends a stuck job's id to `process-incomplete-jobs` and each missing row of a finished job to
`process_job_row`, on queues this project does not own. Here both go to the `job_reprocessor` resource: a deployment
binds a subclass of `JobReprocessor` implementing `resume_jobs(jobs)` and `process_rows(rows)` (for example a Celery
`send_task` to the sender's jobs queue). The default, `RecordedJobReprocessor`, sends nothing.

Whatever is bound, every request is also written to `job_reprocessing_requests` (job_row_number NULL for a whole
job), in the same transaction as the jobs' status change: a sender can consume that table instead of a queue, and
the missing-rows check reads it so a row is requested at most once per REQUEST_ROWS_EVERY. The resource is called
inside that transaction, before it commits: if it raises, nothing is changed or recorded and the next tick asks again;
if the commit fails after it returned, a request is repeated, never lost.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Sequence

import dagster as dg
import sqlalchemy as sa

from notify_pipelines.monitoring import sending_queries as q
from notify_pipelines.monitoring.sending_queries import JobMissingRows, StuckJob
from notify_pipelines.orchestration.resources import NotifyDatabase

REQUEST_ROWS_EVERY = dt.timedelta(hours=1)  # a missing row is requested again after this long if still missing


@dataclass(frozen=True)
class MissingRow:
    job_id: uuid.UUID
    job_row_number: int


class JobReprocessor(dg.ConfigurableResource):
    """Hands jobs back to the sender. Subclasses implement both methods; either may raise, and then nothing of that
    tick is changed or recorded (the tick fails, the next one asks again)."""

    def resume_jobs(self, jobs: Sequence[StuckJob]) -> None:
        """Stuck jobs, now in 'error': resume each from its first row with no notification (process-incomplete-jobs)."""
        raise NotImplementedError(f"{type(self).__name__} must implement resume_jobs(jobs)")

    def process_rows(self, rows: Sequence[MissingRow]) -> None:
        """Rows of finished jobs that have no notification: create each from the job's CSV (process_job_row)."""
        raise NotImplementedError(f"{type(self).__name__} must implement process_rows(rows)")


class RecordedJobReprocessor(JobReprocessor):
    """The default: sends nothing; the request is the row written to job_reprocessing_requests."""

    def resume_jobs(self, jobs: Sequence[StuckJob]) -> None:
        return None

    def process_rows(self, rows: Sequence[MissingRow]) -> None:
        return None


RECORD_SQL = sa.text(
    """
    INSERT INTO job_reprocessing_requests (job_id, job_row_number, requested_by, requested_at)
    SELECT job_id, job_row_number, :requested_by, :requested_at
    FROM unnest(CAST(:job_ids AS uuid[]), CAST(:rows AS int[])) AS requested(job_id, job_row_number)
    """
)


def _record(conn: sa.Connection, job_ids: list[str], rows: list[int | None], requested_by: str, now: dt.datetime) -> None:
    if job_ids:
        conn.execute(RECORD_SQL, {"job_ids": job_ids, "rows": rows, "requested_by": requested_by, "requested_at": now})


def error_and_resume_stuck_jobs(
    notify_db: NotifyDatabase, reprocessor: JobReprocessor, oldest: dt.datetime, newest: dt.datetime, *,
    requested_by: str, now: dt.datetime,
) -> list[StuckJob]:
    """Set the stuck jobs of [oldest, newest] to 'error', record and send one resume request each; the jobs."""
    with notify_db.begin() as conn:
        stuck = q.mark_stuck_jobs_error(conn, oldest, newest)
        if stuck:
            _record(conn, [str(j.id) for j in stuck], [None] * len(stuck), requested_by, now)
            reprocessor.resume_jobs(stuck)
    return stuck


@dataclass(frozen=True)
class MissingRowsOutcome:
    fully_processed: int  # jobs moved to 'finished all notifications created'
    jobs: list[JobMissingRows]  # finished jobs still missing rows, with the rows requested now

    @property
    def requested(self) -> list[JobMissingRows]:
        return [j for j in self.jobs if j.missing_rows]


def complete_jobs_and_request_missing_rows(
    notify_db: NotifyDatabase, reprocessor: JobReprocessor, now: dt.datetime, *, requested_by: str,
    check_missing: bool,
) -> MissingRowsOutcome:
    """Move finished jobs with every row created (finished 1 minute-1 day ago) to 'finished all notifications
    created'; when `check_missing`, find the finished jobs (20 minutes-1 day ago) still missing rows and request the
    rows not requested in the last REQUEST_ROWS_EVERY. One transaction."""
    with notify_db.begin() as conn:
        moved = q.mark_fully_processed_jobs(conn, now - q.MISSING_ROWS_MAX_AGE, now - q.COMPLETED_MIN_AGE)
        if not check_missing:
            return MissingRowsOutcome(moved, [])
        jobs = q.jobs_with_missing_rows(conn, now - q.MISSING_ROWS_MAX_AGE, now - q.MISSING_ROWS_MIN_AGE,
                                        requested_since=now - REQUEST_ROWS_EVERY)
        rows = [MissingRow(j.id, n) for j in jobs for n in j.missing_rows]
        if rows:
            _record(conn, [str(r.job_id) for r in rows], [r.job_row_number for r in rows], requested_by, now)
            reprocessor.process_rows(rows)
    return MissingRowsOutcome(moved, jobs)
