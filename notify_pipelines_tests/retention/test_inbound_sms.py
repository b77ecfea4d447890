"""delete_inbound_sms: inbound SMS past each service's SMS retention, in batches (reference §3.7)."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest
import sqlalchemy as sa

from notify_pipelines.core.calendar import retention_cutoff
from notify_pipelines.retention import inbound_sms
from notify_pipelines.retention.cleanup_jobs import delete_inbound_sms
from notify_pipelines_tests import factories as f
from notify_pipelines_tests.retention.cleanup_helpers import (
    bulk_inbound_sms,
    create_inbound_sms,
    inbound_sms_ids,
    run_cleanup,
)
from notify_pipelines_tests.retention.helpers import log_messages

DAY = dt.date(2021, 6, 5)
MICROSECOND = dt.timedelta(microseconds=1)
SECOND = dt.timedelta(seconds=1)


def delete(engine, day=DAY, **kwargs) -> inbound_sms.InboundSmsResult:
    return inbound_sms.delete_inbound_sms_older_than_retention(engine, day, **kwargs)


@pytest.mark.parametrize("day, days, cutoff", [
    (dt.date(2021, 6, 5), 7, dt.datetime(2021, 5, 28, 23, 0)),
    (dt.date(2021, 6, 5), 3, dt.datetime(2021, 6, 1, 23, 0)),
    # The nights of the clock-change days themselves.
    (dt.date(2021, 3, 28), 7, dt.datetime(2021, 3, 21, 0, 0)),
    (dt.date(2021, 10, 31), 7, dt.datetime(2021, 10, 23, 23, 0)),
    (dt.date(2021, 3, 28), 1, dt.datetime(2021, 3, 27, 0, 0)),
    (dt.date(2021, 10, 31), 1, dt.datetime(2021, 10, 29, 23, 0)),
    # Cutoffs at the start and end of the 23-hour day (2021-03-28)...
    (dt.date(2021, 3, 30), 2, dt.datetime(2021, 3, 28, 0, 0)),
    (dt.date(2021, 3, 31), 2, dt.datetime(2021, 3, 28, 23, 0)),
    # ...and of the 25-hour day (2021-10-31).
    (dt.date(2021, 11, 2), 2, dt.datetime(2021, 10, 30, 23, 0)),
    (dt.date(2021, 11, 3), 2, dt.datetime(2021, 11, 1, 0, 0)),
])
def test_cutoff_exactly_kept_a_microsecond_before_deleted(engine, day, days, cutoff):
    assert retention_cutoff(day, days) == cutoff
    with engine.begin() as conn:
        service_id = f.create_service(conn)
        if days != 7:
            f.create_retention(conn, service_id, "sms", days)
        gone = {create_inbound_sms(conn, service_id, cutoff - MICROSECOND),
                create_inbound_sms(conn, service_id, cutoff - SECOND)}
        kept = {create_inbound_sms(conn, service_id, cutoff), create_inbound_sms(conn, service_id, cutoff + SECOND)}
    result = delete(engine, day)
    assert inbound_sms_ids(engine) == kept
    assert result.deleted == len(gone)


def test_each_service_by_its_own_sms_retention(engine):
    with engine.begin() as conn:
        custom = f.create_service(conn)
        f.create_retention(conn, custom, "sms", 30)
        other_type = f.create_service(conn)
        f.create_retention(conn, other_type, "email", 30)  # not SMS: the 7-day default applies
        short = f.create_service(conn)
        f.create_retention(conn, short, "sms", 3)
        ten_days_ago, four_days_ago = dt.datetime(2021, 5, 26, 12), dt.datetime(2021, 6, 1, 12)
        rows = {
            "custom_10": create_inbound_sms(conn, custom, ten_days_ago),
            "other_type_10": create_inbound_sms(conn, other_type, ten_days_ago),
            "other_type_4": create_inbound_sms(conn, other_type, four_days_ago),
            "short_4": create_inbound_sms(conn, short, four_days_ago),
            "short_today": create_inbound_sms(conn, short, dt.datetime(2021, 6, 5, 0, 30)),
        }
    result = delete(engine)
    assert inbound_sms_ids(engine) == {rows["custom_10"], rows["other_type_4"], rows["short_today"]}
    assert sorted((s["service_id"], s["days_of_retention"], s["deleted"]) for s in result.services) == sorted(
        [(str(other_type), 7, 1), (str(short), 3, 1)])


@pytest.mark.parametrize("batch_size", [1, 7, 10_000])
def test_batches_give_the_same_result_and_a_rerun_nothing_more(engine, batch_size):
    with engine.begin() as conn:
        services = [f.create_service(conn) for _ in range(3)]
        f.create_retention(conn, services[0], "sms", 14)
        for service_id in services:
            bulk_inbound_sms(conn, service_id, 20, first=dt.datetime(2021, 5, 10), step="1 day")  # to 29 May
    result = delete(engine, batch_size=batch_size)
    with engine.connect() as conn:
        left = dict(conn.execute(sa.text(
            "SELECT service_id, count(*) FROM inbound_sms GROUP BY service_id")).all())
    # 14 days: received from 22 May kept (8 rows); 7 days: from 29 May (1 row)
    assert left == {services[0]: 8, services[1]: 1, services[2]: 1}
    assert result.deleted == 12 + 19 + 19
    # per service, its full batches then a short (or empty) one
    assert result.batches == sum(deleted // batch_size + 1 for deleted in (12, 19, 19))
    assert delete(engine, batch_size=batch_size).deleted == 0


def test_bad_batch_size(engine):
    with pytest.raises(ValueError, match="batch size must be at least 1"):
        delete(engine, batch_size=0)


def _explain(conn, statement, params) -> str:
    return "\n".join(conn.execute(sa.text("EXPLAIN " + statement.text), params).scalars())


def test_discovery_and_batches_are_index_ranges_per_service(engine):
    with engine.begin() as conn:
        conn.execute(sa.text(
            """
            INSERT INTO services (id, name) SELECT gen_random_uuid(), 'plan ' || g FROM generate_series(1, 300) g;
            INSERT INTO inbound_sms (id, created_at, service_id, notify_number, user_number, provider, content)
                SELECT gen_random_uuid(), TIMESTAMP '2021-06-05' - g * interval '20 minutes', s.id, '07700900001',
                       '447700900123', 'mmg', 'hello'
                FROM services s CROSS JOIN generate_series(1, 600) g;  -- about 8 days each
            ANALYZE;
            """))
        service_id = conn.execute(sa.text("SELECT id FROM services LIMIT 1")).scalar_one()
        discovery = _explain(conn, inbound_sms.SERVICES_WITH_OLD_INBOUND_SMS, {
            "default_cutoff": retention_cutoff(DAY, 7), "custom_ids": [], "custom_cutoffs": []})
        batch = _explain(conn, inbound_sms.DELETE_BATCH, {
            "service_id": service_id, "cutoff": retention_cutoff(DAY, 7), "limit": 10_000})
    assert "Seq Scan on inbound_sms" not in discovery and "Seq Scan on inbound_sms" not in batch
    assert "ix_inbound_sms_service_id_created_at" in discovery, discovery
    assert "Index Cond: ((service_id = s.id) AND (created_at <" in discovery, discovery
    assert "ix_inbound_sms_service_id_created_at" in batch, batch
    assert "Index Cond: ((service_id =" in batch and "AND (created_at <" in batch, batch
    assert "Tid Scan on inbound_sms" in batch, batch  # the DELETE finds the chosen rows by ctid


# ---- The Dagster job ----------------------------------------------------------------------------------------------


def test_the_job_deletes_logs_and_records_counts(engine, resources):
    with engine.begin() as conn:
        service_id = f.create_service(conn)
        bulk_inbound_sms(conn, service_id, 30, first=dt.datetime(2021, 5, 1))
        kept = create_inbound_sms(conn, service_id, dt.datetime(2021, 6, 4))
    instance = dg.DagsterInstance.ephemeral()
    result = run_cleanup(delete_inbound_sms, resources, DAY, instance=instance, batch_size=7)
    assert result.success and inbound_sms_ids(engine) == {kept}
    messages = log_messages(instance, result)
    assert "Deleted 30 inbound sms" in messages
    assert any(m.startswith(f"delete-inbound-sms: service {service_id}: deleted 30 inbound sms") for m in messages)
    [output] = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"]
    metadata = output.event_specific_data.metadata
    assert metadata["deleted"].value == 30 and metadata["batches"].value == 5 and metadata["services_touched"].value == 1
