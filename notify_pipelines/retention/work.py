"""Work discovery: which services have notifications past retention on the night of a London day (reference §3.1).

One indexed query per notification type. A service is work only if it has at least one row of that type before its
cutoff (custom retention or the 7-day default), so the many services with nothing to do get no step at all.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

import sqlalchemy as sa

from notify_pipelines.core.calendar import retention_cutoff
from notify_pipelines.core.vocabulary import LETTER, NOTIFICATION_TYPES

DEFAULT_RETENTION_DAYS = 7
BATCH_SIZE = 50_000
LETTER_BATCH_SIZE = 5_000  # letters also delete PDFs, one S3 look-up each: keep their transactions short


@dataclass(frozen=True)
class TypeCutoff:
    notification_type: str
    cutoff: dt.datetime  # naive UTC; rows created strictly before it are past retention
    days_of_retention: int


@dataclass(frozen=True)
class ServiceWork:
    """Everything one per-service step does: each type with rows past its cutoff, and the batch sizes."""

    service_id: uuid.UUID
    cutoffs: tuple[TypeCutoff, ...]
    batch_size: int = BATCH_SIZE
    letter_batch_size: int = LETTER_BATCH_SIZE
    day: dt.date | None = field(default=None, compare=False)

    @property
    def mapping_key(self) -> str:
        return self.service_id.hex

    def batch_size_for(self, notification_type: str) -> int:
        return self.letter_batch_size if notification_type == LETTER else self.batch_size


# One LIMIT 1 probe per service, bounded by the service's cutoff, so each is a short descent of a per-service index
# (ix_notifications_service_id_ntype_created_at, or ix_notifications_service_created_at when the type is common).
def services_with_rows_before_cutoff(rows: str) -> sa.TextClause:
    """Every service with its cutoff (:default_cutoff, or its own from :custom_ids/:custom_cutoffs) that has a row
    before it: `rows` is the probe's `FROM <table> WHERE ...` over `candidate.service_id` and `candidate.cutoff`."""
    return sa.text(
        f"""
    SELECT candidate.service_id, candidate.cutoff
    FROM (
        SELECT s.id AS service_id, coalesce(custom.cutoff, CAST(:default_cutoff AS timestamp)) AS cutoff
        FROM services s
        LEFT JOIN unnest(CAST(:custom_ids AS uuid[]), CAST(:custom_cutoffs AS timestamp[])) AS custom(service_id, cutoff)
            ON custom.service_id = s.id
    ) AS candidate
    CROSS JOIN LATERAL (SELECT 1 {rows} LIMIT 1) AS has_rows
    ORDER BY candidate.service_id
    """
    )


_SERVICES_WITH_ROWS_BEFORE_CUTOFF = services_with_rows_before_cutoff(
    """FROM notifications n
        WHERE n.service_id = candidate.service_id
          AND n.notification_type = CAST(:notification_type AS notification_type)
          AND n.created_at < candidate.cutoff"""
)

_CUSTOM_RETENTION = sa.text(
    "SELECT service_id, CAST(notification_type AS text), days_of_retention FROM service_data_retention"
)


def custom_retention(conn: sa.Connection) -> dict[str, dict[uuid.UUID, int]]:
    """{type: {service_id: days}} from service_data_retention (a small table, read whole)."""
    by_type: dict[str, dict[uuid.UUID, int]] = {t: {} for t in NOTIFICATION_TYPES}
    for service_id, notification_type, days in conn.execute(_CUSTOM_RETENTION):
        by_type[notification_type][service_id] = days
    return by_type


def services_past_retention(conn: sa.Connection, day: dt.date, notification_type: str,
                            custom_days: dict[uuid.UUID, int]) -> list[tuple[uuid.UUID, dt.datetime, int]]:
    """(service_id, cutoff, days) of every service with rows of this type created before its cutoff for night `day`."""
    ids = list(custom_days)
    rows = conn.execute(
        _SERVICES_WITH_ROWS_BEFORE_CUTOFF,
        {
            "notification_type": notification_type,
            "default_cutoff": retention_cutoff(day, DEFAULT_RETENTION_DAYS),
            "custom_ids": ids,
            "custom_cutoffs": [retention_cutoff(day, custom_days[i]) for i in ids],
        },
    )
    return [(sid, cutoff, custom_days.get(sid, DEFAULT_RETENTION_DAYS)) for sid, cutoff in rows]


def find_work(conn: sa.Connection, day: dt.date, *, batch_size: int = BATCH_SIZE,
              letter_batch_size: int = LETTER_BATCH_SIZE) -> list[ServiceWork]:
    """One ServiceWork per service with anything past retention on the night of `day`, ordered by service id."""
    if batch_size < 1 or letter_batch_size < 1:
        raise ValueError(f"batch sizes must be at least 1, got {batch_size} and {letter_batch_size}")
    retention = custom_retention(conn)
    per_service: dict[uuid.UUID, list[TypeCutoff]] = {}
    for notification_type in NOTIFICATION_TYPES:
        for service_id, cutoff, days in services_past_retention(conn, day, notification_type, retention[notification_type]):
            per_service.setdefault(service_id, []).append(TypeCutoff(notification_type, cutoff, days))
    return [
        ServiceWork(service_id, tuple(cutoffs), batch_size, letter_batch_size, day)
        for service_id, cutoffs in sorted(per_service.items())
    ]
