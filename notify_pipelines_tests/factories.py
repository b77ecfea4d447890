"""Rows for tests, written through the schema definition. Every helper takes an open Connection."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid

import sqlalchemy as sa

from notify_pipelines.db import schema

_counter = itertools.count(1)


def create_service(
    conn: sa.Connection,
    *,
    name: str | None = None,
    crown: bool | None = True,
    restricted: bool = False,
    active: bool = True,
    permissions: tuple[str, ...] = ("email", "sms", "letter"),
    service_id: uuid.UUID | None = None,
) -> uuid.UUID:
    service_id = service_id or uuid.uuid4()
    conn.execute(
        sa.insert(schema.services).values(
            id=service_id,
            name=name or f"Service {next(_counter)}",
            crown=crown,
            restricted=restricted,
            active=active,
        )
    )
    if permissions:
        conn.execute(
            sa.insert(schema.service_permissions),
            [{"service_id": service_id, "permission": p} for p in permissions],
        )
    return service_id


def create_organisation(conn: sa.Connection, organisation_type: str | None = None, *,
                        organisation_id: uuid.UUID | None = None, name: str | None = None) -> uuid.UUID:
    organisation_id = organisation_id or uuid.uuid4()
    conn.execute(sa.insert(schema.organisation).values(
        id=organisation_id, name=name or f"Organisation {next(_counter)}", organisation_type=organisation_type))
    return organisation_id


def create_template(
    conn: sa.Connection,
    service_id: uuid.UUID,
    template_type: str = "sms",
    *,
    name: str | None = None,
    content: str = "Hello ((name))",
    subject: str | None = None,
    versions: int = 1,
    hidden: bool = False,
    postage: str | None = None,
    template_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """A template with `versions` rows in templates_history; `templates` holds the latest version."""
    template_id = template_id or uuid.uuid4()
    if template_type in ("email", "letter") and subject is None:
        subject = "A subject"
    if template_type == "letter" and postage is None:
        postage = "second"
    row = dict(
        id=template_id,
        service_id=service_id,
        name=name or f"Template {next(_counter)}",
        template_type=template_type,
        content=content,
        subject=subject,
        hidden=hidden,
        postage=postage,
    )
    conn.execute(sa.insert(schema.templates_history), [{**row, "version": v} for v in range(1, versions + 1)])
    conn.execute(sa.insert(schema.templates).values(**row, version=versions))
    return template_id


def create_precompiled_template(conn: sa.Connection, service_id: uuid.UUID) -> uuid.UUID:
    return create_template(conn, service_id, "letter", name="Pre-compiled PDF", hidden=True, content="precompiled")


def create_api_key(
    conn: sa.Connection,
    service_id: uuid.UUID,
    key_type: str = "normal",
    *,
    secret: str = "not-a-real-secret",
    revoked: bool = False,
) -> uuid.UUID:
    key_id = uuid.uuid4()
    conn.execute(
        sa.insert(schema.api_keys).values(
            id=key_id,
            service_id=service_id,
            name=f"Key {next(_counter)}",
            secret=secret,
            key_type=key_type,
            expiry_date=dt.datetime(2020, 1, 1) if revoked else None,
        )
    )
    return key_id


def create_job(conn: sa.Connection, template_id: uuid.UUID, *, created_at: dt.datetime, notification_count: int = 1) -> uuid.UUID:
    template = conn.execute(sa.select(schema.templates).where(schema.templates.c.id == template_id)).one()
    job_id = uuid.uuid4()
    conn.execute(
        sa.insert(schema.jobs).values(
            id=job_id,
            service_id=template.service_id,
            template_id=template_id,
            template_version=template.version,
            original_file_name="contacts.csv",
            notification_count=notification_count,
            job_status="finished",
            created_at=created_at,
        )
    )
    return job_id


def create_notification(
    conn: sa.Connection,
    template_id: uuid.UUID,
    *,
    created_at: dt.datetime,
    status: str = "created",
    key_type: str = "normal",
    table: sa.Table = schema.notifications,
    **overrides,
) -> uuid.UUID:
    """One notification for the template's service and type, in `notifications` (or `notification_history`)."""
    template = conn.execute(sa.select(schema.templates).where(schema.templates.c.id == template_id)).one()
    notification_id = overrides.pop("id", None) or uuid.uuid4()
    ntype = template.template_type
    row = dict(
        id=notification_id,
        service_id=template.service_id,
        template_id=template_id,
        template_version=template.version,
        key_type=key_type,
        notification_type=ntype,
        created_at=created_at,
        notification_status=status,
        billable_units={"sms": 1, "letter": 1}.get(ntype, 0),
        international=False,
        rate_multiplier=1 if ntype == "sms" else None,
        postage=template.postage if ntype == "letter" else None,
        reference=f"REF{next(_counter):08d}" if ntype == "letter" else None,
        sent_by={"sms": "mmg", "email": "ses", "letter": "dvla"}[ntype] if status not in ("created",) else None,
    )
    if table is schema.notifications:
        row["to"] = {"sms": "+447700900123", "email": "someone@example.com", "letter": "A. Person"}[ntype]
    row.update(overrides)
    conn.execute(sa.insert(table).values(**row))
    return notification_id


def create_rate(conn: sa.Connection, *, valid_from: dt.datetime, rate: float, notification_type: str = "sms") -> None:
    conn.execute(
        sa.insert(schema.rates).values(id=uuid.uuid4(), valid_from=valid_from, rate=rate, notification_type=notification_type)
    )


def create_letter_rate(
    conn: sa.Connection,
    *,
    start_date: dt.datetime,
    sheet_count: int,
    rate: float,
    post_class: str = "second",
    crown: bool = True,
) -> None:
    conn.execute(
        sa.insert(schema.letter_rates).values(
            id=uuid.uuid4(), start_date=start_date, sheet_count=sheet_count, rate=rate, crown=crown, post_class=post_class
        )
    )


def create_retention(conn: sa.Connection, service_id: uuid.UUID, notification_type: str, days: int) -> None:
    conn.execute(
        sa.insert(schema.service_data_retention).values(
            id=uuid.uuid4(), service_id=service_id, notification_type=notification_type, days_of_retention=days
        )
    )


def create_callback_api(conn: sa.Connection, service_id: uuid.UUID, url: str, bearer_token: str = "callback-token") -> None:
    conn.execute(
        sa.insert(schema.service_callback_api).values(
            id=uuid.uuid4(), service_id=service_id, callback_type="delivery_status", url=url, bearer_token=bearer_token
        )
    )
