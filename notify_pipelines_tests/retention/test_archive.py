"""The batch SQL and the per-service loop on real PostgreSQL: what moves, what stays, what is deleted."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from notify_pipelines.db import schema
from notify_pipelines.retention import archive
from notify_pipelines.retention.service import ServiceCleaner, until_done
from notify_pipelines.retention.work import ServiceWork, TypeCutoff
from notify_pipelines_tests import factories as f
from notify_pipelines_tests.retention.helpers import bulk_notifications, where_is

CUTOFF = dt.datetime(2021, 6, 1, 23, 0)


def cleaner(engine, s3_client, letter_buckets) -> ServiceCleaner:
    return ServiceCleaner(engine, s3_client, letter_buckets)


def work(service_id, ntype="sms", cutoff=CUTOFF, batch_size=50_000, letter_batch_size=5_000) -> ServiceWork:
    return ServiceWork(service_id, (TypeCutoff(ntype, cutoff, 3),), batch_size, letter_batch_size)


@pytest.fixture
def sms(engine):
    with engine.begin() as conn:
        service_id = f.create_service(conn)
        template_id = f.create_template(conn, service_id, "sms")
    return service_id, template_id


def test_strictly_before_the_cutoff_moves_and_at_the_cutoff_stays(engine, sms, s3_client, letter_buckets):
    service_id, template_id = sms
    with engine.begin() as conn:
        before = f.create_notification(conn, template_id, created_at=CUTOFF - dt.timedelta(microseconds=1), status="delivered")
        at = f.create_notification(conn, template_id, created_at=CUTOFF, status="delivered")
    [outcome] = cleaner(engine, s3_client, letter_buckets).clean(work(service_id))
    live, history = where_is(engine)
    assert (live, history) == ({at}, {before})
    assert outcome.archived == 1


def test_only_the_given_service_and_type_move(engine, sms, s3_client, letter_buckets):
    service_id, template_id = sms
    old = CUTOFF - dt.timedelta(days=1)
    with engine.begin() as conn:
        email_template = f.create_template(conn, service_id, "email")
        other_service = f.create_service(conn)
        other_template = f.create_template(conn, other_service, "sms")
        moved = f.create_notification(conn, template_id, created_at=old, status="delivered")
        same_service_email = f.create_notification(conn, email_template, created_at=old, status="delivered")
        other_service_sms = f.create_notification(conn, other_template, created_at=old, status="delivered")
    cleaner(engine, s3_client, letter_buckets).clean(work(service_id))
    live, history = where_is(engine)
    assert history == {moved}
    assert live == {same_service_email, other_service_sms}


def test_history_gets_the_23_columns_unchanged(engine, sms, s3_client, letter_buckets):
    service_id, template_id = sms
    with engine.begin() as conn:
        notification_id = f.create_notification(
            conn, template_id, created_at=CUTOFF - dt.timedelta(hours=1), status="temporary-failure",
            sent_at=CUTOFF, updated_at=CUTOFF, client_reference="abc", phone_prefix="44", rate_multiplier=2,
            international=True, billable_units=3, document_download_count=4, key_type="team",
        )
        before = conn.execute(sa.select(*[schema.notifications.c[c] for c in schema.HISTORY_COLUMNS])).one()
    cleaner(engine, s3_client, letter_buckets).clean(work(service_id))
    with engine.connect() as conn:
        after = conn.execute(sa.select(*[schema.notification_history.c[c] for c in schema.HISTORY_COLUMNS])).one()
    assert after == before and after.id == notification_id


def test_test_keys_are_deleted_not_archived_after_the_real_rows(engine, sms, s3_client, letter_buckets):
    service_id, template_id = sms
    old = CUTOFF - dt.timedelta(days=2)
    with engine.begin() as conn:
        real = [f.create_notification(conn, template_id, created_at=old, key_type=k) for k in ("normal", "team")]
        test = f.create_notification(conn, template_id, created_at=old, key_type="test")
        recent_test = f.create_notification(conn, template_id, created_at=CUTOFF, key_type="test")
    [outcome] = cleaner(engine, s3_client, letter_buckets).clean(work(service_id))
    live, history = where_is(engine)
    assert history == set(real)
    assert live == {recent_test}
    assert test not in history
    assert (outcome.archived, outcome.test_deleted) == (2, 1)


def test_batches_smaller_than_the_data_move_everything_oldest_first(engine, sms):
    service_id, template_id = sms
    with engine.begin() as conn:
        ids = [f.create_notification(conn, template_id, created_at=CUTOFF - dt.timedelta(minutes=m)) for m in range(1, 8)]
    with engine.begin() as conn:
        first = archive.archive_batch(conn, service_id, "sms", CUTOFF, 3)
    live, history = where_is(engine)
    assert first.moved == 3 and history == set(ids[-3:])  # the three oldest
    batches = []

    def one_batch():
        with engine.begin() as conn:
            result = archive.archive_batch(conn, service_id, "sms", CUTOFF, 3)
        batches.append(result.moved)
        return result.moved, result.more_may_remain(3)

    assert until_done(one_batch) == 4
    assert batches == [3, 1]
    assert where_is(engine) == (set(), set(ids))


def test_a_history_row_that_already_exists_keeps_its_values(engine, sms, s3_client, letter_buckets):
    service_id, template_id = sms
    created = CUTOFF - dt.timedelta(days=1)
    with engine.begin() as conn:
        notification_id = f.create_notification(conn, template_id, created_at=created, status="delivered")
        f.create_notification(conn, template_id, created_at=created, status="sending", id=notification_id,
                              table=schema.notification_history)
    [outcome] = cleaner(engine, s3_client, letter_buckets).clean(work(service_id))
    live, history = where_is(engine)
    assert (live, history) == (set(), {notification_id})
    with engine.connect() as conn:
        status = conn.execute(sa.select(schema.notification_history.c.notification_status)).scalar_one()
    assert status == "sending"
    assert (outcome.archived, outcome.already_in_history) == (1, 1)


def test_email_and_sms_move_whatever_their_status(engine, sms, s3_client, letter_buckets):
    service_id, template_id = sms
    with engine.begin() as conn:
        ids = {f.create_notification(conn, template_id, created_at=CUTOFF - dt.timedelta(days=1), status=s)
               for s in ("created", "sending", "pending", "delivered")}
    cleaner(engine, s3_client, letter_buckets).clean(work(service_id))
    assert where_is(engine) == (set(), ids)


def test_letters_not_final_are_kept(engine, s3_client, letter_buckets):
    with engine.begin() as conn:
        service_id = f.create_service(conn)
        template_id = f.create_template(conn, service_id, "letter")
        old = CUTOFF - dt.timedelta(days=1)
        kept = {f.create_notification(conn, template_id, created_at=old, status=s) for s in archive.LETTER_STATUSES_KEPT}
        moved = {f.create_notification(conn, template_id, created_at=old, status=s)
                 for s in ("delivered", "returned-letter", "cancelled", "technical-failure", "virus-scan-failed",
                           "validation-failed", "permanent-failure")}
    [outcome] = cleaner(engine, s3_client, letter_buckets).clean(work(service_id, "letter"))
    assert where_is(engine) == (kept, moved)
    assert outcome.archived == len(moved)


@pytest.fixture
def many_services(engine):
    """Enough services and rows for the planner to choose as it would on a real table."""
    with engine.begin() as conn:
        templates = []
        for _ in range(30):
            service_id = f.create_service(conn)
            templates += [f.create_template(conn, service_id, t) for t in ("sms", "email", "letter")]
        bulk_notifications(conn, templates, 200, first=CUTOFF - dt.timedelta(days=20), step="2 hours")
        conn.execute(sa.text("ANALYZE notifications"))
        return service_id


@pytest.mark.parametrize("statement", ["archive", "test", "letters"])
def test_batches_use_the_service_type_index(engine, many_services, statement):
    batch = archive._oldest_rows(test_keys=statement == "test", letters=statement == "letters",
                                 select="ctid")
    with engine.connect() as conn:
        plan = "\n".join(conn.execute(
            sa.text(f"EXPLAIN {archive._move_to_history(batch).text}"),
            {"service_id": many_services, "notification_type": "sms", "cutoff": CUTOFF, "limit": 50_000},
        ).scalars())
    assert "Seq Scan on notifications" not in plan
    assert "using ix_notifications_service_id_ntype_created_at" in plan or "on ix_notifications_service_id_ntype_created_at" in plan, plan
    assert "Tid Scan on notifications n" in plan, plan


def test_a_row_updated_while_the_batch_waits_for_it_is_moved_by_the_next_batch(engine, sms, s3_client, letter_buckets):
    """A late status callback commits a new version (new ctid) of a chosen row: that batch leaves it, the next
    batch moves it, in its updated form."""
    import threading
    import time

    service_id, template_id = sms
    with engine.begin() as conn:
        ids = [f.create_notification(conn, template_id, created_at=CUTOFF - dt.timedelta(hours=h), status="sending")
               for h in range(1, 4)]
    callback = engine.connect()
    callback.execute(sa.update(schema.notifications).where(schema.notifications.c.id == ids[0])
                     .values(notification_status="delivered"))
    outcomes = []
    worker = threading.Thread(target=lambda: outcomes.extend(cleaner(engine, s3_client, letter_buckets).clean(work(service_id))))
    worker.start()
    with engine.connect() as watcher:
        for _ in range(400):
            if watcher.execute(sa.text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                       "AND wait_event_type = 'Lock'")).scalar():
                break
            watcher.rollback()
            time.sleep(0.025)
        else:
            pytest.fail("the batch never waited for the updated row")
    callback.commit()
    callback.close()
    worker.join(timeout=30)
    assert where_is(engine) == (set(), set(ids))
    assert outcomes[0].archived == 3
    with engine.connect() as conn:
        status = conn.execute(sa.select(schema.notification_history.c.notification_status)
                              .where(schema.notification_history.c.id == ids[0])).scalar_one()
    assert status == "delivered"


@pytest.mark.parametrize("test_keys", [False, True])
def test_removing_chosen_letters_finds_them_by_primary_key(engine, many_services, test_keys):
    with engine.connect() as conn:
        letters = archive.choose_letters(conn, many_services, CUTOFF, 5_000, test_keys=False)
        statement = archive._delete if test_keys else archive._move_to_history
        plan = "\n".join(conn.execute(
            sa.text(f"EXPLAIN {statement(archive._still_chosen(test_keys=test_keys)).text}"),
            archive._chosen_params(many_services, CUTOFF, letters),
        ).scalars())
    assert letters
    assert "Seq Scan on notifications" not in plan, plan
    assert "notifications_pkey" in plan, plan
    assert "Tid Scan on notifications n" in plan, plan
