"""Inbound text messages (reference `receive_notifications.py`): a provider tells us a user texted one of our
numbers; the message is stored in `inbound_sms` for the service that has the number and may receive texts.
assign_number's FOR UPDATE row lock is the caller's transaction's: a dropped connection rolls it back with the change."""

from __future__ import annotations

import datetime as dt
import logging
import uuid

import sqlalchemy as sa

from notify_pipelines.core.vocabulary import utc_now
from notify_pipelines.db import schema
from notify_pipelines.notifications.errors import Refused

log = logging.getLogger("notify_pipelines.notifications.inbound")


def normalise_number(number: str) -> str:
    """Inbound numbers are stored as the providers send them, without a leading 44 (reference
    strip_leading_forty_four_prefix), e.g. 07700900123."""
    number = number.strip().lstrip("+")
    return "0" + number[2:] if number.startswith("44") else number


def receive(conn: sa.Connection, *, provider: str, notify_number: str, user_number: str, content: str,
            provider_reference: str | None, provider_date: dt.datetime | None) -> uuid.UUID | None:
    """Store the message for the service with this number; None (logged) when no service may receive it, which the
    provider is still told is fine (the reference answers 200 so that it does not retry)."""
    numbers, permissions = schema.inbound_numbers, schema.service_permissions
    service_id = conn.execute(
        sa.select(numbers.c.service_id).where(numbers.c.number == normalise_number(notify_number),
                                              numbers.c.active.is_(True), numbers.c.service_id.is_not(None))
    ).scalar_one_or_none()
    if service_id is None:
        log.warning("inbound sms from %s for a number no service has", provider)
        return None
    allowed = conn.execute(
        sa.select(permissions.c.permission).where(permissions.c.service_id == service_id,
                                                  permissions.c.permission == "inbound_sms")
    ).first()
    if allowed is None:
        log.warning("inbound sms for service %s, which may not receive text messages", service_id)
        return None
    inbound_id = uuid.uuid4()
    conn.execute(sa.insert(schema.inbound_sms).values(
        id=inbound_id, created_at=utc_now(), service_id=service_id, notify_number=normalise_number(notify_number),
        user_number=user_number, provider_date=provider_date, provider_reference=provider_reference,
        provider=provider, content=content,
    ))
    return inbound_id


def assign_number(conn: sa.Connection, service_id: uuid.UUID, number: str, provider: str) -> uuid.UUID:
    """Give the service this inbound number (creating it, or taking it over when free); one number per service."""
    numbers = schema.inbound_numbers
    number = normalise_number(number)
    conn.execute(sa.update(numbers).where(numbers.c.service_id == service_id, numbers.c.number != number)
                 .values(service_id=None, updated_at=utc_now()))
    existing = conn.execute(sa.select(numbers.c.id, numbers.c.service_id).where(numbers.c.number == number)
                            .with_for_update()).one_or_none()
    if existing is None:
        number_id = uuid.uuid4()
        conn.execute(sa.insert(numbers).values(id=number_id, number=number, provider=provider, service_id=service_id))
        return number_id
    if existing.service_id not in (None, service_id):
        raise Refused("Inbound number is already used by another service")
    conn.execute(sa.update(numbers).where(numbers.c.id == existing.id)
                 .values(service_id=service_id, provider=provider, active=True, updated_at=utc_now()))
    return existing.id
