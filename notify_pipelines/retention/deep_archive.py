"""The deep archive of notification_history (reference §3.8): its oldest whole UTC hours older than
NOTIFY_DEEP_ARCHIVE_AFTER_DAYS go, one hour at a time, to Parquet files in S3, and only then leave the table.

Per hour H (naive UTC, [H, H + 1 h)):
1. export: the hour's rows, read on ix_notification_history_created_at through a server-side cursor in batches, are
   streamed into a local Parquet file with pyarrow's ParquetWriter (one row group per batch), so memory holds one batch
   whatever the hour's size. The read transaction ends before S3 is called.
2. upload to `created_at_date_hour=YYYY-MM-DDTHH/notification_history_YYYY-MM-DDTHH.parquet` and verify: the object's
   size is the file's, and its Parquet footer, read back from S3, holds the exported row count.
3. delete, in one transaction: `pg_advisory_xact_lock` keyed by the hour, then `DELETE` the hour's range; the
   transaction commits only if it deleted exactly the exported count, else it rolls back and the run fails.
4. tag the object `contents_deleted=true` (as the reference), so a later run never overwrites a completed hour.

Why this is safe:
- A kill between 2 and 3 leaves the hour in both the table and S3. The key is a function of the hour alone, so the
  re-run, which picks the same oldest hour, overwrites the same object with the rows now in the table, then deletes
  them: no hour is lost or stored twice. A kill inside 3 rolls back. A kill between 3 and 4 leaves a complete but
  untagged file for an hour the table no longer has: complete, yet outside the guard below (the one S3 call after the
  commit is that window).
- An S3 failure in 2 raises before 3: the hour, and every hour after it, stays in the table, and the run fails.
- Two runs at once: a run holds the lease `deep_archive_notification_history` (db/leases.py) from its first hour to
  its last, so a second run waits for it, then finds those hours gone. The lease depends on no connection; a run that
  loses it (frozen past its expiry while another took it) finds out before its next irreversible step: its upload
  cannot send its last byte after the lease's deadline (core/s3_deadlines.py), and its delete is a fenced transaction
  (the renewal first), so it never overwrites an hour another run archived, nor deletes what it did not upload. Within
  one hour's delete the advisory lock still serialises any caller of delete_hour without a lease.
- Guard: if an hour's object exists already tagged contents_deleted=true while the table has rows for the hour again
  (history rows inserted that old: a retention longer than the archive age), the run fails rather than overwrite it.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa
from botocore.exceptions import BotoCoreError, ClientError

from notify_pipelines.core.s3_deadlines import deadline_body, write_reserve
from notify_pipelines.db import schema
from notify_pipelines.db.leases import DEFAULT_POLL_SECONDS, Lease, LeaseLost

DEFAULT_MAX_HOURS_PER_RUN = 240  # the reference's 24 * 10: ten days of history a night
# Rows read per batch, and each Parquet row group. Peak memory follows the batch, not the hour: measured +113 MB at
# 10,000 rows and +280 MB at 50,000 (the reference's batch) for hours of 100,000 and 400,000 rows alike.
DEFAULT_BATCH_ROWS = 10_000
HOUR = dt.timedelta(hours=1)
TAG_CONTENTS_DELETED = "contents_deleted"
LEASE_NAME = "deep_archive_notification_history"
# Long enough for an hour's export between renewals; a run killed outright holds the next one up this long at most.
DEFAULT_LEASE_SECONDS = 300

logger = logging.getLogger(__name__)


class DeepArchiveError(RuntimeError):
    """An hour could not be archived; it was not deleted. The message says which hour and why."""


# ---- the file's columns: every notification_history column, with an Arrow type DuckDB and Athena read as is -------

def _arrow_type(column: sa.Column) -> pa.DataType:
    kind = column.type
    if isinstance(kind, sa.Boolean):
        return pa.bool_()
    if isinstance(kind, sa.BigInteger):
        return pa.int64()
    if isinstance(kind, sa.Integer):
        return pa.int32()
    if isinstance(kind, sa.DateTime):
        return pa.timestamp("us")  # naive UTC, as in the database
    if isinstance(kind, sa.Numeric):
        return pa.float64()  # rate_multiplier: small multiples (1, 2, ...) with no declared scale
    return pa.string()  # UUIDs as their text form (Athena has no UUID type), strings, the notification_type enum


def _select_expression(column: sa.Column) -> str:
    kind = column.type
    if isinstance(kind, (sa.Uuid, sa.Enum)):
        return f"{column.name}::text"
    if isinstance(kind, sa.Numeric) and not isinstance(kind, sa.Integer):
        return f"{column.name}::float8"
    return column.name


HISTORY_COLUMNS = list(schema.notification_history.columns)
ARROW_SCHEMA = pa.schema([pa.field(c.name, _arrow_type(c), nullable=c.nullable) for c in HISTORY_COLUMNS])

# ---- SQL: every statement is a range on ix_notification_history_created_at -----------------------------------------

# The oldest hours with rows before the cutoff, found by one index descent per hour (a loose index scan), not by
# grouping the whole old part of the table.
OLDEST_HOURS = sa.text("""
    WITH RECURSIVE hours(hour, n) AS (
        SELECT date_trunc('hour', min(created_at)), 1 FROM notification_history WHERE created_at < :cutoff
        UNION ALL
        SELECT (SELECT date_trunc('hour', min(h.created_at)) FROM notification_history h
                WHERE h.created_at >= hours.hour + interval '1 hour' AND h.created_at < :cutoff), n + 1
        FROM hours WHERE hours.hour IS NOT NULL AND n < :limit
    )
    SELECT hour FROM hours WHERE hour IS NOT NULL ORDER BY hour
""")

SELECT_HOUR = sa.text(f"""
    SELECT {", ".join(_select_expression(c) for c in HISTORY_COLUMNS)} FROM notification_history
    WHERE created_at >= :hour AND created_at < :next_hour
    ORDER BY created_at
""")

# Two int4 keys: this job's namespace and the hour's number since the epoch (fits until the year 2245).
LOCK_HOUR = sa.text("SELECT pg_advisory_xact_lock(hashtext('deep_archive_notification_history'), :hour_number)")

DELETE_HOUR = sa.text("DELETE FROM notification_history WHERE created_at >= :hour AND created_at < :next_hour")


@dataclass
class DeepArchiveResult:
    cutoff: str  # rows created before it (naive UTC, a whole hour) were due
    rows: int = 0
    hours: list[dict] = field(default_factory=list)  # one per hour archived: hour, key, rows, bytes, seconds

    def as_dict(self) -> dict:
        return asdict(self)


def archive_cutoff(now: dt.datetime, after_days: int) -> dt.datetime:
    """The start of the hour holding `now - after_days`: every hour wholly before it is older than the age."""
    return (now - dt.timedelta(days=after_days)).replace(minute=0, second=0, microsecond=0)


def hour_key(hour: dt.datetime) -> str:
    """The object for an hour: a function of the hour alone, so a re-run overwrites what a killed run uploaded."""
    label = hour.strftime("%Y-%m-%dT%H")
    return f"created_at_date_hour={label}/notification_history_{label}.parquet"


def oldest_hours(conn: sa.Connection, cutoff: dt.datetime, limit: int) -> list[dt.datetime]:
    if limit < 1:
        raise ValueError(f"hours per run must be at least 1, got {limit}")
    return list(conn.execute(OLDEST_HOURS, {"cutoff": cutoff, "limit": limit}).scalars())


def _hour_params(hour: dt.datetime) -> dict:
    return {"hour": hour, "next_hour": hour + HOUR}


def export_hour(engine: sa.Engine, hour: dt.datetime, path: Path, batch_rows: int = DEFAULT_BATCH_ROWS) -> int:
    """Stream the hour's rows into a ZSTD Parquet file at `path`, one batch in memory at a time; the row count."""
    rows = 0
    with engine.connect() as conn, pq.ParquetWriter(path, ARROW_SCHEMA, compression="zstd") as writer:
        result = conn.execution_options(stream_results=True, max_row_buffer=batch_rows).execute(
            SELECT_HOUR, _hour_params(hour))
        for chunk in result.partitions(batch_rows):
            columns = list(zip(*chunk))
            writer.write_batch(pa.record_batch(
                [pa.array(values, type=f.type) for values, f in zip(columns, ARROW_SCHEMA)], schema=ARROW_SCHEMA))
            rows += len(chunk)
        conn.rollback()  # a read: end the snapshot before S3 is called
    return rows


class S3ObjectReader(io.RawIOBase):
    """A seekable read-only view of one S3 object by range GETs: pyarrow reads a Parquet footer through it."""

    def __init__(self, s3, bucket: str, key: str):
        super().__init__()
        self._s3, self._bucket, self._key = s3, bucket, key
        self.size = s3.head_object(Bucket=bucket, Key=key)["ContentLength"]
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self.size}[whence]
        self._position = max(base + offset, 0)
        return self._position

    def readinto(self, buffer) -> int:
        if self._position >= self.size or not len(buffer):
            return 0
        last = min(self._position + len(buffer), self.size) - 1
        body = self._s3.get_object(Bucket=self._bucket, Key=self._key,
                                   Range=f"bytes={self._position}-{last}")["Body"].read()
        buffer[:len(body)] = body
        self._position += len(body)
        return len(body)


def uploaded_row_count(s3, bucket: str, key: str) -> tuple[int, int]:
    """(rows in the object's Parquet footer, the object's size), read back from S3."""
    reader = S3ObjectReader(s3, bucket, key)
    return pq.ParquetFile(reader).metadata.num_rows, reader.size


def _completed_already(s3, bucket: str, key: str) -> bool:
    try:
        tags = s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return False
        raise
    return any(t["Key"] == TAG_CONTENTS_DELETED and t["Value"] == "true" for t in tags)


def upload_and_verify(s3, bucket: str, key: str, path: Path, rows: int, lease: Lease | None = None) -> int:
    """Upload the file and read its row count back from S3; raise DeepArchiveError unless it is `rows`. Its size.
    With `lease`, the upload cannot send its last byte once the lease could have passed to another run."""
    if _completed_already(s3, bucket, key):
        raise DeepArchiveError(
            f"s3://{bucket}/{key} already holds this hour, archived and deleted by an earlier run, yet "
            f"notification_history has {rows} rows for it again: not overwriting it; nothing deleted")
    with open(path, "rb") as file:
        body = file
        if lease is not None:
            deadline = lease.deadline(write_reserve(s3))  # renewed: the write ends while the lease is ours
            body = deadline_body(file, deadline, lambda: lease.lost(f"it could not have finished writing {key}"))
        # One PUT streamed from the file (upload_file's multipart parts could not be bounded by the deadline).
        s3.put_object(Bucket=bucket, Key=key, Body=body, Metadata={"row-count": str(rows)})
    found, size = uploaded_row_count(s3, bucket, key)
    if found != rows or size != path.stat().st_size:
        raise DeepArchiveError(f"s3://{bucket}/{key} reads back {found} rows and {size} bytes, but {rows} rows and "
                               f"{path.stat().st_size} bytes were written: nothing deleted")
    return size


def hour_number(hour: dt.datetime) -> int:
    """The hour's advisory lock key: hours since the epoch."""
    return int(hour.replace(tzinfo=dt.timezone.utc).timestamp()) // 3600


def delete_hour(engine: sa.Engine, hour: dt.datetime, rows: int, lease: Lease | None = None) -> int:
    """Delete the hour's rows if they are exactly the `rows` exported, in one transaction (fenced by `lease`: it
    commits only while the lease is this run's); the count deleted."""
    with (lease.fenced() if lease is not None else engine.begin()) as conn:
        conn.execute(LOCK_HOUR, {"hour_number": hour_number(hour)})
        deleted = conn.execute(DELETE_HOUR, _hour_params(hour)).rowcount
        if deleted not in (rows, 0):  # 0: another run archived the hour first (same rows, same key)
            raise DeepArchiveError(f"hour {hour:%Y-%m-%dT%H} changed after its export: {rows} rows in the file, "
                                   f"{deleted} in the table; rolled back, nothing deleted (a re-run re-exports it)")
    return deleted


def mark_contents_deleted(s3, bucket: str, key: str, now: dt.datetime) -> None:
    s3.put_object_tagging(Bucket=bucket, Key=key, Tagging={"TagSet": [
        {"Key": TAG_CONTENTS_DELETED, "Value": "true"},
        {"Key": "contents_deleted_at", "Value": now.strftime("%Y-%m-%dT%H:%M:%S")},
    ]})


def deep_archive_notification_history(
    engine: sa.Engine, s3, bucket: str, *, now: dt.datetime, after_days: int,
    max_hours: int = DEFAULT_MAX_HOURS_PER_RUN, batch_rows: int = DEFAULT_BATCH_ROWS,
    log: logging.Logger = logger, lease_seconds: float = DEFAULT_LEASE_SECONDS,
    lease_poll_seconds: float = DEFAULT_POLL_SECONDS, holder: str | None = None,
) -> DeepArchiveResult:
    """Archive up to `max_hours` of the oldest whole hours created before `now - after_days` (naive UTC), one at a time.
    Raises DeepArchiveError (an S3 failure included) at the first hour that cannot be archived: that hour and the
    later ones stay in the table; the hours before it are archived and deleted. The run holds the lease LEASE_NAME
    throughout (waiting for it if another run holds it); one that loses it raises DeepArchiveError with the lease's
    one line."""
    if batch_rows < 1:
        raise ValueError(f"batch rows must be at least 1, got {batch_rows}")
    if lease_seconds < 2 * write_reserve(s3):
        raise ValueError(f"lease seconds must be at least {2 * write_reserve(s3):g} (twice the S3 client's read "
                         f"timeout and margin), got {lease_seconds:g}")
    lease = Lease.acquire(engine, LEASE_NAME, lease_seconds, holder=holder, log=log, poll_seconds=lease_poll_seconds)
    try:
        return _archive_holding(lease, engine, s3, bucket, now=now, after_days=after_days, max_hours=max_hours,
                                batch_rows=batch_rows, log=log)
    except LeaseLost as lost:
        raise DeepArchiveError(str(lost)) from None
    finally:
        lease.release(log)


def _archive_holding(lease: Lease, engine: sa.Engine, s3, bucket: str, *, now: dt.datetime, after_days: int,
                     max_hours: int, batch_rows: int, log: logging.Logger) -> DeepArchiveResult:
    cutoff = archive_cutoff(now, after_days)
    with engine.connect() as conn:
        hours = oldest_hours(conn, cutoff, max_hours)
    result = DeepArchiveResult(cutoff=cutoff.isoformat())
    log.info(f"deep archive: {len(hours)} hours of notification_history before {cutoff.isoformat()} UTC to archive "
             f"(at most {max_hours} a run) to s3://{bucket}")
    with tempfile.TemporaryDirectory(prefix="deep-archive-") as folder:
        for hour in hours:
            started = time.perf_counter()
            key, path = hour_key(hour), Path(folder) / "hour.parquet"
            lease.keep_alive()
            rows = export_hour(engine, hour, path, batch_rows)
            if not rows:  # emptied since the hours were listed (by another run)
                continue
            try:
                size = upload_and_verify(s3, bucket, key, path, rows, lease)
            except (BotoCoreError, ClientError) as exc:
                raise DeepArchiveError(f"hour {hour:%Y-%m-%dT%H}: could not write s3://{bucket}/{key} ({exc}); "
                                       "nothing deleted for this hour or any later one") from exc
            deleted = delete_hour(engine, hour, rows, lease)
            try:
                mark_contents_deleted(s3, bucket, key, now)
            except (BotoCoreError, ClientError) as exc:
                raise DeepArchiveError(f"hour {hour:%Y-%m-%dT%H}: archived to s3://{bucket}/{key} and deleted, but "
                                       f"tagging it {TAG_CONTENTS_DELETED}=true failed ({exc})") from exc
            seconds = round(time.perf_counter() - started, 3)
            result.rows += deleted
            result.hours.append({"hour": hour.isoformat(), "key": key, "rows": rows, "deleted": deleted,
                                 "bytes": size, "seconds": seconds})
            log.info(f"deep archive: hour {hour:%Y-%m-%dT%H}: {rows} rows to s3://{bucket}/{key} ({size} bytes), "
                     f"{deleted} deleted, {seconds:.2f} s")
    log.info(f"deep archive: {result.rows} rows in {len(result.hours)} hours archived and deleted")
    return result
