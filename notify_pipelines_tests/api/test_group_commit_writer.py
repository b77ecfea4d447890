"""The group-commit writer stores each row exactly as given: every column type, awkward text, and a batch in which
one row is bad (its neighbours are still stored; it alone gets the error)."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import psycopg2
import pytest
import sqlalchemy as sa

from notify_pipelines.api.async_writer import GroupCommitWriter
from notify_pipelines.db import schema
from notify_pipelines_tests import factories as f


def _row(service_id, template_id, **values) -> dict:
    return {"id": uuid.uuid4(), "service_id": service_id, "template_id": template_id, "template_version": 1,
            "api_key_id": None, "key_type": "normal", "notification_type": "sms", "notification_status": "created",
            "created_at": dt.datetime(2026, 3, 29, 0, 59, 59, 123456), **values}


@pytest.fixture
def template(engine):
    with engine.begin() as conn:
        service_id = f.create_service(conn)
        return service_id, f.create_template(conn, service_id, template_type="sms")


def test_a_batch_round_trips_every_value(engine, database_url, template):
    service_id, template_id = template
    awkward = "quote ' double \" backslash \\ newline \n tab \t emoji \U0001f600 Welsh ŵŷ"
    rows = [
        _row(service_id, template_id, to=awkward, normalised_to="447700900123", client_reference=awkward,
             _personalisation='{"name": "Jo \\"the\\" \\\\ one"}', international=True, phone_prefix="44",
             rate_multiplier=2, billable_units=3),
        _row(service_id, template_id, to="07700900123"),  # everything optional left out: defaults or NULL
    ]

    async def write():
        writer = GroupCommitWriter(database_url)
        try:
            await asyncio.gather(*(writer.insert(row) for row in rows))
        finally:
            writer.close()

    asyncio.run(write())
    n = schema.notifications
    with engine.connect() as conn:
        stored = {r.id: r for r in conn.execute(sa.select(n).where(n.c.service_id == service_id))}
    first, second = stored[rows[0]["id"]], stored[rows[1]["id"]]
    assert (first.to, first.client_reference, first._personalisation) == (awkward, awkward, rows[0]["_personalisation"])
    assert first.created_at == rows[0]["created_at"] and first.international is True
    assert (first.phone_prefix, first.rate_multiplier, first.billable_units) == ("44", 2, 3)
    assert second.international is False and second.billable_units == 0 and second.client_reference is None


def test_one_bad_row_fails_alone(engine, database_url, template):
    service_id, template_id = template
    good = _row(service_id, template_id, to="07700900123")
    bad = _row(service_id, uuid.uuid4(), to="07700900123")  # no such template: a foreign key refuses it

    async def write():
        writer = GroupCommitWriter(database_url)
        try:
            return await asyncio.gather(writer.insert(good), writer.insert(bad), return_exceptions=True)
        finally:
            writer.close()

    outcomes = asyncio.run(write())
    assert outcomes[0] is None and isinstance(outcomes[1], psycopg2.IntegrityError)
    with engine.connect() as conn:
        ids = set(conn.execute(sa.select(schema.notifications.c.id)).scalars())
    assert good["id"] in ids and bad["id"] not in ids
