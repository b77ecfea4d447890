"""Deleting `events` rows older than 52 weeks (reference §3.7, `delete-old-records-from-events-table`).

For night D the cutoff is London midnight of D - 52 weeks (the reference took utcnow - 52 weeks; a London midnight
makes a re-run of the same night delete exactly the same rows). Batches of the oldest rows on ix_events_created_at,
one transaction each: a kill leaves everything older than some instant gone and nothing newer touched.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import asdict, dataclass

import sqlalchemy as sa

from notify_pipelines.core.calendar import london_midnight
from notify_pipelines.retention.batches import delete_statement, delete_until_done

EVENTS_RETENTION = dt.timedelta(weeks=52)
DEFAULT_BATCH_SIZE = 10_000

logger = logging.getLogger(__name__)

DELETE_BATCH = delete_statement(
    "events",
    "SELECT ctid FROM events WHERE created_at < :cutoff ORDER BY created_at LIMIT :limit",
)


@dataclass
class EventsResult:
    cutoff: str  # naive UTC, ISO
    deleted: int = 0
    batches: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def events_cutoff(day: dt.date) -> dt.datetime:
    """Events created strictly before this naive-UTC instant are deleted on the night of `day`."""
    return london_midnight(day - EVENTS_RETENTION)


def delete_old_events(engine: sa.Engine, day: dt.date, *, batch_size: int = DEFAULT_BATCH_SIZE,
                      log: logging.Logger = logger) -> EventsResult:
    cutoff = events_cutoff(day)
    deleted, batches = delete_until_done(engine, DELETE_BATCH, {"cutoff": cutoff}, batch_size)
    log.info(f"Deleted {deleted} historical events from before {cutoff.isoformat()} UTC.")
    return EventsResult(cutoff.isoformat(), deleted, batches)
