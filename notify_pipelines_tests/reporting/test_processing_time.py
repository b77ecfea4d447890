"""ft_processing_time for a London day: API email/SMS only, the 10-second edge, both clock changes, history rows."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from notify_pipelines.db import schema
from notify_pipelines.reporting import processing_time
from notify_pipelines.reporting.fact_build import rebuild
from notify_pipelines_tests import factories as f
from notify_pipelines_tests.reporting.helpers import explain

D = dt.date
T = dt.datetime
S = dt.timedelta(seconds=1)


@pytest.fixture
def setup(engine):
    """A service with a template of each type, a normal, a team and a test key."""
    with engine.begin() as conn:
        service = f.create_service(conn)
        templates = {t: f.create_template(conn, service, t) for t in ("email", "sms", "letter")}
        keys = {k: f.create_api_key(conn, service, k) for k in ("normal", "team", "test")}
    return templates, keys


def add(engine, setup, created_at, *, ntype="sms", key="normal", after=S, table=schema.notifications, api=True):
    templates, keys = setup
    with engine.begin() as conn:
        f.create_notification(
            conn, templates[ntype], created_at=created_at, status="delivered", key_type=key, table=table,
            api_key_id=keys[key] if api else None, sent_at=None if after is None else created_at + after,
        )


def fact(engine, day) -> tuple[int, int] | None:
    t = schema.ft_processing_time
    with engine.connect() as conn:
        row = conn.execute(sa.select(t.c.messages_total, t.c.messages_within_10_secs).where(t.c.bst_date == day)).first()
    return tuple(row) if row else None


def test_exactly_ten_seconds_counts_and_ten_point_zero_zero_one_does_not(engine, setup):
    noon = T(2021, 6, 1, 11)
    add(engine, setup, noon, after=dt.timedelta(seconds=10))
    add(engine, setup, noon, after=dt.timedelta(seconds=10, milliseconds=1))
    add(engine, setup, noon, ntype="email", after=dt.timedelta(seconds=2))
    add(engine, setup, noon, after=None)  # never sent: in the total, not within 10 s

    build = rebuild(engine, processing_time.BUILD, D(2021, 6, 1))

    assert fact(engine, D(2021, 6, 1)) == (4, 2)
    assert (build.inserted, build.row_count, build.notifications, build.extra) == (1, 1, 4, {"messages_within_10_secs": 2})


def test_letters_test_keys_and_csv_jobs_are_out_team_keys_and_history_rows_are_in(engine, setup):
    noon = T(2021, 6, 1, 11)
    add(engine, setup, noon, ntype="letter")
    add(engine, setup, noon, key="test")
    add(engine, setup, noon, api=False)  # a CSV job's notification: no api_key_id
    add(engine, setup, noon, key="team")
    add(engine, setup, noon, ntype="email", table=schema.notification_history, after=dt.timedelta(seconds=30))
    add(engine, setup, noon, table=schema.notification_history)

    rebuild(engine, processing_time.BUILD, D(2021, 6, 1))

    assert fact(engine, D(2021, 6, 1)) == (3, 2)


@pytest.mark.parametrize(
    "day, start, end",
    [
        (D(2021, 3, 28), T(2021, 3, 28, 0), T(2021, 3, 28, 23)),  # 23 hours: GMT midnight to BST midnight
        (D(2021, 10, 31), T(2021, 10, 30, 23), T(2021, 11, 1, 0)),  # 25 hours: BST midnight to GMT midnight
    ],
)
def test_the_london_day_on_both_clock_changes(engine, setup, day, start, end):
    for moment in (start - S, start, end - S, end):
        add(engine, setup, moment)

    for d in (day - dt.timedelta(days=1), day, day + dt.timedelta(days=1)):
        rebuild(engine, processing_time.BUILD, d)

    assert fact(engine, day) == (2, 2)  # start and the last second, not the second before or the next midnight
    assert fact(engine, day - dt.timedelta(days=1)) == (1, 1)
    assert fact(engine, day + dt.timedelta(days=1)) == (1, 1)


def test_a_day_without_messages_has_a_row_of_zeros_and_a_rebuild_replaces_the_row(engine, setup):
    day = D(2021, 6, 1)
    rebuild(engine, processing_time.BUILD, day)
    assert fact(engine, day) == (0, 0)
    add(engine, setup, T(2021, 6, 1, 9))
    build = rebuild(engine, processing_time.BUILD, day)
    assert (build.deleted, build.inserted) == (1, 1) and fact(engine, day) == (1, 1)


def test_the_statement_reads_both_tables_through_their_created_at_indexes(engine, setup):
    templates, keys = setup
    with engine.begin() as conn:
        for table in ("notifications", "notification_history"):
            to, value = (', "to"', ", 'x'") if table == "notifications" else ("", "")
            conn.execute(
                sa.text(
                    f"INSERT INTO {table} (id, service_id, template_id, template_version, key_type, notification_type,"
                    f" created_at, sent_at, api_key_id, notification_status{to})"
                    " SELECT gen_random_uuid(), t.service_id, t.id, 1, 'normal', 'sms',"
                    " timestamp '2021-01-01' + g * interval '17 minutes',"
                    f" timestamp '2021-01-01' + g * interval '17 minutes' + interval '3 seconds', :key, 'delivered'{value}"
                    " FROM generate_series(1, 20000) g, templates t WHERE t.id = :template"
                ),
                {"template": templates["sms"], "key": keys["normal"]},
            )
        conn.execute(sa.text("ANALYZE notifications; ANALYZE notification_history"))
        plan = explain(conn, (processing_time.INSERT_SQL, processing_time.insert_params(D(2021, 3, 28))))

    assert "Seq Scan on notification" not in plan, plan
    assert "ix_notifications_created_at" in plan and "ix_notification_history_created_at" in plan, plan
