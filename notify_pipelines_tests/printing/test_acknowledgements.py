"""print_files_not_acknowledged: the day's print files (written by the collation) matched to the printer's
acknowledgement files from 23:00 London time on DVLA working days, by name; recovery when the acknowledgement lands;
and the same through Dagster's sensor daemon and the alert forwarder."""

from __future__ import annotations

import datetime as dt
import logging
import time

import dagster as dg
import pytest
from dagster_aws.s3 import S3Resource

from notify_pipelines.core.calendar import london_to_utc
from notify_pipelines.monitoring.alerts import AlertChannel, alert_forwarder
from notify_pipelines.orchestration.resources import LettersPrintBucketResource, PrintAckFilesResource
from notify_pipelines.printing import acknowledgements as acks
from notify_pipelines.printing import sensors as sensors_module
from notify_pipelines.printing.sensors import NAME, PrintFilesNotAcknowledged, print_files_not_acknowledged
from notify_pipelines_tests.conftest import TEST_PRINT_BUCKET, create_database, drop_database
from notify_pipelines_tests.printing.helpers import N, add_letter, collate, letter_rows, letter_template, put_pdfs

D = dt.date
T = dt.datetime
ACK_BUCKET = "test-dvla-response"
PREFIX = "root/dispatch/"


def london(*args) -> dt.datetime:
    return london_to_utc(dt.datetime(*args))


@pytest.mark.parametrize(
    "now, day",
    [
        (london(2021, 6, 15, 22, 59, 59), D(2021, 6, 14)),  # Tuesday before 23:00: Monday's files are owed
        (london(2021, 6, 15, 23, 0), D(2021, 6, 15)),
        (london(2021, 6, 19, 23, 30), D(2021, 6, 18)),  # Saturday: still Friday's
        (london(2021, 6, 21, 22, 59), D(2021, 6, 18)),  # Monday before 23:00
        (london(2021, 5, 31, 23, 0), D(2021, 5, 28)),  # the late May bank holiday: still Friday's
        (london(2021, 6, 1, 23, 0), D(2021, 6, 1)),
        (T(2021, 3, 29, 21, 59, 59), D(2021, 3, 26)),  # the first BST Monday: 23:00 London is 22:00 UTC
        (T(2021, 3, 29, 22, 0), D(2021, 3, 29)),
        (T(2021, 11, 1, 22, 59, 59), D(2021, 10, 29)),  # the first GMT Monday: 23:00 UTC
        (T(2021, 11, 1, 23, 0), D(2021, 11, 1)),
    ],
)
def test_the_working_day_owed_at_a_moment(now, day):
    assert acks.checked_day(now) == day


def test_a_working_day_checks_the_non_working_days_before_it():
    assert acks.print_days(D(2021, 6, 15)) == [D(2021, 6, 15)]
    assert acks.print_days(D(2021, 6, 21)) == [D(2021, 6, 19), D(2021, 6, 20), D(2021, 6, 21)]
    assert acks.print_days(D(2021, 6, 1)) == [D(2021, 5, 29), D(2021, 5, 30), D(2021, 5, 31), D(2021, 6, 1)]


@pytest.fixture
def ack_bucket(s3_client):
    s3_client.create_bucket(Bucket=ACK_BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
    return ACK_BUCKET


def print_day(engine, s3_client, day: dt.date, services: int) -> list[str]:
    """Collate one letter per service created on `day` at 09:00 UTC; the print files' keys."""
    with engine.begin() as conn:
        for _ in range(services):
            add_letter(conn, letter_template(conn), T(day.year, day.month, day.day, 9))
    put_pdfs(s3_client, letter_rows(engine, N.notification_status == "created"))
    result = collate(engine, s3_client, day, now=lambda: T(day.year, day.month, day.day, 20))
    return sorted(f.key for f in result.written)


def acknowledge(s3_client, key: str, *, suffix: str = ".ACK.TXT") -> None:
    name = key.rsplit("/", 1)[1]
    ack = acks.ack_key(PREFIX, name)[: -len(acks.ACK_SUFFIX)] + suffix
    s3_client.put_object(Bucket=ACK_BUCKET, Key=ack, Body=f"{name}|20210615180500".encode())


@pytest.fixture
def tick(s3_endpoint, monkeypatch):
    """One evaluation of the sensor at a UTC moment: its SkipReason, or the exception failing the tick."""
    resources = {
        "s3": S3Resource(endpoint_url=s3_endpoint, region_name="eu-west-2"),
        "letters_print_bucket": LettersPrintBucketResource(name=TEST_PRINT_BUCKET),
        "print_ack_files": PrintAckFilesResource(bucket=ACK_BUCKET, prefix=PREFIX),
    }

    def run(now: dt.datetime):
        monkeypatch.setattr(sensors_module, "utc_now", lambda: now)
        with dg.build_sensor_context(resources=resources) as context:
            try:
                return print_files_not_acknowledged(context)
            except PrintFilesNotAcknowledged as failure:
                return failure

    return run


def test_an_unacknowledged_file_fails_the_tick_by_name_from_23_00_and_recovers_when_its_ack_lands(
        engine, s3_client, ack_bucket, tick):
    keys = print_day(engine, s3_client, D(2021, 6, 15), services=3)
    assert len(keys) == 3 and all(k.startswith("2021-06-15/NOTIFY.2021-06-15.") for k in keys)
    acknowledge(s3_client, keys[0])
    acknowledge(s3_client, keys[1], suffix=".ack.txt")  # any case, as the reference compared them

    before = tick(london(2021, 6, 15, 22, 59, 59))
    assert isinstance(before, dg.SkipReason) and "2021-06-14" in before.skip_message

    failed = tick(london(2021, 6, 15, 23, 0))
    assert isinstance(failed, PrintFilesNotAcknowledged)
    message = str(failed)
    assert message.startswith("1 of 3 print file(s) handed to DVLA for Tue 15 Jun have no acknowledgement file at "
                              "23:00 London time on Tuesday 15 June 2021:\n")
    assert f"  - {keys[2]}\n" in message and keys[0] not in message and keys[1] not in message
    assert isinstance(tick(london(2021, 6, 16, 9, 0)), PrintFilesNotAcknowledged)  # still owed the next morning

    acknowledge(s3_client, keys[2])
    recovered = tick(london(2021, 6, 16, 9, 5))
    assert isinstance(recovered, dg.SkipReason)
    assert recovered.skip_message == ("all 3 print file(s) of 2021-06-15 acknowledged (checked from 23:00 London on "
                                      "2021-06-15)")


def test_a_weekend_file_is_not_checked_on_the_weekend_but_with_monday(engine, s3_client, ack_bucket, tick):
    friday = print_day(engine, s3_client, D(2021, 6, 18), services=1)
    saturday = print_day(engine, s3_client, D(2021, 6, 19), services=1)
    acknowledge(s3_client, friday[0])

    assert isinstance(tick(london(2021, 6, 19, 23, 0)), dg.SkipReason)  # Saturday: Friday's, acknowledged
    assert isinstance(tick(london(2021, 6, 21, 22, 59, 59)), dg.SkipReason)

    failed = tick(london(2021, 6, 21, 23, 0))
    assert isinstance(failed, PrintFilesNotAcknowledged)
    assert str(failed).startswith("1 of 1 print file(s) handed to DVLA for Sat 19 Jun, Sun 20 Jun, Mon 21 Jun")
    assert saturday[0] in str(failed)


def test_manifests_markers_and_other_days_acks_do_not_count(engine, s3_client, ack_bucket, tick):
    keys = print_day(engine, s3_client, D(2021, 6, 15), services=1)
    other = keys[0].replace("2021-06-15", "2021-06-14")  # an acknowledgement of another day's file of the same name
    acknowledge(s3_client, other)
    s3_client.put_object(Bucket=ACK_BUCKET, Key="elsewhere/" + keys[0].rsplit("/", 1)[1][:-4] + ".ACK.TXT", Body=b"")
    failed = tick(london(2021, 6, 15, 23, 0))
    assert isinstance(failed, PrintFilesNotAcknowledged) and "1 of 1 print file(s)" in str(failed)


# ---- through Dagster's sensor daemon and the alert forwarder ---------------------------------------------------------

ack_location = dg.Definitions(
    sensors=[print_files_not_acknowledged],
    resources={
        "s3": S3Resource(endpoint_url=dg.EnvVar("NOTIFY_S3_ENDPOINT_URL"), region_name="eu-west-2"),
        "letters_print_bucket": LettersPrintBucketResource(name=TEST_PRINT_BUCKET),
        "print_ack_files": PrintAckFilesResource(bucket=ACK_BUCKET, prefix=PREFIX),
    },
)


@pytest.fixture
def dagster_instance():
    """A Dagster instance on PostgreSQL, as in every deployment (the forwarder keeps its state in its kvs table)."""
    url = create_database("dagster_test")
    try:
        with dg.instance_for_test(overrides={"storage": {"postgres": {"postgres_url": url}}}) as instance:
            yield instance
    finally:
        drop_database(url)


@pytest.fixture
def sensor_daemon(dagster_instance, s3_endpoint, monkeypatch):
    """One iteration of Dagster's sensor daemon over ack_location, with the sensor's clock at a given moment."""
    from dagster._core.remote_origin import InProcessCodeLocationOrigin
    from dagster._core.test_utils import (
        InProcessTestWorkspaceLoadTarget,
        create_test_daemon_workspace_context,
        freeze_time,
    )
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
    from dagster._daemon.sensor import execute_sensor_iteration

    origin = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(python_file=__file__, attribute="ack_location"), location_name="printing")
    start = time.time()
    with create_test_daemon_workspace_context(InProcessTestWorkspaceLoadTarget(origin), dagster_instance) as workspace:

        def tick(now: dt.datetime, at_second: int) -> None:
            monkeypatch.setattr(sensors_module, "utc_now", lambda: now)
            with freeze_time(start + at_second):  # the daemon's own clock: past the sensor's 5-minute interval
                list(execute_sensor_iteration(workspace, logging.getLogger("test"), None, None))

        yield tick


def test_the_forwarder_alerts_once_naming_the_file_and_recovers_when_the_ack_lands(
        engine, s3_client, ack_bucket, dagster_instance, sensor_daemon, http_recorder):
    channel = AlertChannel(enabled=True, environment="test", ui_base_url="http://dagster.test",
                           webhook_url=http_recorder.url)

    def forward() -> None:
        with dg.build_sensor_context(instance=dagster_instance, resources={"alert_channel": channel}) as context:
            alert_forwarder.evaluate_tick(context)

    keys = print_day(engine, s3_client, D(2021, 6, 15), services=2)
    acknowledge(s3_client, keys[0])
    sensor_daemon(london(2021, 6, 15, 22, 55), 0)
    forward()
    assert http_recorder.requests == []

    sensor_daemon(london(2021, 6, 15, 23, 0), 400)
    sensor_daemon(london(2021, 6, 15, 23, 5), 800)
    forward()
    alerts = [r.json() for r in http_recorder.requests]
    assert [(a["status"], a["kind"], a["name"]) for a in alerts] == [("failure", "sensor", NAME)]
    assert alerts[0]["message"].startswith("1 of 2 print file(s) handed to DVLA for Tue 15 Jun")
    assert f"  - {keys[1]}\n" in alerts[0]["message"] and keys[0] not in alerts[0]["message"]

    acknowledge(s3_client, keys[1])
    sensor_daemon(london(2021, 6, 15, 23, 10), 1200)
    forward()
    recovery = http_recorder.requests[-1].json()
    assert [r.json()["status"] for r in http_recorder.requests] == ["failure", "recovery"]
    assert recovery["message"] == ("Latest tick: all 2 print file(s) of 2021-06-15 acknowledged (checked from 23:00 "
                                   "London on 2021-06-15)")


def test_the_ack_settings(monkeypatch):
    from notify_pipelines.core import settings

    monkeypatch.delenv("NOTIFY_PRINT_ACK_BUCKET", raising=False)
    monkeypatch.delenv("NOTIFY_PRINT_ACK_PREFIX", raising=False)
    assert (settings.print_ack_bucket(), settings.print_ack_prefix()) == ("development-dvla-response", "root/dispatch/")
    monkeypatch.setenv("NOTIFY_PRINT_ACK_BUCKET", "live-dvla-response")
    monkeypatch.setenv("NOTIFY_PRINT_ACK_PREFIX", "/dispatch")
    assert (settings.print_ack_bucket(), settings.print_ack_prefix()) == ("live-dvla-response", "dispatch/")
    monkeypatch.setenv("NOTIFY_PRINT_ACK_PREFIX", "")
    assert settings.print_ack_prefix() == ""
    assert acks.ack_key("dispatch/", "NOTIFY.2021-06-15.2.001.H.S.NONE.ZIP") == "dispatch/NOTIFY.2021-06-15.2.001.H.S.NONE.ACK.TXT"
