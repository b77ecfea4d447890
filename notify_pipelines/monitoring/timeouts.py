"""Time out email and SMS stuck in sending/pending for 72 hours (reference §4.1): the SQL and its batch loop.

Each batch is one statement that moves up to `batch_size` rows to temporary-failure and reports, per provider
(`sent_by`), how many it moved and which of them belong to a service with a delivery-status callback. Each batch
commits on its own, so a later failure (or a slow callback endpoint) never undoes or holds up earlier batches.

Locks: FOR UPDATE SKIP LOCKED inside the batch's one statement; the row locks end with its transaction, so a dropped
connection rolls the batch back and the next run times those rows out (docs/locks-and-fencing.md).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

import sqlalchemy as sa

from notify_pipelines.core.calendar import to_naive_utc
from notify_pipelines.core.vocabulary import (
    EMAIL,
    SMS,
    STATUS_PENDING,
    STATUS_SENDING,
    STATUS_TEMPORARY_FAILURE,
    utc_now,
)

TIMEOUT_PERIOD = dt.timedelta(seconds=259_200)  # SENDING_NOTIFICATIONS_TIMEOUT_PERIOD: 72 h
DEFAULT_BATCH_SIZE = 100_000
KNOWN_PROVIDERS = ("firetext", "mmg", "ses")  # always reported (0 included) so each provider's plot has no gaps
UNKNOWN_PROVIDER = "unknown"  # sent_by is NULL (should not happen for sending/pending, but must still be counted)

# The inner SELECT is what finds work: it reads ix_notifications_notification_type_composite
# (notification_type, notification_status, created_at), as a bitmap (use_batch_plan); both IN lists are explicit
# because `!= 'letter'` stopped the index being used (reference §4.1). SKIP LOCKED: a row a provider receipt is
# updating right now is left to that receipt instead of waiting for it; it is picked up by the next run if it is
# still sending.
# The ids are collected into an array first (`= ANY(ARRAY(...))` rather than `IN (...)`) so that the UPDATE finds
# them through the primary key: with a join the planner may read the whole table to hash a large batch.
# The outer SELECT groups the moved rows per provider and lists the ids that need a service callback.
TIMEOUT_BATCH_SQL = sa.text(
    f"""
    WITH timed_out AS (
        UPDATE notifications
        SET notification_status = '{STATUS_TEMPORARY_FAILURE}', updated_at = :updated_at
        WHERE id = ANY(ARRAY(
            SELECT id FROM notifications
            WHERE notification_type IN ('{SMS}', '{EMAIL}')
              AND notification_status IN ('{STATUS_SENDING}', '{STATUS_PENDING}')
              AND created_at < :cutoff
            LIMIT :batch_size
            FOR UPDATE SKIP LOCKED
        ))
        RETURNING id, service_id, sent_by
    )
    SELECT coalesce(timed_out.sent_by, :unknown) AS provider,
           count(*) AS timed_out,
           coalesce(array_agg(timed_out.id::text) FILTER (WHERE callback.id IS NOT NULL), '{{}}') AS callback_ids
    FROM timed_out
    LEFT JOIN service_callback_api AS callback
           ON callback.service_id = timed_out.service_id AND callback.callback_type = 'delivery_status'
    GROUP BY 1
    """
)


def timeout_cutoff(run_start: dt.datetime) -> dt.datetime:
    """Notifications created strictly before this naive-UTC instant have timed out."""
    return to_naive_utc(run_start) - TIMEOUT_PERIOD


@dataclass
class BatchResult:
    per_provider: dict[str, int]
    callback_ids: list[uuid.UUID]

    @property
    def timed_out(self) -> int:
        return sum(self.per_provider.values())


@dataclass
class TimeoutResult:
    cutoff: dt.datetime
    batch_size: int
    batches: int = 0
    per_provider: Counter = field(default_factory=Counter)
    callback_ids: list[uuid.UUID] = field(default_factory=list)

    @property
    def timed_out(self) -> int:
        return sum(self.per_provider.values())


class TimeoutsInterrupted(RuntimeError):
    """A batch failed after earlier batches committed. `partial` is what those did: their callbacks are still due,
    and nothing else needs undoing (a re-run picks up the rest)."""

    def __init__(self, partial: TimeoutResult, cause: BaseException):
        super().__init__(
            f"timeouts stopped after {partial.batches} committed batches ({partial.timed_out} notifications "
            f"timed out): {type(cause).__name__}: {cause}"
        )
        self.partial = partial


def use_batch_plan(conn: sa.Connection) -> None:
    """For the rest of `conn`'s transaction, no plain index scan and no table scan: the batch then reads the
    type/status index as a bitmap. Left to itself, on a platform-sized table the planner reads the table in its
    order (ix_notifications_created_at, or a Seq Scan: all cost within 10 % of the bitmap at 1M a day) and filters
    type and status row by row, so every batch starts again from the oldest row and re-reads what the batches before
    it timed out: the run costs batches x rows (at 1M a day in 20,000-row batches, 1.5 s for the first and 2.8 s for
    the ninth; 1.3 to 2.1 s with the bitmap, which still visits the earlier batches' dead rows: docs/benchmarks.md)."""
    conn.execute(sa.text("SET LOCAL enable_indexscan = off"))
    conn.execute(sa.text("SET LOCAL enable_seqscan = off"))


def timeout_batch(conn: sa.Connection, *, cutoff: dt.datetime, batch_size: int, updated_at: dt.datetime) -> BatchResult:
    """Run one batch statement on `conn` (the caller owns the transaction)."""
    use_batch_plan(conn)
    rows = conn.execute(
        TIMEOUT_BATCH_SQL,
        {"cutoff": cutoff, "batch_size": batch_size, "updated_at": updated_at, "unknown": UNKNOWN_PROVIDER},
    ).all()
    return BatchResult(
        per_provider={row.provider: row.timed_out for row in rows},
        callback_ids=[uuid.UUID(i) for row in rows for i in row.callback_ids],
    )


def timeout_notifications(
    engine: sa.Engine,
    cutoff: dt.datetime,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    clock: Callable[[], dt.datetime] = utc_now,
    on_batch: Callable[[int, BatchResult], None] | None = None,
) -> TimeoutResult:
    """Time out everything older than the fixed `cutoff`, batch by batch, each batch committed on its own.

    Stops after the first batch that is not full: a short batch means nothing was left when it ran, and rows that
    reach 72 h during the run have created_at >= cutoff, so they cannot keep the loop going. `on_batch(n, batch)` is
    called after batch n (from 1) has committed (the job logs through it; tests insert rows through it).
    A failure after some batches committed raises TimeoutsInterrupted carrying what they did.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    cutoff = to_naive_utc(cutoff)
    result = TimeoutResult(cutoff=cutoff, batch_size=batch_size)
    try:
        while True:
            with engine.begin() as conn:
                batch = timeout_batch(conn, cutoff=cutoff, batch_size=batch_size, updated_at=clock())
            result.batches += 1
            result.per_provider.update(batch.per_provider)
            result.callback_ids.extend(batch.callback_ids)
            if on_batch is not None:
                on_batch(result.batches, batch)
            if batch.timed_out < batch_size:
                return result
    except Exception as exc:
        if result.batches == 0:
            raise
        raise TimeoutsInterrupted(result, exc) from exc
