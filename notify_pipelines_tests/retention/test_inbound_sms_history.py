"""delete_inbound_sms keeps each deleted message in inbound_sms_history (without content and user_number), in the
same transaction as the delete (reference §3.7, `_insert_inbound_sms_history`)."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from notify_pipelines.core.calendar import retention_cutoff
from notify_pipelines.db import schema
from notify_pipelines.retention import inbound_sms
from notify_pipelines_tests import factories as f
from notify_pipelines_tests.retention.cleanup_helpers import create_inbound_sms, inbound_sms_ids

DAY = dt.date(2021, 6, 5)
CUTOFF = retention_cutoff(DAY, 7)
SECOND = dt.timedelta(seconds=1)


def history(engine) -> dict:
    with engine.connect() as conn:
        return {row.id: row._asdict() for row in conn.execute(sa.select(schema.inbound_sms_history))}


def test_the_history_has_the_inbound_sms_columns_but_content_and_user_number():
    inbound = {c.name for c in schema.inbound_sms.columns}
    assert {c.name for c in schema.inbound_sms_history.columns} == inbound - {"content", "user_number"}


def test_each_deleted_message_is_in_the_history_with_its_values_and_the_kept_ones_are_not(engine):
    with engine.begin() as conn:
        service_id = f.create_service(conn)
        gone = {create_inbound_sms(conn, service_id, CUTOFF - SECOND * n) for n in range(1, 6)}
        kept = {create_inbound_sms(conn, service_id, CUTOFF), create_inbound_sms(conn, service_id, CUTOFF + SECOND)}
        conn.execute(sa.update(schema.inbound_sms).values(provider_date=dt.datetime(2021, 5, 1, 9),
                                                          provider_reference="ref-1", provider="firetext"))
        before = {r.id: r._asdict() for r in conn.execute(sa.select(schema.inbound_sms))}

    result = inbound_sms.delete_inbound_sms_older_than_retention(engine, DAY, batch_size=2)

    assert result.deleted == 5 and result.batches == 3
    assert inbound_sms_ids(engine) == kept
    archived = history(engine)
    assert set(archived) == gone
    for sms_id, row in archived.items():
        expected = {k: v for k, v in before[sms_id].items() if k not in ("content", "user_number")}
        assert row == expected


def test_a_rerun_copies_nothing_twice_and_an_already_archived_id_does_not_stop_the_delete(engine):
    with engine.begin() as conn:
        service_id = f.create_service(conn)
        restored = create_inbound_sms(conn, service_id, CUTOFF - SECOND)
        other = create_inbound_sms(conn, service_id, CUTOFF - 2 * SECOND)
        # A message restored after it was archived once: its history row exists already.
        conn.execute(sa.text(f"INSERT INTO inbound_sms_history ({inbound_sms.HISTORY_COLUMNS}) "
                             f"SELECT {inbound_sms.HISTORY_COLUMNS} FROM inbound_sms WHERE id = :id"), {"id": restored})
    assert inbound_sms.delete_inbound_sms_older_than_retention(engine, DAY).deleted == 2
    assert inbound_sms.delete_inbound_sms_older_than_retention(engine, DAY).deleted == 0
    assert inbound_sms_ids(engine) == set()
    assert set(history(engine)) == {restored, other}


def test_a_failure_writing_the_history_leaves_both_tables_unchanged(engine):
    """The copy and the delete are one statement: make the copy fail for one row of a batch, and the batch's messages
    all stay in inbound_sms and none reach the history; the batches committed before it stay done."""
    with engine.begin() as conn:
        service_id = f.create_service(conn)
        first = [create_inbound_sms(conn, service_id, CUTOFF - SECOND * (10 - n)) for n in range(2)]  # oldest two
        poisoned = create_inbound_sms(conn, service_id, CUTOFF - SECOND * 3)
        rest = create_inbound_sms(conn, service_id, CUTOFF - SECOND * 2)
        conn.execute(sa.text("""
            CREATE FUNCTION refuse_poisoned() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.id = '%s' THEN RAISE EXCEPTION 'history write failed'; END IF;
                RETURN NEW;
            END $$;
            CREATE TRIGGER refuse_poisoned BEFORE INSERT ON inbound_sms_history
                FOR EACH ROW EXECUTE FUNCTION refuse_poisoned();
        """ % poisoned))
    try:
        with pytest.raises(sa.exc.DBAPIError, match="history write failed"):
            inbound_sms.delete_inbound_sms_older_than_retention(engine, DAY, batch_size=2)
        assert inbound_sms_ids(engine) == {poisoned, rest}
        assert set(history(engine)) == set(first)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("DROP TRIGGER refuse_poisoned ON inbound_sms_history; DROP FUNCTION refuse_poisoned()"))

    inbound_sms.delete_inbound_sms_older_than_retention(engine, DAY, batch_size=2)
    assert inbound_sms_ids(engine) == set()
    assert set(history(engine)) == {*first, poisoned, rest}
