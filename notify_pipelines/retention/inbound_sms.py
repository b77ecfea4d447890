"""Deleting inbound SMS past each service's SMS retention (reference §3.7, `delete_inbound_sms_older_than_retention`).

For night D a service's messages received before London midnight of D - days are deleted, days being its
`service_data_retention` row for `sms`, or 7. Discovery is one LIMIT 1 probe per service on
ix_inbound_sms_service_id_created_at (as retention/work.py does for notifications), so services with nothing old cost
one index descent; each service's rows then go in batches (10,000, as the reference), each an index range
(service_id = s AND created_at < cutoff) and its own transaction.

Each batch is one statement that deletes the messages and copies them, without `content` and `user_number`, into
inbound_sms_history (the reference's `_insert_inbound_sms_history`), so a message is never deleted without its history
row, nor copied without being deleted. `ON CONFLICT DO NOTHING` keeps a re-copied id (a restored message) harmless.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from dataclasses import asdict, dataclass, field

import sqlalchemy as sa

from notify_pipelines.core.calendar import retention_cutoff
from notify_pipelines.core.vocabulary import SMS
from notify_pipelines.retention.batches import delete_until_done
from notify_pipelines.retention.work import (
    DEFAULT_RETENTION_DAYS,
    custom_retention,
    services_with_rows_before_cutoff,
)

DEFAULT_BATCH_SIZE = 10_000

logger = logging.getLogger(__name__)

SERVICES_WITH_OLD_INBOUND_SMS = services_with_rows_before_cutoff(
    "FROM inbound_sms i WHERE i.service_id = candidate.service_id AND i.created_at < candidate.cutoff"
)

HISTORY_COLUMNS = "id, created_at, service_id, notify_number, provider_date, provider_reference, provider"

# The Batch contract of batches.delete_statement (selected, deleted), with the copy to the history in the same statement.
DELETE_BATCH = sa.text(f"""
    WITH batch AS (
        SELECT ctid FROM inbound_sms
        WHERE service_id = :service_id AND created_at < :cutoff
        ORDER BY created_at
        LIMIT :limit
    ),
    deleted AS (
        DELETE FROM inbound_sms t WHERE t.ctid = ANY(ARRAY(SELECT ctid FROM batch)) RETURNING {HISTORY_COLUMNS}
    ),
    archived AS (
        INSERT INTO inbound_sms_history ({HISTORY_COLUMNS}) SELECT {HISTORY_COLUMNS} FROM deleted
        ON CONFLICT (id) DO NOTHING
    )
    SELECT (SELECT count(*) FROM batch) AS selected, (SELECT count(*) FROM deleted) AS deleted
""")


@dataclass(frozen=True)
class ServiceCutoff:
    service_id: uuid.UUID
    cutoff: dt.datetime  # naive UTC: messages received strictly before it go
    days_of_retention: int


@dataclass
class InboundSmsResult:
    deleted: int = 0
    batches: int = 0
    services: list[dict] = field(default_factory=list)  # one per service that lost messages

    def as_dict(self) -> dict:
        return asdict(self)


def services_with_old_inbound_sms(conn: sa.Connection, day: dt.date) -> list[ServiceCutoff]:
    """Every service with inbound SMS received before its cutoff for night `day`, ordered by service id."""
    custom_days = custom_retention(conn)[SMS]
    ids = list(custom_days)
    rows = conn.execute(SERVICES_WITH_OLD_INBOUND_SMS, {
        "default_cutoff": retention_cutoff(day, DEFAULT_RETENTION_DAYS),
        "custom_ids": ids,
        "custom_cutoffs": [retention_cutoff(day, custom_days[i]) for i in ids],
    })
    return [ServiceCutoff(sid, cutoff, custom_days.get(sid, DEFAULT_RETENTION_DAYS)) for sid, cutoff in rows]


def delete_inbound_sms_older_than_retention(engine: sa.Engine, day: dt.date, *,
                                            batch_size: int = DEFAULT_BATCH_SIZE,
                                            log: logging.Logger = logger) -> InboundSmsResult:
    """Delete, for night `day`, every service's inbound SMS past its SMS retention, copying each to
    inbound_sms_history in the same statement; one transaction per batch."""
    if batch_size < 1:
        raise ValueError(f"batch size must be at least 1, got {batch_size}")
    with engine.begin() as conn:
        services = services_with_old_inbound_sms(conn, day)
    result = InboundSmsResult()
    for service in services:
        started = time.perf_counter()
        deleted, batches = delete_until_done(
            engine, DELETE_BATCH, {"service_id": service.service_id, "cutoff": service.cutoff}, batch_size)
        result.deleted += deleted
        result.batches += batches
        if deleted:
            seconds = round(time.perf_counter() - started, 3)
            log.info(f"delete-inbound-sms: service {service.service_id}: deleted {deleted} inbound sms received "
                     f"before {service.cutoff.isoformat()} UTC ({service.days_of_retention} days), {seconds:.2f} s")
            result.services.append({"service_id": str(service.service_id), "days_of_retention": service.days_of_retention,
                                    "cutoff": service.cutoff.isoformat(), "deleted": deleted, "seconds": seconds})
    log.info(f"Deleted {result.deleted} inbound sms")
    return result
