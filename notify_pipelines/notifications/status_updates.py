"""The SQL of the callbacks: lock the notification row (FOR UPDATE), check the transition, update.

Each function runs in the caller's transaction and returns what happened, for the route to log and answer; the row
lock is that transaction's, so a dropped connection rolls back the lock and the update together.
Lookups are by primary key, or by `reference` (indexed) for SES receipts.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass
from typing import Callable

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from notify_pipelines.core.vocabulary import (
    EMAIL,
    KEY_TYPE_TEST,
    LETTER,
    STATUS_CREATED,
    STATUS_DELIVERED,
    STATUS_PENDING_VIRUS_CHECK,
    STATUS_TECHNICAL_FAILURE,
    STATUS_VALIDATION_FAILED,
    STATUS_VIRUS_SCAN_FAILED,
    utc_now,
)
from notify_pipelines.db import schema
from notify_pipelines.notifications import status_maps

log = logging.getLogger("notify_pipelines.api.callbacks")
n, h = schema.notifications, schema.notification_history


@dataclass(frozen=True)
class Outcome:
    found: bool
    updated: bool = False
    previous: str | None = None
    new: str | None = None


def lock_by_id(notification_id: uuid.UUID) -> sa.Select:
    """The row lock every id-keyed callback takes (primary key)."""
    return (
        sa.select(n.c.id, n.c.service_id, n.c.notification_status, n.c.key_type, n.c.notification_type,
                  n.c.template_id, n.c.billable_units)
        .where(n.c.id == notification_id)
        .with_for_update()
    )


def lock_email_by_reference(table: sa.Table, reference: str) -> sa.Select:
    """SES receipts find the email by provider reference (ix_notifications_reference / ..._history_reference)."""
    return (
        sa.select(table.c.id, table.c.notification_status)
        .where(table.c.reference == reference, table.c.notification_type == EMAIL)
        .with_for_update()
    )


def _locked(conn: sa.Connection, notification_id: uuid.UUID):
    return conn.execute(lock_by_id(notification_id)).one_or_none()


def _duplicate(notification_id, current: str, wanted: str | None, source: str) -> Outcome:
    log.info("Duplicate callback received from %s for notification %s: status is already %s (update to %s ignored)",
             source, notification_id, current, wanted)
    return Outcome(found=True, previous=current, new=current)


def update_sms_status(
    conn: sa.Connection, notification_id: uuid.UUID, decide: Callable[[str], str], provider: str
) -> Outcome:
    """Reference update_notification_status_by_id: only from UPDATABLE_STATUSES; fills sent_by if empty."""
    row = _locked(conn, notification_id)
    if row is None:
        log.warning("%s callback for notification %s: notification not found", provider, notification_id)
        return Outcome(found=False)
    new = decide(row.notification_status)
    if row.notification_status not in status_maps.UPDATABLE_STATUSES:
        return _duplicate(notification_id, row.notification_status, new, provider)
    conn.execute(
        sa.update(n)
        .where(n.c.id == notification_id)
        .values(notification_status=new, updated_at=utc_now(), sent_by=sa.func.coalesce(n.c.sent_by, provider))
    )
    return Outcome(found=True, updated=True, previous=row.notification_status, new=new)


def update_email_status_by_reference(conn: sa.Connection, reference: str, new: str) -> Outcome:
    """SES receipt: by reference in notifications, else in notification_history; only from sending/pending."""
    for table in (n, h):
        row = conn.execute(lock_email_by_reference(table, reference)).first()
        if row is None:
            continue
        if row.notification_status not in status_maps.SES_UPDATABLE_STATUSES:
            return _duplicate(row.id, row.notification_status, new, "ses")
        conn.execute(
            sa.update(table)
            .where(table.c.reference == reference, table.c.notification_status.in_(status_maps.SES_UPDATABLE_STATUSES))
            .values(notification_status=new, updated_at=utc_now(), sent_by=sa.func.coalesce(table.c.sent_by, "ses"))
        )
        return Outcome(found=True, updated=True, previous=row.notification_status, new=new)
    log.warning("notification not found for reference: %r (update to %s)", reference[:64], new)
    return Outcome(found=False)


def record_complaint(conn: sa.Connection, reference: str, feedback_id: str | None, complaint_type: str | None,
                     complaint_date: dt.datetime | None) -> Outcome:
    for table in (n, h):
        row = conn.execute(
            sa.select(table.c.id, table.c.service_id, table.c.notification_status).where(table.c.reference == reference)
        ).first()
        if row is not None:
            conn.execute(
                sa.insert(schema.complaints).values(
                    id=uuid.uuid4(), notification_id=row.id, service_id=row.service_id, ses_feedback_id=feedback_id,
                    complaint_type=complaint_type, complaint_date=complaint_date,
                )
            )
            return Outcome(found=True, previous=row.notification_status, new=row.notification_status)
    log.warning("complaint for unknown notification reference: %r", reference[:64])
    return Outcome(found=False)


def update_letter_from_dvla(conn: sa.Connection, notification_id: uuid.UUID, new: str,
                            despatched_on: dt.date | None, cost_threshold: str | None) -> Outcome:
    row = _locked(conn, notification_id)
    if row is None or row.notification_type != LETTER:
        log.warning("DVLA callback for notification %s: letter not found", notification_id)
        return Outcome(found=False)
    if despatched_on is not None:  # an upsert, so a repeated DESPATCHED event changes nothing
        stmt = pg_insert(schema.notifications_letter_despatch).values(
            notification_id=notification_id, despatched_on=despatched_on, cost_threshold=cost_threshold
        )
        conn.execute(stmt.on_conflict_do_update(
            index_elements=["notification_id"],
            set_={"despatched_on": stmt.excluded.despatched_on, "cost_threshold": stmt.excluded.cost_threshold},
        ))
    if row.notification_status not in status_maps.UPDATABLE_STATUSES:
        return _duplicate(notification_id, row.notification_status, new, "dvla")
    conn.execute(
        sa.update(n).where(n.c.id == notification_id)
        .values(notification_status=new, updated_at=utc_now(), sent_by=sa.func.coalesce(n.c.sent_by, "dvla"))
    )
    if new == STATUS_TECHNICAL_FAILURE:
        log.error("DVLA rejected letter %s", notification_id)
    return Outcome(found=True, updated=True, previous=row.notification_status, new=new)


def apply_virus_scan_result(conn: sa.Connection, notification_id: uuid.UUID, result: str,
                            page_count: int | None) -> Outcome:
    """Precompiled letter (reference §5.2): clean -> created with sheets as billable units (over 10 pages:
    validation-failed); virus -> virus-scan-failed; error -> technical-failure. Only from pending-virus-check."""
    row = _locked(conn, notification_id)
    if row is None or row.notification_type != LETTER:
        return Outcome(found=False)
    if result == "clean":
        if page_count is not None and page_count > status_maps.LETTER_MAX_PAGES:
            new, units = STATUS_VALIDATION_FAILED, 0
        else:
            new = STATUS_DELIVERED if row.key_type == KEY_TYPE_TEST else STATUS_CREATED
            units = status_maps.letter_sheets(page_count or 1)
    else:
        new, units = (STATUS_VIRUS_SCAN_FAILED if result == "virus" else STATUS_TECHNICAL_FAILURE), 0
    if row.notification_status != STATUS_PENDING_VIRUS_CHECK:
        return _duplicate(notification_id, row.notification_status, new, "virus-scan")
    conn.execute(
        sa.update(n).where(n.c.id == notification_id)
        .values(notification_status=new, billable_units=units, updated_at=utc_now())
    )
    return Outcome(found=True, updated=True, previous=row.notification_status, new=new)


def apply_page_count(conn: sa.Connection, notification_id: uuid.UUID, page_count: int) -> Outcome:
    """Templated letter (reference §5.1): over 10 pages -> validation-failed with 0 units (any key type);
    otherwise billable_units = ceil(pages / 2) (test keys: unchanged). Only for letters still in `created`
    (test keys: `delivered`), so a repeated or late count changes nothing once the letter has moved on."""
    row = _locked(conn, notification_id)
    if row is None or row.notification_type != LETTER:
        return Outcome(found=False)
    waiting = STATUS_DELIVERED if row.key_type == KEY_TYPE_TEST else STATUS_CREATED
    too_long = page_count > status_maps.LETTER_MAX_PAGES
    new = STATUS_VALIDATION_FAILED if too_long else row.notification_status
    if row.notification_status != waiting:
        return _duplicate(notification_id, row.notification_status, new, "page-count")
    if too_long:
        log.info("Validation failed: letter is too long %s for letter with id: %s", page_count, notification_id)
        values = dict(notification_status=STATUS_VALIDATION_FAILED, billable_units=0, updated_at=utc_now())
    elif row.key_type == KEY_TYPE_TEST:
        return Outcome(found=True, previous=row.notification_status, new=row.notification_status)
    else:
        values = dict(billable_units=status_maps.letter_sheets(page_count), updated_at=utc_now())
    conn.execute(sa.update(n).where(n.c.id == notification_id).values(**values))
    return Outcome(found=True, updated=True, previous=row.notification_status, new=new)
