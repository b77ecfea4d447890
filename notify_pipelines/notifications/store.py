"""The SQL the v2 endpoints run: who a service is (for auth), its templates, writing and reading notifications.

SQLAlchemy Core on the schema's tables; no ORM. Every query on `notifications` is by primary key. The one lock
(a service's first pre-compiled template) is transaction-scoped, in the transaction that creates the template.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from dataclasses import dataclass

import orjson
import sqlalchemy as sa

from notify_pipelines.core.vocabulary import EMAIL, LETTER, PRECOMPILED_TEMPLATE_NAME, REPORTED_KEY_TYPES, SMS
from notify_pipelines.db import schema


@dataclass(frozen=True)
class ApiKey:
    id: uuid.UUID
    key_type: str
    signed_secret: str
    revoked: bool


@dataclass(frozen=True)
class ServiceCredentials:
    id: uuid.UUID
    name: str
    active: bool
    restricted: bool
    rate_limit: int
    daily_limits: dict[str, int]  # notification type -> messages per London day (reference: *_message_limit)
    permissions: frozenset[str]
    api_keys: tuple[ApiKey, ...]


@dataclass(frozen=True)
class Template:
    id: uuid.UUID
    version: int
    service_id: uuid.UUID
    template_type: str
    content: str
    subject: str | None
    postage: str | None
    archived: bool
    hidden: bool


def load_service_credentials(engine: sa.Engine, service_id: uuid.UUID) -> ServiceCredentials | None:
    s, p, k = schema.services, schema.service_permissions, schema.api_keys
    with engine.connect() as conn:
        service = conn.execute(
            sa.select(s.c.id, s.c.name, s.c.active, s.c.restricted, s.c.rate_limit, s.c.sms_message_limit,
                      s.c.email_message_limit, s.c.letter_message_limit).where(s.c.id == service_id)
        ).one_or_none()
        if service is None:
            return None
        permissions = conn.execute(sa.select(p.c.permission).where(p.c.service_id == service_id)).scalars().all()
        keys = conn.execute(
            sa.select(k.c.id, k.c.key_type, k.c.secret, k.c.expiry_date)
            .where(k.c.service_id == service_id)
            .order_by(k.c.created_at)
        ).all()
    return ServiceCredentials(
        id=service.id,
        name=service.name,
        active=service.active,
        restricted=service.restricted,
        rate_limit=service.rate_limit,
        daily_limits={SMS: service.sms_message_limit, EMAIL: service.email_message_limit,
                      LETTER: service.letter_message_limit},
        permissions=frozenset(permissions),
        api_keys=tuple(ApiKey(r.id, r.key_type, r.secret, r.expiry_date is not None) for r in keys),
    )


def load_template(engine: sa.Engine, service_id: uuid.UUID, template_id: uuid.UUID) -> Template | None:
    t = schema.templates
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(
                t.c.id, t.c.version, t.c.service_id, t.c.template_type, t.c.content, t.c.subject, t.c.postage,
                t.c.archived, t.c.hidden,
            ).where(t.c.id == template_id, t.c.service_id == service_id)
        ).one_or_none()
    return Template(**row._mapping) if row else None


# Optional columns the API may leave out; every row of one executemany must name the same columns.
_OPTIONAL_NOTIFICATION_COLUMNS = {
    "normalised_to": None, "reference": None, "client_reference": None, "_personalisation": None,
    "international": False, "phone_prefix": None, "rate_multiplier": None, "postage": None,
    "unsubscribe_link": None, "billable_units": 0,
}


def sent_since_query(service_id: uuid.UUID, notification_type: str, since: dt.datetime) -> sa.Select:
    """Non-test notifications of one service and type created since `since`
    (ix_notifications_service_id_ntype_created_at)."""
    n = schema.notifications
    return sa.select(sa.func.count()).where(
        n.c.service_id == service_id, n.c.notification_type == notification_type, n.c.created_at >= since,
        n.c.key_type.in_(REPORTED_KEY_TYPES),
    )


def count_sent_since(engine: sa.Engine, service_id: uuid.UUID, notification_type: str, since: dt.datetime) -> int:
    with engine.connect() as conn:
        return conn.execute(sent_since_query(service_id, notification_type, since)).scalar_one()


def insert_notifications(conn: sa.Connection, rows: list[dict]) -> None:
    """One multi-row INSERT (SQLAlchemy's insertmanyvalues) for a batch of rows from different endpoints."""
    conn.execute(sa.insert(schema.notifications), [{**_OPTIONAL_NOTIFICATION_COLUMNS, **row} for row in rows])


# The group-commit writer's hot path: the same INSERT as above, written once from the schema's column list and sent
# on the writer's own asynchronous connection (no SQLAlchemy compile per batch). The batch travels as one JSON array
# (orjson, in C) that PostgreSQL turns into rows, instead of one literal per value adapted in Python: measured with
# benchmarks/bench_api.py, the per-value adaptation was about a tenth of a send's CPU.
_WRITER_COLUMNS = ", ".join(f'"{c.name}"' for c in schema.notifications.columns)
INSERT_NOTIFICATIONS_FROM_JSON = (
    f"INSERT INTO {schema.notifications.name} ({_WRITER_COLUMNS}) "
    f"SELECT {_WRITER_COLUMNS} FROM json_populate_recordset(NULL::{schema.notifications.name}, %s)"
)
_COLUMN_DEFAULTS = {str(c.name): None for c in schema.notifications.columns} | _OPTIONAL_NOTIFICATION_COLUMNS


def notifications_json(rows: list[dict]) -> str:
    """Rows (keyed by column name, as the routes build them) as the JSON array INSERT_NOTIFICATIONS_FROM_JSON takes;
    a column a row leaves out is NULL, or its default from _OPTIONAL_NOTIFICATION_COLUMNS."""
    return orjson.dumps([{**_COLUMN_DEFAULTS, **row} for row in rows], default=str).decode()


def notification_by_id(service_id: uuid.UUID, notification_id: uuid.UUID) -> sa.Select:
    n = schema.notifications
    return sa.select(n).where(n.c.id == notification_id, n.c.service_id == service_id)


def get_notification(engine: sa.Engine, service_id: uuid.UUID, notification_id: uuid.UUID):
    with engine.connect() as conn:
        return conn.execute(notification_by_id(service_id, notification_id)).one_or_none()


def precompiled_template(conn: sa.Connection, service_id: uuid.UUID) -> tuple[uuid.UUID, int]:
    """The service's hidden 'Pre-compiled PDF' letter template, made on first use (as the reference does)."""
    t = schema.templates
    # Serialise the first-use creation per service, so two concurrent uploads cannot make two templates.
    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext(f"precompiled:{service_id}"))))
    row = conn.execute(
        sa.select(t.c.id, t.c.version)
        .where(t.c.service_id == service_id, t.c.name == PRECOMPILED_TEMPLATE_NAME, t.c.hidden.is_(True),
               t.c.template_type == LETTER)
        .order_by(t.c.created_at)
        .limit(1)
    ).one_or_none()
    if row:
        return row.id, row.version
    template_id = uuid.uuid4()
    values = dict(
        id=template_id, version=1, service_id=service_id, name=PRECOMPILED_TEMPLATE_NAME, template_type=LETTER,
        content="", subject=PRECOMPILED_TEMPLATE_NAME, hidden=True, postage="second",
    )
    conn.execute(sa.insert(schema.templates_history).values(**values))
    conn.execute(sa.insert(schema.templates).values(**values))
    return template_id, 1


_random_pool = bytearray()


def new_id() -> uuid.UUID:
    """A version-4 uuid from a pool of os.urandom bytes drawn 4 KiB at a time (one system call per 256 ids, rather
    than one per request). Called from the event loop thread only."""
    global _random_pool
    if len(_random_pool) < 16:
        _random_pool = bytearray(os.urandom(4096))
    raw = bytes(_random_pool[:16])
    del _random_pool[:16]
    return uuid.UUID(bytes=raw, version=4)


