"""ft_billing_letter_despatch for a day: grouped and priced, history rows in, stale rows gone, missing rate, plans."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from notify_pipelines.db import schema
from notify_pipelines.reporting import letter_despatch
from notify_pipelines.reporting.fact_build import rebuild
from notify_pipelines.reporting.rates import (
    MissingRateError,
    create_missing_rate_function,
)
from notify_pipelines_tests import factories as f
from notify_pipelines_tests.reporting.helpers import explain

D = dt.date
T = dt.datetime
DAY = D(2021, 6, 2)


@pytest.fixture
def letters(engine):
    """Letter templates (first and second class) and letter rates from 2016 (first class 0.20 dearer)."""
    with engine.begin() as conn:
        service = f.create_service(conn)
        templates = {p: f.create_template(conn, service, "letter", postage=p) for p in ("first", "second")}
        for post_class in ("first", "second"):
            for sheets, rate in ((1, 0.30), (2, 0.35), (3, 0.40)):
                f.create_letter_rate(conn, start_date=T(2016, 1, 1), sheet_count=sheets,
                                     rate=round(rate + (0.2 if post_class == "first" else 0), 2), post_class=post_class)
    return templates


def despatch(engine, templates, postage, *, sheets=1, threshold="unsorted", on=DAY, n=1,
             table=schema.notifications):
    with engine.begin() as conn:
        for _ in range(n):
            nid = f.create_notification(conn, templates[postage], created_at=T(2021, 6, 1, 10), status="delivered",
                                        billable_units=sheets, table=table)
            conn.execute(sa.insert(schema.notifications_letter_despatch).values(
                notification_id=nid, despatched_on=on, cost_threshold=threshold))


def rows(engine, day=DAY) -> list[tuple]:
    t = schema.ft_billing_letter_despatch
    with engine.connect() as conn:
        return sorted(tuple(r) for r in conn.execute(
            sa.select(t.c.postage, t.c.billable_units, t.c.cost_threshold, t.c.rate, t.c.notifications_sent)
            .where(t.c.bst_date == day)))


def test_letters_are_grouped_by_postage_sheets_and_threshold_and_priced(engine, letters):
    despatch(engine, letters, "second", n=3)
    despatch(engine, letters, "second", n=2, table=schema.notification_history)
    despatch(engine, letters, "second", sheets=2, threshold="sorted")
    despatch(engine, letters, "first", sheets=3, n=2, table=schema.notification_history)
    despatch(engine, letters, "first", on=DAY + dt.timedelta(days=1))  # another day

    build = rebuild(engine, letter_despatch.BUILD, DAY)

    assert rows(engine) == [
        ("first", 3, "unsorted", 0.60, 2),
        ("second", 1, "unsorted", 0.30, 5),
        ("second", 2, "sorted", 0.35, 1),
    ]
    assert (build.inserted, build.row_count, build.notifications) == (3, 3, 8)


def test_a_rebuild_removes_groups_that_no_longer_exist(engine, letters):
    despatch(engine, letters, "second")
    despatch(engine, letters, "first", sheets=2)
    rebuild(engine, letter_despatch.BUILD, DAY)
    with engine.begin() as conn:
        d, n = schema.notifications_letter_despatch, schema.notifications
        first = sa.select(n.c.id).where(n.c.postage == "first").scalar_subquery()
        conn.execute(sa.update(d).where(d.c.notification_id == first).values(despatched_on=DAY + dt.timedelta(days=1)))

    build = rebuild(engine, letter_despatch.BUILD, DAY)

    assert (build.deleted, build.inserted) == (2, 1)
    assert rows(engine) == [("second", 1, "unsorted", 0.30, 1)]


def test_the_rate_is_the_one_in_force_at_london_midnight_of_the_despatch_day(engine, letters):
    with engine.begin() as conn:  # reference: a rate starting 2018-09-30 23:00 applies to 2018-10-01, not 09-30
        f.create_letter_rate(conn, start_date=T(2018, 9, 30, 23), sheet_count=1, rate=0.55, post_class="second")
    despatch(engine, letters, "second", on=D(2018, 9, 30))
    despatch(engine, letters, "second", on=D(2018, 10, 1))
    for day in (D(2018, 9, 30), D(2018, 10, 1)):
        rebuild(engine, letter_despatch.BUILD, day)
    assert rows(engine, D(2018, 9, 30))[0][3] == 0.30 and rows(engine, D(2018, 10, 1))[0][3] == 0.55


def test_a_missing_rate_fails_the_day_and_writes_nothing(engine, letters):
    despatch(engine, letters, "second")
    rebuild(engine, letter_despatch.BUILD, DAY)
    before = rows(engine)
    despatch(engine, letters, "second", sheets=5)  # no 5-sheet rate

    with pytest.raises(MissingRateError, match=r"no letter rate for 2021-06-02 \(postage second, sheets 5\)"):
        rebuild(engine, letter_despatch.BUILD, DAY)

    assert rows(engine) == before  # the day's delete was rolled back with the insert


def test_a_day_without_despatches_is_empty(engine, letters):
    build = rebuild(engine, letter_despatch.BUILD, DAY)
    assert (build.inserted, build.row_count, build.notifications) == (0, 0, 0) and rows(engine) == []


def test_the_statement_uses_the_despatch_date_index_and_both_primary_keys(engine, letters):
    with engine.begin() as conn:
        template = letters["second"]
        for table in ("notifications", "notification_history"):
            to, value = (', "to"', ", 'x'") if table == "notifications" else ("", "")
            conn.execute(sa.text(
                f"INSERT INTO {table} (id, service_id, template_id, template_version, key_type, notification_type,"
                f" created_at, billable_units, postage, notification_status{to})"
                " SELECT gen_random_uuid(), t.service_id, t.id, 1, 'normal', 'letter',"
                f" timestamp '2021-01-01' + g * interval '17 minutes', 1, 'second', 'delivered'{value}"
                " FROM generate_series(1, 20000) g, templates t WHERE t.id = :template"), {"template": template})
            conn.execute(sa.text(
                "INSERT INTO notifications_letter_despatch (notification_id, despatched_on, cost_threshold)"
                f" SELECT id, date '2019-01-01' + abs(hashtext(id::text)) % 1000, 'unsorted' FROM {table}"))
        # a day's despatches are a small part of the tables (20 of 40,000 here), as in production
        conn.execute(sa.text("ANALYZE notifications; ANALYZE notification_history; "
                             "ANALYZE notifications_letter_despatch"))
        create_missing_rate_function(conn)
        plan = explain(conn, (letter_despatch.INSERT_SQL, letter_despatch.insert_params(D(2021, 3, 28))))

    assert "Seq Scan" not in plan, plan
    for index in ("ix_notifications_letter_despatch_despatched_on", "notifications_pkey", "notification_history_pkey"):
        assert index in plan, plan
