"""The stuck-letter and stuck-notification sensors on real PostgreSQL and a real HTTP S3 server, with a pinned clock."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest
import sqlalchemy as sa

from notify_pipelines.db import schema
from notify_pipelines.monitoring import queries
from notify_pipelines.monitoring.sensor_state import MonitoringClock
from notify_pipelines.monitoring.sensors import (
    CheckFailed,
    letters_in_technical_failure,
    letters_pending_virus_check,
    letters_pending_virus_check_nightly,
    letters_still_in_created,
)
from notify_pipelines.monitoring.virus_scan import (
    RecordedVirusScanRequests,
    scan_filename,
)
from notify_pipelines.tooling import seed
from notify_pipelines_tests.conftest import TEST_BUCKETS
from notify_pipelines_tests.factories import (
    create_notification,
    create_precompiled_template,
    create_service,
    create_template,
)

NOW = dt.datetime(2021, 6, 15, 12, 0)  # a Tuesday
S = dt.timedelta(seconds=1)


@pytest.fixture
def templates(engine):
    with engine.begin() as conn:
        service = create_service(conn)
        return {
            "letter": create_precompiled_template(conn, service),
            "email": create_template(conn, service, "email"),
            "sms": create_template(conn, service, "sms"),
        }


def tick(sensor, instance, resources, now: dt.datetime, cursor: str | None = None):
    """Evaluate one tick as the daemon does (fresh context: state comes from the instance). Returns the skip
    message, or raises CheckFailed with the tick's message. `cursor` plays an operator setting it in the UI."""
    context = dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={
            **resources,
            "virus_scan": RecordedVirusScanRequests(notify_db=resources["notify_db"]),
            "monitoring_clock": MonitoringClock(fixed_utc=now.isoformat()),
        },
    )
    with context:
        return sensor.evaluate_tick(context).skip_message


def add(engine, template_id, created_at, status, **overrides):
    with engine.begin() as conn:
        notification_id = create_notification(conn, template_id, created_at=created_at, status=status, **overrides)
        row = conn.execute(sa.select(schema.notifications).where(schema.notifications.c.id == notification_id)).one()
    return queries.Letter(row.id, row.reference, row.created_at, row.postage)


def upload_to_scan_bucket(s3_client, letter) -> None:
    s3_client.put_object(Bucket=TEST_BUCKETS.letters_scan, Key=scan_filename(letter), Body=b"%PDF-1.4")


def scan_requests(engine) -> list[tuple]:
    with engine.begin() as conn:
        rows = conn.execute(sa.select(schema.virus_scan_requests).order_by(schema.virus_scan_requests.c.id)).all()
    return [(r.notification_id, r.bucket, r.filename, r.requested_by) for r in rows]


# ---- letters pending virus check ------------------------------------------------------------------------------------


def test_window_edges_10_and_120_minutes(engine, templates, instance, resources, s3_client):
    letter = templates["letter"]
    inside = [
        add(engine, letter, NOW - dt.timedelta(minutes=10) - S, "pending-virus-check"),
        add(engine, letter, NOW - dt.timedelta(minutes=120), "pending-virus-check"),
    ]
    outside = [
        add(engine, letter, NOW - dt.timedelta(minutes=10), "pending-virus-check"),
        add(engine, letter, NOW - dt.timedelta(minutes=120) - S, "pending-virus-check"),
        add(engine, letter, NOW - dt.timedelta(minutes=30), "created"),
    ]
    for each in inside + outside:
        upload_to_scan_bucket(s3_client, each)

    message = tick(letters_pending_virus_check, instance, resources, NOW)

    assert "re-submitted 2 letter(s)" in message
    assert sorted(scan_requests(engine)) == sorted(
        (l.id, TEST_BUCKETS.letters_scan, scan_filename(l), "letters_pending_virus_check") for l in inside
    )
    assert all(r[2].startswith("NOTIFY.REF") and "/" not in r[2] and r[2].endswith(".PDF") for r in scan_requests(engine))


def test_missing_upload_fails_naming_the_letter(engine, templates, instance, resources, s3_client):
    missing = add(engine, templates["letter"], NOW - dt.timedelta(minutes=15), "pending-virus-check")

    with pytest.raises(CheckFailed) as failure:
        tick(letters_pending_virus_check, instance, resources, NOW)

    assert str(missing.id) in str(failure.value) and missing.reference in str(failure.value)
    assert scan_filename(missing) in str(failure.value) and "What to do" in str(failure.value)
    assert scan_requests(engine) == []


def test_mixed_tick_resubmits_found_before_failing_and_second_tick_does_not_act_twice(
    engine, templates, instance, resources, s3_client
):
    letter = templates["letter"]
    found = add(engine, letter, NOW - dt.timedelta(minutes=20), "pending-virus-check")
    missing = add(engine, letter, NOW - dt.timedelta(minutes=25), "pending-virus-check")
    upload_to_scan_bucket(s3_client, found)

    with pytest.raises(CheckFailed) as failure:
        tick(letters_pending_virus_check, instance, resources, NOW)
    assert str(missing.id) in str(failure.value) and str(found.id) not in str(failure.value)
    assert [r[0] for r in scan_requests(engine)] == [found.id]

    # Ten minutes later both are still pending; a new letter has crossed 10 minutes since.
    later = NOW + dt.timedelta(minutes=10)
    newcomer = add(engine, letter, NOW - S, "pending-virus-check")
    upload_to_scan_bucket(s3_client, newcomer)
    message = tick(letters_pending_virus_check, instance, resources, later)

    assert "re-submitted 1 letter(s)" in message
    assert [r[0] for r in scan_requests(engine)] == [found.id, newcomer.id]
    # And a tick at the same moment again finds nothing new.
    tick(letters_pending_virus_check, instance, resources, later)
    assert len(scan_requests(engine)) == 2


def test_nightly_rescans_up_to_3_days_and_reports_3_to_5_days(engine, templates, instance, resources, s3_client):
    letter = templates["letter"]
    night = dt.datetime(2021, 6, 15, 20, 0)
    rescan = [
        add(engine, letter, night - dt.timedelta(minutes=10) - S, "pending-virus-check"),
        add(engine, letter, night - dt.timedelta(days=3), "pending-virus-check"),
    ]
    out_of_retries = [
        add(engine, letter, night - dt.timedelta(days=3) - S, "pending-virus-check"),
        add(engine, letter, night - dt.timedelta(days=5), "pending-virus-check"),
    ]
    too_old = add(engine, letter, night - dt.timedelta(days=5) - S, "pending-virus-check")
    for each in rescan + out_of_retries + [too_old]:
        upload_to_scan_bucket(s3_client, each)

    assert "next check at 2021-06-15 20:00:00" in tick(letters_pending_virus_check_nightly, instance, resources, night - S)
    with pytest.raises(CheckFailed) as failure:
        tick(letters_pending_virus_check_nightly, instance, resources, night)

    assert sorted(r[0] for r in scan_requests(engine)) == sorted(l.id for l in rescan)
    text = str(failure.value)
    assert "maximum number of retries" in text
    assert all(str(l.id) in text for l in out_of_retries) and str(too_old.id) not in text
    # The rest of the evening: checked already, nothing repeated.
    assert "next check at 2021-06-16 20:00:00" in tick(letters_pending_virus_check_nightly, instance, resources, night + dt.timedelta(minutes=15))
    assert len(scan_requests(engine)) == 2


# ---- letters still in created: 17:30 London yesterday ---------------------------------------------------------------


@pytest.mark.parametrize(
    "now, last_counted, first_not_counted",
    [
        # BST: 17:30 London is 16:30 UTC.
        (dt.datetime(2021, 6, 15, 7, 0), dt.datetime(2021, 6, 14, 16, 29, 59), dt.datetime(2021, 6, 14, 16, 30)),
        # GMT: 17:30 London is 17:30 UTC.
        (dt.datetime(2021, 12, 14, 7, 0), dt.datetime(2021, 12, 13, 17, 29, 59), dt.datetime(2021, 12, 13, 17, 30)),
        # Yesterday was the 23-hour day (2021-03-28): its 17:30 is already BST.
        (dt.datetime(2021, 3, 29, 7, 0), dt.datetime(2021, 3, 28, 16, 29, 59), dt.datetime(2021, 3, 28, 16, 30)),
        # Yesterday was the 25-hour day (2021-10-31): its 17:30 is GMT again.
        (dt.datetime(2021, 11, 1, 7, 0), dt.datetime(2021, 10, 31, 17, 29, 59), dt.datetime(2021, 10, 31, 17, 30)),
    ],
)
def test_letters_still_in_created_deadline(engine, templates, instance, resources, now, last_counted, first_not_counted):
    counted = add(engine, templates["letter"], last_counted, "created", key_type="test")
    not_counted = add(engine, templates["letter"], first_not_counted, "created")
    add(engine, templates["letter"], last_counted, "sending")
    add(engine, templates["email"], last_counted, "created")

    with pytest.raises(CheckFailed) as failure:
        tick(letters_still_in_created, instance, resources, now)

    text = str(failure.value)
    assert text.startswith("1 letter(s) were created before 17:30 yesterday")
    assert str(counted.id) in text and str(not_counted.id) not in text


def test_letters_still_in_created_runs_once_on_weekday_mornings(engine, templates, instance, resources):
    add(engine, templates["letter"], dt.datetime(2021, 6, 10, 9, 0), "created")
    saturday = dt.datetime(2021, 6, 19, 8, 0)
    assert "next check at 2021-06-21 07:00:00" in tick(letters_still_in_created, instance, resources, saturday)
    monday = dt.datetime(2021, 6, 21, 7, 0)
    assert "next check at 2021-06-21 07:00:00" in tick(letters_still_in_created, instance, resources, monday - S)
    with pytest.raises(CheckFailed):
        tick(letters_still_in_created, instance, resources, monday)
    later = tick(letters_still_in_created, instance, resources, monday + dt.timedelta(minutes=15))
    assert later == "checked 2021-06-21: 1 found; next check at 2021-06-22 07:00:00 UTC"
    # An operator resets the cursor in the UI: the check runs again at the next tick.
    with pytest.raises(CheckFailed):
        tick(letters_still_in_created, instance, resources, monday + dt.timedelta(minutes=30), cursor="{}")
    with pytest.raises(CheckFailed):
        tick(letters_still_in_created, instance, resources, monday + dt.timedelta(days=1))


# ---- letters in technical failure: the last 3 days ------------------------------------------------------------------


def test_letters_in_technical_failure_last_3_days(engine, templates, instance, resources):
    now = dt.datetime(2021, 6, 15, 7, 0)
    counted = [
        add(engine, templates["letter"], now - dt.timedelta(days=3), "technical-failure"),
        add(engine, templates["letter"], now - S, "technical-failure"),
    ]
    not_counted = [
        add(engine, templates["letter"], now - dt.timedelta(days=3) - S, "technical-failure"),
        add(engine, templates["letter"], now, "technical-failure"),
        add(engine, templates["sms"], now - S, "technical-failure"),
    ]

    with pytest.raises(CheckFailed) as failure:
        tick(letters_in_technical_failure, instance, resources, now)

    text = str(failure.value)
    assert text.startswith("2 letter(s) created in the last 3 days are in 'technical-failure'")
    assert all(str(l.id) in text for l in counted) and not any(str(l.id) in text for l in not_counted)


def test_letters_in_technical_failure_none(engine, templates, instance, resources):
    assert tick(letters_in_technical_failure, instance, resources, dt.datetime(2021, 6, 19, 7, 0)) == "none found"


# ---- every query on the type/status/created_at index ----------------------------------------------------------------


def test_every_sensor_query_uses_the_type_status_index(engine):
    """On seeded data with fresh statistics, as the planner would see a real table (the benchmark does 10M rows).
    The replay sensor's and notifications_stuck_in_created's queries: test_replay.py."""
    seed.generate(engine, days=2, per_day=10_000, services=3, seed=5, start=dt.date(2021, 6, 13))
    now = dt.datetime(2021, 6, 15, 7, 0)
    windows = {
        "pending virus check": (("letter",), "pending-virus-check", queries.Window.of_ages(now, min_age=queries.VIRUS_CHECK_MIN_AGE, max_age=queries.VIRUS_CHECK_MAX_AGE)),
        "nightly": (("letter",), "pending-virus-check", queries.Window.of_ages(now, min_age=queries.VIRUS_CHECK_MIN_AGE, max_age=queries.NIGHTLY_REPORT_MAX_AGE)),
        "still in created": (("letter",), "created", queries.letters_still_in_created_window(now)),
        "technical failure": (("letter",), "technical-failure", queries.letters_in_technical_failure_window(now)),
    }
    with engine.begin() as conn:
        for label, (types, status, window) in windows.items():
            for ntype in types:
                for query in (queries.select_letters(ntype, status, window, 50), queries.select_count(ntype, status, window)):
                    plan = queries.explain(conn, query)
                    assert "Seq Scan on notifications" not in plan, (label, plan)
                    assert "Index" in plan and "Sort" not in plan, (label, plan)
                    if label != "pending virus check":
                        # Days-wide windows need (type, status, created_at); for two hours the planner may
                        # rightly prefer the created_at index.
                        assert "ix_notifications_notification_type_composite" in plan, (label, plan)


def test_s3_errors_other_than_not_found_are_raised(s3_client):
    from botocore.stub import Stubber

    from notify_pipelines.monitoring.virus_scan import file_exists

    assert file_exists(s3_client, TEST_BUCKETS.letters_scan, "NOTIFY.NOPE.D.2.C.20210615120000.PDF") is False
    with Stubber(s3_client) as stub:
        stub.add_client_error("head_object", service_error_code="403", http_status_code=403)
        with pytest.raises(Exception, match="403"):
            file_exists(s3_client, TEST_BUCKETS.letters_scan, "NOTIFY.ANY.D.2.C.20210615120000.PDF")


def test_state_survives_a_failed_tick_and_yields_to_an_operator_cursor(instance):
    from notify_pipelines.monitoring.sensor_state import load_state, save_state

    def context(cursor):
        return dg.build_sensor_context(instance=instance, cursor=cursor)

    first = context(None)
    save_state(first, "s", {"n": 1})
    succeeded_cursor = first.cursor  # the daemon keeps this cursor: the tick succeeded
    second = context(succeeded_cursor)
    assert load_state(second, "s") == {"n": 1}
    save_state(second, "s", {"n": 2})
    save_state(second, "s", {"n": 3})
    # The second tick raised: the daemon keeps the cursor it began with, yet the state is the one saved.
    assert load_state(context(succeeded_cursor), "s") == {"n": 3}
    # An operator sets the cursor in the UI (or clears it): that wins.
    assert load_state(context('{"n": 7}'), "s") == {"n": 7}
