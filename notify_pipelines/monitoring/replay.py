"""Replaying notifications stuck in 'created' (reference §4.5): the pluggable senders and the bounded sweep.

Email and SMS go back to the `provider_queue` resource, letters whose PDF was never made to the `letter_renderer`
resource. Both are pluggable: a deployment binds a subclass of `ProviderQueue` / `LetterRenderer` that implements
`send(requests)` (for example a Celery or SQS client). The defaults, `RecordedProviderQueue` and
`RecordedLetterRenderer`, send nothing.

Whatever is bound, the sweep writes one row per request into `notification_replays` after `send` returns, and never
replays a notification that has a row from the last hour: the once-an-hour rule and the audit trail do not depend on
the resource (with the defaults that row is the whole effect). Sending first, then recording, makes a failure
repeat a request rather than lose one.

Per tick and per notification type, at most MAX_PER_TICK notifications are handed back, CHUNK_SIZE per query and
per `send`. A backlog larger than that is worked through as a sweep in (created_at, id) order: the position reached
is kept between ticks, and at the end of the window the sweep starts again from its beginning, so each stuck
notification gets its turn (oldest-first with a cap would replay the oldest again every hour and never reach the
rest).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Callable, Sequence

import dagster as dg
import sqlalchemy as sa

from notify_pipelines.monitoring import queries
from notify_pipelines.monitoring.queries import Created
from notify_pipelines.orchestration.resources import NotifyDatabase

CHUNK_SIZE = 1_000
MAX_PER_TICK = 10_000  # per notification type: bounds a tick's sends (a real queue may take ms per message)
# The ledger is read for notifications up to CREATED_MAX_AGE old (the replay window and the stuck alert's first
# replay); older rows only grow the table, up to 168 a week per notification stuck all week. A day's margin.
LEDGER_KEPT_FOR = queries.CREATED_MAX_AGE + dt.timedelta(days=1)
PRUNE_PER_TICK = 50_000  # rows deleted per tick at most: one short statement


class NotificationReplayer(dg.ConfigurableResource):
    """Hands stuck notifications back to whatever sends them. Subclasses implement `send`; it may raise, and then
    nothing of that call is recorded (the tick fails, and the next tick asks again)."""

    def send(self, requests: Sequence[Created]) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement send(requests)")


class ProviderQueue(NotificationReplayer):
    """Email and SMS back to their delivery queue (the reference's `send_notification_to_queue`): bind a subclass
    under the `provider_queue` resource key."""


class LetterRenderer(NotificationReplayer):
    """Letters whose PDF was never made back to the renderer (the reference's `get-pdf-for-templated-letter` on
    `create-letters-pdf-tasks`): bind a subclass under the `letter_renderer` resource key."""


class RecordedProviderQueue(ProviderQueue):
    """The default: sends nothing; the request is the row the sweep writes in notification_replays."""

    def send(self, requests: Sequence[Created]) -> None:
        return None


class RecordedLetterRenderer(LetterRenderer):
    """The default: sends nothing; the request is the row the sweep writes in notification_replays."""

    def send(self, requests: Sequence[Created]) -> None:
        return None


# One statement per chunk from two arrays: 2-3x faster than a multi-row VALUES insert of the same 1,000 rows.
RECORD_SQL = sa.text(
    """
    INSERT INTO notification_replays (notification_id, notification_type, requested_at)
    SELECT id, notification_type::notification_type, :requested_at
    FROM unnest(CAST(:ids AS uuid[]), CAST(:types AS text[])) AS requested(id, notification_type)
    """
)


def record_replays(notify_db: NotifyDatabase, requests: Sequence[Created], requested_at: dt.datetime) -> None:
    """One row per request in notification_replays (the ledger the once-an-hour rule reads), in one transaction."""
    if not requests:
        return
    with notify_db.begin() as conn:
        conn.execute(
            RECORD_SQL,
            {
                "ids": [str(r.id) for r in requests],
                "types": [r.notification_type for r in requests],
                "requested_at": requested_at,
            },
        )


def position_to_state(position: Created | None) -> list[str] | None:
    return None if position is None else [position.created_at.isoformat(), str(position.id)]


def position_from_state(value, notification_type: str) -> Created | None:
    if not value:
        return None
    return Created(uuid.UUID(value[1]), notification_type, dt.datetime.fromisoformat(value[0]))


@dataclass(frozen=True)
class SweepOutcome:
    notification_type: str
    replayed: int
    position: Created | None
    limit_reached: bool


def sweep(
    notify_db: NotifyDatabase,
    replayer: NotificationReplayer,
    notification_type: str,
    now: dt.datetime,
    position: Created | None,
    *,
    on_chunk: Callable[[list[Created]], None],
    chunk_size: int | None = None,
    max_per_tick: int | None = None,
) -> SweepOutcome:
    """Replay up to `max_per_tick` notifications of one type, continuing after `position` and wrapping round to the
    window's start once. Each chunk is read, sent, recorded, then reported to `on_chunk` (which may save the new
    position, so a failure later in the tick loses no progress). The limits default to CHUNK_SIZE and MAX_PER_TICK."""
    chunk_size = chunk_size or CHUNK_SIZE
    max_per_tick = max_per_tick or MAX_PER_TICK
    window = queries.created_window(now)
    replayed_since = now - queries.REPLAY_EVERY
    if position is not None and position.created_at < window.created_from:
        position = None  # aged out of the window: start again from its beginning
    after, wrapped, replayed = position, position is None, 0
    while replayed < max_per_tick:
        with notify_db.begin() as conn:
            chunk = queries.to_replay(
                conn,
                notification_type,
                window,
                replayed_since=replayed_since,
                after=after,
                limit=min(chunk_size, max_per_tick - replayed),
            )
        if not chunk:
            if wrapped:
                break
            after, wrapped = None, True  # the rows before the old position, now eligible again
            continue
        replayer.send(chunk)
        record_replays(notify_db, chunk, now)
        replayed += len(chunk)
        after = position = chunk[-1]
        on_chunk(chunk)
    return SweepOutcome(notification_type, replayed, position, replayed >= max_per_tick)


# Whole days, on ix_notification_replays_requested_day: a row is kept for 8 to 9 days.
PRUNE_SQL = sa.text(
    """
    DELETE FROM notification_replays
    WHERE id IN (
        SELECT id FROM notification_replays
        WHERE date_trunc('day', requested_at) < date_trunc('day', CAST(:before AS timestamp))
        LIMIT :limit
    )
    """
)


def prune_ledger(notify_db: NotifyDatabase, now: dt.datetime, limit: int = PRUNE_PER_TICK) -> int:
    """Delete up to `limit` ledger rows from days wholly before `now - LEDGER_KEPT_FOR`; the rows deleted."""
    with notify_db.begin() as conn:
        return conn.execute(PRUNE_SQL, {"before": now - LEDGER_KEPT_FOR, "limit": limit}).rowcount
