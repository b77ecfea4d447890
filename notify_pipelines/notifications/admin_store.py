"""The SQL of the admin endpoints: services, templates (every change a new templates_history version), API keys,
data retention, rates and free SMS allowances. Each function runs in the caller's transaction (its FOR UPDATE row
locks too, so a dropped connection rolls back the lock and the change together)."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from notify_pipelines.core.vocabulary import utc_now
from notify_pipelines.db import schema
from notify_pipelines.notifications.errors import NotFound, Refused


def require_service(conn: sa.Connection, service_id: uuid.UUID) -> None:
    s = schema.services
    if conn.execute(sa.select(s.c.id).where(s.c.id == service_id).with_for_update()).first() is None:
        raise NotFound("Service not found")


def create_service(conn: sa.Connection, values: dict, permissions: list[str]) -> uuid.UUID:
    s = schema.services
    if conn.execute(sa.select(s.c.id).where(s.c.name == values["name"])).first():
        raise Refused(f"Duplicate service name '{values['name']}'")
    service_id = uuid.uuid4()
    conn.execute(sa.insert(s).values(id=service_id, **values))
    _set_permissions(conn, service_id, permissions)
    return service_id


def update_service(conn: sa.Connection, service_id: uuid.UUID, values: dict, permissions: list[str] | None) -> None:
    s = schema.services
    require_service(conn, service_id)
    if "name" in values and conn.execute(
        sa.select(s.c.id).where(s.c.name == values["name"], s.c.id != service_id)
    ).first():
        raise Refused(f"Duplicate service name '{values['name']}'")
    if values:
        conn.execute(sa.update(s).where(s.c.id == service_id).values(**values, updated_at=utc_now()))
    if permissions is not None:
        conn.execute(sa.delete(schema.service_permissions).where(schema.service_permissions.c.service_id == service_id))
        _set_permissions(conn, service_id, permissions)


def _set_permissions(conn: sa.Connection, service_id: uuid.UUID, permissions: list[str]) -> None:
    if permissions:
        conn.execute(
            sa.insert(schema.service_permissions),
            [{"service_id": service_id, "permission": p} for p in dict.fromkeys(permissions)],
        )


def get_service(conn: sa.Connection, service_id: uuid.UUID) -> dict:
    s, p, k = schema.services, schema.service_permissions, schema.api_keys
    row = conn.execute(sa.select(s).where(s.c.id == service_id)).one_or_none()
    if row is None:
        raise NotFound("Service not found")
    permissions = conn.execute(
        sa.select(p.c.permission).where(p.c.service_id == service_id).order_by(p.c.permission)
    ).scalars().all()
    keys = conn.execute(
        sa.select(k.c.id, k.c.name, k.c.key_type, k.c.expiry_date).where(k.c.service_id == service_id)
        .order_by(k.c.created_at)
    ).all()
    return {
        "id": row.id, "name": row.name, "active": row.active, "restricted": row.restricted, "crown": row.crown,
        "rate_limit": row.rate_limit, "permissions": list(permissions),
        "api_keys": [{"id": r.id, "name": r.name, "key_type": r.key_type,
                      "revoked_at": r.expiry_date.isoformat() if r.expiry_date else None} for r in keys],
    }


def create_template(conn: sa.Connection, service_id: uuid.UUID, values: dict) -> tuple[uuid.UUID, int]:
    require_service(conn, service_id)
    template_id = uuid.uuid4()
    row = {**values, "id": template_id, "version": 1, "service_id": service_id}
    conn.execute(sa.insert(schema.templates_history).values(**row))
    conn.execute(sa.insert(schema.templates).values(**row))
    return template_id, 1


def update_template(conn: sa.Connection, service_id: uuid.UUID, template_id: uuid.UUID, changes: dict) -> int:
    """A new version: templates holds the latest, templates_history every version (notifications point at one)."""
    t = schema.templates
    current = conn.execute(
        sa.select(t).where(t.c.id == template_id, t.c.service_id == service_id).with_for_update()
    ).one_or_none()
    if current is None:
        raise NotFound("Template not found")
    if current.template_type == "sms" and changes.get("subject"):
        raise Refused("subject is not allowed for sms templates")
    version = current.version + 1
    now = utc_now()
    row = {**current._mapping, **changes, "version": version, "updated_at": now}
    conn.execute(sa.insert(schema.templates_history).values(**row))
    conn.execute(sa.update(t).where(t.c.id == template_id).values(**{k: v for k, v in row.items() if k != "id"}))
    return version


def create_api_key(conn: sa.Connection, service_id: uuid.UUID, name: str, key_type: str, signed_secret: str) -> uuid.UUID:
    require_service(conn, service_id)
    key_id = uuid.uuid4()
    conn.execute(
        sa.insert(schema.api_keys).values(id=key_id, service_id=service_id, name=name, key_type=key_type,
                                          secret=signed_secret)
    )
    return key_id


def revoke_api_key(conn: sa.Connection, service_id: uuid.UUID, key_id: uuid.UUID) -> dt.datetime:
    k = schema.api_keys
    row = conn.execute(
        sa.select(k.c.expiry_date).where(k.c.id == key_id, k.c.service_id == service_id).with_for_update()
    ).one_or_none()
    if row is None:
        raise NotFound("API key not found")
    if row.expiry_date is not None:  # revoking twice keeps the first time
        return row.expiry_date
    now = utc_now()
    conn.execute(sa.update(k).where(k.c.id == key_id).values(expiry_date=now))
    return now


def create_retention(conn: sa.Connection, service_id: uuid.UUID, notification_type: str, days: int) -> uuid.UUID:
    r = schema.service_data_retention
    require_service(conn, service_id)
    if conn.execute(
        sa.select(r.c.id).where(r.c.service_id == service_id, r.c.notification_type == notification_type)
    ).first():
        raise Refused(f"Service already has data retention for {notification_type} notification type")
    retention_id = uuid.uuid4()
    conn.execute(sa.insert(r).values(id=retention_id, service_id=service_id, notification_type=notification_type,
                                     days_of_retention=days))
    return retention_id


def update_retention(conn: sa.Connection, service_id: uuid.UUID, retention_id: uuid.UUID, days: int) -> None:
    r = schema.service_data_retention
    updated = conn.execute(
        sa.update(r).where(r.c.id == retention_id, r.c.service_id == service_id)
        .values(days_of_retention=days, updated_at=utc_now())
    ).rowcount
    if not updated:
        raise NotFound("Data retention not found")


def create_rate(conn: sa.Connection, values: dict) -> uuid.UUID:
    rate_id = uuid.uuid4()
    conn.execute(sa.insert(schema.rates).values(id=rate_id, **values))
    return rate_id


def create_letter_rate(conn: sa.Connection, values: dict) -> uuid.UUID:
    rate_id = uuid.uuid4()
    conn.execute(sa.insert(schema.letter_rates).values(id=rate_id, **values))
    return rate_id


def set_annual_billing(conn: sa.Connection, service_id: uuid.UUID, year: int, limit: int) -> uuid.UUID:
    """Upsert the service's free SMS allowance for the financial year starting in April of `year`; returns the row id."""
    a = schema.annual_billing
    require_service(conn, service_id)
    insert = pg_insert(a).values(id=uuid.uuid4(), service_id=service_id, financial_year_start=year,
                                 free_sms_fragment_limit=limit, has_custom_allowance=True)
    upsert = insert.on_conflict_do_update(
        constraint="uix_service_id_financial_year_start",
        set_={"free_sms_fragment_limit": insert.excluded.free_sms_fragment_limit, "has_custom_allowance": True,
              "updated_at": utc_now()},
    ).returning(a.c.id)
    return conn.execute(upsert).scalar_one()
