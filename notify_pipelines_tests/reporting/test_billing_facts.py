"""ft_billing for a day: billable rules per type, rates in SQL, the missing-rate failure, PK guard, rebuilds, plans."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from notify_pipelines.db import schema
from notify_pipelines.reporting import billing_facts
from notify_pipelines.reporting.billing_facts import MissingRateError
from notify_pipelines.reporting.fact_build import rebuild
from notify_pipelines_tests import factories as f
from notify_pipelines_tests.reporting.helpers import billing_rows, explain

D = dt.date
T = dt.datetime
DAY = D(2021, 6, 1)
NOON = T(2021, 6, 1, 11)


@pytest.fixture
def service(engine):
    with engine.begin() as conn:
        return f.create_service(conn)


@pytest.fixture
def rates(engine):
    with engine.begin() as conn:
        f.create_rate(conn, valid_from=T(2016, 1, 1), rate=0.0158)
        for post_class in ("first", "second", "europe"):
            for sheets, rate in ((1, 0.30), (2, 0.35), (3, 0.40)):
                f.create_letter_rate(
                    conn, start_date=T(2016, 1, 1), sheet_count=sheets, rate=rate + (0.2 if post_class != "second" else 0),
                    post_class=post_class,
                )


def template(engine, service_id, ntype, **kwargs):
    with engine.begin() as conn:
        return f.create_template(conn, service_id, ntype, **kwargs)


def add(engine, template_id, n=1, *, created_at=NOON, **kwargs):
    with engine.begin() as conn:
        return [f.create_notification(conn, template_id, created_at=created_at, **kwargs) for _ in range(n)]


def sent_by_type(engine, day=DAY):
    out: dict[str, int] = {}
    for row in billing_rows(engine, day):
        out[row[3]] = out.get(row[3], 0) + row[10]
    return out


def test_billable_statuses_per_type(engine, service, rates):
    templates = {t: template(engine, service, t) for t in ("email", "sms", "letter")}
    for tid in templates.values():
        for status in schema.NOTIFICATION_STATUSES:
            add(engine, tid, status=status)

    rebuild(engine, billing_facts.BUILD, DAY)

    # reference test_fetch_billing_data_for_day_bills_correctly_for_status: email 4, letter 3, sms 6
    assert sent_by_type(engine) == {"email": 4, "letter": 3, "sms": 6}


@pytest.mark.parametrize(
    "ntype, billable",
    [
        ("email", {"sending", "delivered", "temporary-failure", "permanent-failure"}),
        ("sms", {"sending", "sent", "delivered", "pending", "temporary-failure", "permanent-failure"}),
        ("letter", {"sending", "delivered", "returned-letter"}),
    ],
)
def test_each_status_alone_is_billed_or_not(engine, service, rates, ntype, billable):
    tid = template(engine, service, ntype)
    for status in schema.NOTIFICATION_STATUSES:
        with engine.begin() as conn:
            conn.execute(sa.delete(schema.notifications))
        add(engine, tid, status=status)
        rebuild(engine, billing_facts.BUILD, DAY)
        assert sent_by_type(engine).get(ntype, 0) == (1 if status in billable else 0), status


def test_providers_multipliers_international_and_postage(engine, service, rates):
    email, sms, letter = (template(engine, service, t) for t in ("email", "sms", "letter"))
    add(engine, email, 2, status="delivered", sent_by="anything")
    add(engine, sms, 2, status="delivered", sent_by="mmg", billable_units=2)
    add(engine, sms, 1, status="sending", sent_by=None, billable_units=1)
    add(engine, sms, 1, status="delivered", sent_by="firetext", rate_multiplier=2, international=True, billable_units=3)
    add(engine, letter, 1, status="delivered", billable_units=2, postage="first")
    add(engine, letter, 1, status="delivered", billable_units=1, postage="europe", international=True)
    add(engine, email, 1, status="delivered", key_type="test")
    add(engine, sms, 1, status="delivered", key_type="team", sent_by="mmg", billable_units=2)

    rebuild(engine, billing_facts.BUILD, DAY)

    assert sorted(r[3:] for r in billing_rows(engine)) == sorted(
        [
            ("email", "ses", 0, False, 0, "none", 0, 2),
            ("sms", "mmg", 1, False, 0.0158, "none", 6, 3),
            ("sms", "unknown", 1, False, 0.0158, "none", 1, 1),
            ("sms", "firetext", 2, True, 0.0158, "none", 3, 1),
            ("letter", "dvla", 1, False, 0.55, "first", 2, 1),
            ("letter", "dvla", 1, True, 0.5, "europe", 1, 1),
        ]
    )


def test_archived_rows_are_billed(engine, service, rates):
    sms = template(engine, service, "sms")
    add(engine, sms, 2, status="delivered")
    add(engine, sms, 3, status="delivered", table=schema.notification_history, international=None)
    rebuild(engine, billing_facts.BUILD, DAY)
    assert sent_by_type(engine) == {"sms": 5}


def test_sms_rate_changes_on_the_london_day_boundary(engine, service):
    sms = template(engine, service, "sms")
    with engine.begin() as conn:
        f.create_rate(conn, valid_from=T(2016, 1, 1), rate=0.01)
        f.create_rate(conn, valid_from=T(2017, 5, 31, 23, 0), rate=0.02)  # London midnight of 2017-06-01 (BST)
        f.create_rate(conn, valid_from=T(2017, 6, 1, 23, 0, 1), rate=0.03)  # one second after 06-02 begins
    for day in (D(2017, 5, 31), D(2017, 6, 1), D(2017, 6, 2)):
        add(engine, sms, created_at=T(day.year, day.month, day.day, 12), status="delivered")
        rebuild(engine, billing_facts.BUILD, day)

    assert [(r[0], r[7]) for r in billing_rows(engine)] == [
        (D(2017, 5, 31), 0.01), (D(2017, 6, 1), 0.02), (D(2017, 6, 2), 0.02)
    ]


def test_letter_rate_by_sheets_postage_and_start_date(engine, service):
    letter = template(engine, service, "letter")
    with engine.begin() as conn:
        for sheets, rate in ((1, 0.30), (2, 0.33)):
            f.create_letter_rate(conn, start_date=T(2016, 1, 1), sheet_count=sheets, rate=rate, post_class="second")
            f.create_letter_rate(conn, start_date=T(2016, 1, 1), sheet_count=sheets, rate=rate + 0.3, post_class="first")
        f.create_letter_rate(conn, start_date=T(2018, 9, 30, 23), sheet_count=1, rate=0.31, post_class="second")
        f.create_letter_rate(conn, start_date=T(2016, 1, 1), sheet_count=1, rate=9.99, crown=False, post_class="second")
    for day in (D(2018, 9, 30), D(2018, 10, 1)):
        moment = T(day.year, day.month, day.day, 12)
        add(engine, letter, created_at=moment, status="delivered", billable_units=1, postage="second")
        add(engine, letter, created_at=moment, status="delivered", billable_units=2, postage="second")
        add(engine, letter, created_at=moment, status="delivered", billable_units=2, postage="first")
        add(engine, letter, created_at=moment, status="delivered", billable_units=0, postage="first")
        rebuild(engine, billing_facts.BUILD, day)

    assert sorted((r[0], r[8], r[7], r[9]) for r in billing_rows(engine)) == sorted(
        [
            (D(2018, 9, 30), "second", 0.30, 1), (D(2018, 9, 30), "second", 0.33, 2),
            (D(2018, 9, 30), "first", 0.63, 2), (D(2018, 9, 30), "first", 0, 0),
            (D(2018, 10, 1), "second", 0.31, 1), (D(2018, 10, 1), "second", 0.33, 2),
            (D(2018, 10, 1), "first", 0.63, 2), (D(2018, 10, 1), "first", 0, 0),
        ]
    )


def test_letter_groups_with_the_same_rate_share_one_row_instead_of_colliding(engine, service):
    letter = template(engine, service, "letter")
    with engine.begin() as conn:
        f.create_letter_rate(conn, start_date=T(2016, 1, 1), sheet_count=1, rate=0.5)
        f.create_letter_rate(conn, start_date=T(2016, 1, 1), sheet_count=2, rate=0.5)
    add(engine, letter, 2, status="delivered", billable_units=1)
    add(engine, letter, 1, status="delivered", billable_units=2)

    rebuild(engine, billing_facts.BUILD, DAY)

    assert [(r[7], r[9], r[10]) for r in billing_rows(engine)] == [(0.5, 4, 3)]


@pytest.mark.parametrize(
    "ntype, overrides, message",
    [
        ("letter", {"billable_units": 4, "postage": "second"}, "no letter rate for 2021-06-01 (postage second, sheets 4)"),
        ("letter", {"billable_units": 1, "postage": "economy"}, "no letter rate for 2021-06-01 (postage economy, sheets 1)"),
    ],
)
def test_a_group_with_no_rate_fails_the_day_and_leaves_the_table_unchanged(engine, service, rates, ntype, overrides, message):
    sms, other = template(engine, service, "sms"), template(engine, service, ntype)
    add(engine, sms, 2, status="delivered")
    rebuild(engine, billing_facts.BUILD, DAY)
    add(engine, sms, 1, status="delivered")  # would change the sms row if anything were written
    add(engine, other, 1, status="delivered", **overrides)
    before = billing_rows(engine)

    with pytest.raises(MissingRateError) as raised:
        rebuild(engine, billing_facts.BUILD, DAY)

    assert message in str(raised.value)
    assert billing_rows(engine) == before


def test_no_sms_rate_yet_names_the_day(engine, service):
    sms = template(engine, service, "sms")
    with engine.begin() as conn:
        f.create_rate(conn, valid_from=T(2021, 6, 1, 23), rate=0.02)  # starts the next London day
    add(engine, sms, status="delivered")
    with pytest.raises(MissingRateError, match=r"no sms rate for 2021-06-01 \(postage none, sheets n/a\)"):
        rebuild(engine, billing_facts.BUILD, DAY)
    assert billing_rows(engine) == []


def test_a_rebuild_gives_exactly_the_billing_of_the_current_data(engine, service, rates):
    sms, letter = template(engine, service, "sms"), template(engine, service, "letter")
    sms_ids = add(engine, sms, 2, status="sending")
    letter_ids = add(engine, letter, 2, status="sending", table=schema.notification_history)
    rebuild(engine, billing_facts.BUILD, DAY)
    assert sent_by_type(engine) == {"sms": 2, "letter": 2}

    with engine.begin() as conn:
        conn.execute(sa.update(schema.notifications).where(schema.notifications.c.id.in_(sms_ids))
                     .values(notification_status="technical-failure"))
        conn.execute(sa.update(schema.notification_history).where(schema.notification_history.c.id == letter_ids[0])
                     .values(notification_status="cancelled"))
    build = rebuild(engine, billing_facts.BUILD, DAY)

    assert sent_by_type(engine) == {"letter": 1}
    assert (build.deleted, build.inserted) == (2, 1)
    assert rebuild(engine, billing_facts.BUILD, DAY).inserted == 1 and sent_by_type(engine) == {"letter": 1}


def test_the_statement_reads_both_tables_through_their_created_at_indexes(engine, service):
    sms = template(engine, service, "sms")
    with engine.begin() as conn:
        for table in ("notifications", "notification_history"):
            to = ', "to"' if table == "notifications" else ""
            value = ", 'x'" if table == "notifications" else ""
            conn.execute(
                sa.text(
                    f"INSERT INTO {table} (id, service_id, template_id, template_version, key_type, notification_type,"
                    f" created_at, notification_status{to})"
                    " SELECT gen_random_uuid(), :service, :template, 1, 'normal', 'sms',"
                    f" timestamp '2021-01-01' + g * interval '17 minutes', 'delivered'{value}"
                    " FROM generate_series(1, 20000) g"
                ),
                {"service": service, "template": sms},
            )
        conn.execute(sa.text("ANALYZE notifications; ANALYZE notification_history"))
        billing_facts.create_missing_rate_function(conn)
        plan = explain(conn, (billing_facts.INSERT_SQL, billing_facts.insert_params(D(2021, 10, 31))))

    assert "Seq Scan on notification" not in plan, plan
    assert "ix_notifications_created_at" in plan and "ix_notification_history_created_at" in plan, plan


def test_two_concurrent_rebuilds_of_one_day_give_the_right_rows(engine, service, rates):
    import threading

    sms = template(engine, service, "sms")
    add(engine, sms, 4, status="delivered")
    add(engine, sms, 2, status="sending", table=schema.notification_history)
    start, errors = threading.Barrier(3), []

    def rebuild_repeatedly():
        start.wait()
        try:
            for _ in range(4):
                rebuild(engine, billing_facts.BUILD, DAY)
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=rebuild_repeatedly) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert sent_by_type(engine) == {"sms": 6} and len(billing_rows(engine)) == 1
