"""Shared helpers for the retention tests: where each notification is, and running the job in process."""

from __future__ import annotations

import datetime as dt
import uuid

import dagster as dg
import sqlalchemy as sa

from notify_pipelines.db import schema


def ids_in(conn: sa.Connection, table: sa.Table) -> set[uuid.UUID]:
    return set(conn.execute(sa.select(table.c.id)).scalars())


def where_is(engine: sa.Engine) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
    """(ids in notifications, ids in notification_history)."""
    with engine.connect() as conn:
        return ids_in(conn, schema.notifications), ids_in(conn, schema.notification_history)


def run_retention(resources: dict, day: str | dt.date, *, instance: dg.DagsterInstance | None = None,
                  raise_on_error: bool = True, **config) -> dg.ExecuteInProcessResult:
    from notify_pipelines.retention.job import nightly_retention

    run_config = {"ops": {"find_retention_work": {"config": config}}} if config else None
    return nightly_retention.execute_in_process(
        partition_key=str(day), resources=resources, run_config=run_config, raise_on_error=raise_on_error,
        instance=instance,
    )


def log_messages(instance: dg.DagsterInstance, result: dg.ExecuteInProcessResult) -> list[str]:
    return [entry.user_message for entry in instance.all_logs(result.run_id)]


_BULK_NOTIFICATIONS = sa.text(
    """
    INSERT INTO notifications (id, "to", service_id, template_id, template_version, key_type, notification_type,
                               created_at, notification_status, billable_units, international, reference, postage)
    SELECT gen_random_uuid(), 'someone', t.service_id, t.id, t.version, :key_type, t.template_type,
           CAST(:first AS timestamp) + (g * CAST(:step AS interval)), :status, 1, false,
           CASE WHEN t.template_type = 'letter' THEN 'BULK' || md5(random()::text) END, t.postage
    FROM templates t CROSS JOIN generate_series(0, :count - 1) AS g
    WHERE t.id = ANY(CAST(:template_ids AS uuid[]))
    """
)


def bulk_notifications(conn: sa.Connection, template_ids: list[uuid.UUID], count: int, *, first: dt.datetime,
                       step: str = "1 minute", status: str = "delivered", key_type: str = "normal") -> None:
    """`count` notifications per template, `step` apart from `first`, generated inside PostgreSQL."""
    conn.execute(_BULK_NOTIFICATIONS, {"template_ids": template_ids, "count": count, "first": first, "step": step,
                                       "status": status, "key_type": key_type})
