"""ft_notification_status for a day: London windows, key types, jobs, archive, rebuilds, concurrency and plans."""

from __future__ import annotations

import datetime as dt
import threading
import uuid

import pytest
import sqlalchemy as sa

from notify_pipelines.db import schema
from notify_pipelines.reporting import status_facts
from notify_pipelines.reporting.fact_build import rebuild
from notify_pipelines_tests import factories as f
from notify_pipelines_tests.reporting.helpers import (
    counts_by_date,
    explain,
    status_rows,
)

D = dt.date
T = dt.datetime
ZERO_JOB = uuid.UUID(schema.NO_JOB_ID)


@pytest.fixture
def sms(engine):
    with engine.begin() as conn:
        service = f.create_service(conn)
        return f.create_template(conn, service, "sms")


def add(engine, template_id, *moments, **kwargs):
    with engine.begin() as conn:
        return [f.create_notification(conn, template_id, created_at=m, **kwargs) for m in moments]


@pytest.mark.parametrize(
    "moments, expected",
    [
        # 2021-03-28 is 23 h: [03-28 00:00 UTC, 03-28 23:00 UTC)
        (
            [T(2021, 3, 27, 23, 59, 59), T(2021, 3, 28, 0, 0), T(2021, 3, 28, 0, 59, 59), T(2021, 3, 28, 1, 0),
             T(2021, 3, 28, 22, 59, 59), T(2021, 3, 28, 23, 0), T(2021, 3, 28, 23, 0, 1)],
            {D(2021, 3, 27): 1, D(2021, 3, 28): 4, D(2021, 3, 29): 2},
        ),
        # 2021-10-31 is 25 h: [10-30 23:00 UTC, 11-01 00:00 UTC)
        (
            [T(2021, 10, 30, 22, 59, 59), T(2021, 10, 30, 23, 0), T(2021, 10, 31, 0, 59, 59), T(2021, 10, 31, 1, 0),
             T(2021, 10, 31, 23, 59, 59), T(2021, 11, 1, 0, 0), T(2021, 11, 1, 0, 0, 1)],
            {D(2021, 10, 30): 1, D(2021, 10, 31): 4, D(2021, 11, 1): 2},
        ),
    ],
    ids=["spring-forward-23h", "fall-back-25h"],
)
def test_clock_change_days_and_the_minutes_around_midnight(engine, sms, moments, expected):
    add(engine, sms, *moments, status="delivered")
    for day in expected:
        rebuild(engine, status_facts.BUILD, day)
    assert counts_by_date(engine) == expected


def test_test_keys_are_left_out_and_team_keys_kept(engine, sms):
    moment = T(2021, 6, 1, 12)
    add(engine, sms, moment, moment, key_type="normal", status="delivered")
    add(engine, sms, moment, key_type="team", status="delivered")
    add(engine, sms, moment, moment, moment, key_type="test", status="delivered")
    add(engine, sms, moment, key_type="test", status="delivered", table=schema.notification_history)

    rebuild(engine, status_facts.BUILD, D(2021, 6, 1))

    rows = status_rows(engine)
    assert [(r[5], r[7]) for r in rows] == [("normal", 2), ("team", 1)]


def test_notifications_without_a_job_use_the_all_zeros_job_id(engine, sms):
    moment = T(2021, 6, 1, 12)
    with engine.begin() as conn:
        job = f.create_job(conn, sms, created_at=moment)
    add(engine, sms, moment, moment, job_id=job, status="delivered")
    add(engine, sms, moment, status="delivered")
    add(engine, sms, moment, status="delivered", table=schema.notification_history)

    rebuild(engine, status_facts.BUILD, D(2021, 6, 1))

    assert sorted((r[3], r[7]) for r in status_rows(engine)) == sorted([(job, 2), (ZERO_JOB, 2)])


def test_every_status_and_type_is_counted_with_the_constants_in_place(engine):
    moment = T(2021, 6, 1, 12)
    with engine.begin() as conn:
        service = f.create_service(conn)
        templates = {t: f.create_template(conn, service, t) for t in ("email", "sms", "letter")}
        for template in templates.values():
            for status in schema.NOTIFICATION_STATUSES:
                f.create_notification(conn, template, created_at=moment, status=status)

    build = rebuild(engine, status_facts.BUILD, D(2021, 6, 1))

    rows = status_rows(engine)
    assert len(rows) == build.inserted == 3 * len(schema.NOTIFICATION_STATUSES)
    assert {(r[0], r[2], r[7]) for r in rows} == {(D(2021, 6, 1), service, 1)}
    assert build.per_type == {t: (14, 14) for t in ("email", "sms", "letter")}


def test_rows_already_archived_to_history_are_counted(engine, sms):
    moment = T(2021, 6, 1, 12)
    add(engine, sms, moment, status="delivered")
    add(engine, sms, moment, moment, status="delivered", table=schema.notification_history)
    add(engine, sms, moment, status="permanent-failure", table=schema.notification_history)

    rebuild(engine, status_facts.BUILD, D(2021, 6, 1))

    assert [(r[6], r[7]) for r in status_rows(engine)] == [("delivered", 3), ("permanent-failure", 1)]


@pytest.mark.parametrize("table", [schema.notifications, schema.notification_history], ids=lambda t: t.name)
def test_a_rebuild_after_statuses_change_leaves_no_stale_rows(engine, sms, table):
    moment = T(2021, 6, 1, 12)
    ids = add(engine, sms, moment, moment, status="sending", table=table)
    rebuild(engine, status_facts.BUILD, D(2021, 6, 1))
    assert [(r[6], r[7]) for r in status_rows(engine)] == [("sending", 2)]

    with engine.begin() as conn:
        conn.execute(sa.update(table).where(table.c.id.in_(ids)).values(notification_status="delivered"))
    build = rebuild(engine, status_facts.BUILD, D(2021, 6, 1))

    assert [(r[6], r[7]) for r in status_rows(engine)] == [("delivered", 2)]
    assert (build.deleted, build.inserted) == (1, 1)


def test_rebuilding_is_idempotent_and_touches_only_its_day(engine, sms):
    add(engine, sms, T(2021, 6, 1, 12), T(2021, 6, 2, 12), status="delivered")
    rebuild(engine, status_facts.BUILD, D(2021, 6, 1))
    rebuild(engine, status_facts.BUILD, D(2021, 6, 2))
    before = status_rows(engine)

    with engine.begin() as conn:  # a day with no data any more empties, its neighbours stay
        conn.execute(sa.delete(schema.notifications).where(schema.notifications.c.created_at < T(2021, 6, 2)))
    rebuild(engine, status_facts.BUILD, D(2021, 6, 2))
    assert status_rows(engine) == before
    rebuild(engine, status_facts.BUILD, D(2021, 6, 1))
    assert status_rows(engine) == [r for r in before if r[0] == D(2021, 6, 2)]


def test_a_letters_only_rebuild_keeps_the_other_types(engine):
    moment = T(2021, 6, 1, 12)
    with engine.begin() as conn:
        service = f.create_service(conn)
        sms = f.create_template(conn, service, "sms")
        letter = f.create_template(conn, service, "letter")
    add(engine, sms, moment, status="sending")
    letter_ids = add(engine, letter, moment, status="sending")
    rebuild(engine, status_facts.BUILD, D(2021, 6, 1))

    with engine.begin() as conn:
        for table in schema.SOURCE_TABLES:
            conn.execute(sa.update(table).values(notification_status="delivered"))
    build = rebuild(engine, status_facts.BUILD, D(2021, 6, 1), types=("letter",))

    assert sorted((r[4], r[6]) for r in status_rows(engine)) == [("letter", "delivered"), ("sms", "sending")]
    assert (build.deleted, build.inserted) == (1, 1) and letter_ids


def test_unknown_types_are_refused_before_anything_changes(engine, sms):
    with pytest.raises(ValueError, match="notification types"):
        rebuild(engine, status_facts.BUILD, D(2021, 6, 1), types=("fax",))


def test_two_concurrent_rebuilds_of_one_day_give_the_right_rows(engine, sms):
    moment = T(2021, 6, 1, 12)
    add(engine, sms, *[moment] * 5, status="delivered")
    add(engine, sms, *[moment] * 3, status="sending", table=schema.notification_history)
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def rebuild_repeatedly():
        start.wait()
        try:
            for _ in range(5):
                rebuild(engine, status_facts.BUILD, D(2021, 6, 1))
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=rebuild_repeatedly) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert [(r[6], r[7]) for r in status_rows(engine)] == [("delivered", 5), ("sending", 3)]


def test_the_statement_reads_both_tables_through_their_created_at_indexes(engine, sms):
    # Enough rows over enough days for the planner to prefer the index, as it does on real volumes.
    with engine.begin() as conn:
        template = conn.execute(sa.select(schema.templates).where(schema.templates.c.id == sms)).one()
        for table in schema.SOURCE_TABLES:
            extra = ", 'x'" if table is schema.notifications else ""
            to = ", \"to\"" if table is schema.notifications else ""
            conn.execute(
                sa.text(
                    f"INSERT INTO {table.name} (id, service_id, template_id, template_version, key_type,"
                    f" notification_type, created_at, notification_status{to})"
                    " SELECT gen_random_uuid(), :service, :template, 1, 'normal', 'sms',"
                    f" timestamp '2021-01-01' + g * interval '17 minutes', 'delivered'{extra}"
                    " FROM generate_series(1, 20000) g"
                ),
                {"service": template.service_id, "template": sms},
            )
        conn.execute(sa.text("ANALYZE notifications; ANALYZE notification_history"))
        plan = explain(conn, status_facts.insert_statement(D(2021, 3, 28)))

    assert "Seq Scan" not in plan, plan
    assert "ix_notifications_created_at" in plan and "ix_notification_history_created_at" in plan, plan
