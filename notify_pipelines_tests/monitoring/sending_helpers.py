"""Shared by the sending-side sensor tests: one tick with a pinned clock, a job re-processor that records its calls,
and set-based inserts (generate_series) for the thresholds counted in thousands."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import ClassVar, Sequence

import dagster as dg
import sqlalchemy as sa

from notify_pipelines.db import schema
from notify_pipelines.monitoring.job_reprocessing import JobReprocessor, MissingRow
from notify_pipelines.monitoring.sending_queries import StuckJob
from notify_pipelines.monitoring.sensor_state import MonitoringClock
from notify_pipelines.orchestration.resources import NotifyDatabase


class CapturingReprocessor(JobReprocessor):
    """Records what it was handed, as a real queue client would send it; `fail` makes it raise instead."""

    fail: bool = False
    calls: ClassVar[list[tuple]] = []

    def resume_jobs(self, jobs: Sequence[StuckJob]) -> None:
        if self.fail:
            raise ConnectionError("jobs queue unreachable")
        self.calls.append(("resume", sorted(j.id for j in jobs)))

    def process_rows(self, rows: Sequence[MissingRow]) -> None:
        if self.fail:
            raise ConnectionError("jobs queue unreachable")
        self.calls.append(("rows", [(r.job_id, r.job_row_number) for r in rows]))


def tick(sensor, instance, database_url: str, now: dt.datetime, reprocessor: JobReprocessor | None = None):
    """One tick as the daemon runs it (fresh context; state from the instance): the skip message, or the sensor's
    CheckFailed raised."""
    resources = {"notify_db": NotifyDatabase(url=database_url),
                 "monitoring_clock": MonitoringClock(fixed_utc=now.isoformat())}
    if reprocessor is not None:
        resources["job_reprocessor"] = reprocessor
    with dg.build_sensor_context(instance=instance, resources=resources) as context:
        return sensor.evaluate_tick(context).skip_message


SMS_ROWS_SQL = sa.text(
    """
    INSERT INTO notifications (id, "to", normalised_to, service_id, template_id, template_version, key_type,
                               notification_type, created_at, sent_at, sent_by, updated_at, notification_status,
                               billable_units)
    SELECT gen_random_uuid(), '+' || :normalised_to, :normalised_to, t.service_id, t.id, t.version, :key_type, 'sms',
           :created_at, :sent_at, :sent_by, :updated_at,
           CASE WHEN g <= :permanent_failures THEN 'permanent-failure' ELSE :status END, 1
    FROM templates AS t CROSS JOIN generate_series(1, :count) AS g
    WHERE t.id = :template_id
    """
)


def insert_sms(conn: sa.Connection, template_id: uuid.UUID, count: int, *, created_at: dt.datetime,
               permanent_failures: int = 0, status: str = "delivered", normalised_to: str = "447900900123",
               key_type: str = "normal", sent_by: str = "mmg", sent_at: dt.datetime | None = None,
               delivered_after: dt.timedelta | None = None) -> None:
    """`count` SMS in one INSERT ... SELECT over generate_series: the first `permanent_failures` of them
    permanent-failure, the rest `status`; delivered `delivered_after` their sent_at (sent_at defaults to created_at)."""
    sent_at = sent_at or created_at
    conn.execute(SMS_ROWS_SQL, {
        "template_id": template_id, "count": count, "created_at": created_at, "permanent_failures": permanent_failures,
        "status": status, "normalised_to": normalised_to, "key_type": key_type, "sent_by": sent_by, "sent_at": sent_at,
        "updated_at": sent_at + delivered_after if delivered_after is not None else None,
    })


def create_provider(conn: sa.Connection, identifier: str, priority: int, *, notification_type: str = "sms",
                    active: bool = True, updated_at: dt.datetime | None = None) -> None:
    conn.execute(sa.insert(schema.provider_details).values(
        id=uuid.uuid4(), display_name=identifier.upper(), identifier=identifier, priority=priority,
        notification_type=notification_type, active=active, updated_at=updated_at))
