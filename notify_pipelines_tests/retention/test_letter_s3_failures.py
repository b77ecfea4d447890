"""Letters whose PDFs S3 would not delete stay in `notifications`, the step fails naming them, and a later run
finishes the job; no transaction is open while S3 is called, and a letter that changed meanwhile is not archived."""

from __future__ import annotations

import datetime as dt
import socket
import time
import uuid

import dagster as dg
import pytest
import sqlalchemy as sa
from dagster_aws.s3 import S3Resource

from notify_pipelines.core.letters import letter_pdf_filename
from notify_pipelines.db import schema
from notify_pipelines.monitoring.alerts import run_alerts
from notify_pipelines.orchestration.resources import LetterBucketsResource
from notify_pipelines.retention.letter_files import LOOKUP_THREADS
from notify_pipelines.retention.s3_client import retention_s3_client
from notify_pipelines.retention.service import ServiceCleaner
from notify_pipelines.retention.work import ServiceWork, TypeCutoff
from notify_pipelines_tests import factories as f
from notify_pipelines_tests.kill_points import transactions_left_open
from notify_pipelines_tests.retention.helpers import (
    bulk_notifications,
    run_retention,
    where_is,
)

DAY = dt.date(2021, 6, 5)  # default cutoff 2021-05-28 23:00 UTC
CUTOFF = dt.datetime(2021, 5, 28, 23, 0)
CREATED = dt.datetime(2021, 5, 20, 12, 0)


def closed_port() -> int:
    """A loopback port nothing listens on: connections are refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def unreachable_s3() -> S3Resource:
    return S3Resource(endpoint_url=f"http://127.0.0.1:{closed_port()}", region_name="eu-west-2")


def keys(s3_client, bucket: str) -> set[str]:
    return {o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket).get("Contents", [])}


@pytest.fixture
def service(engine):
    with engine.begin() as conn:
        service_id = f.create_service(conn)
        return service_id, f.create_template(conn, service_id, "letter"), f.create_template(conn, service_id, "sms")


def letter_with_pdf(engine, s3_client, buckets, template_id, *, status="delivered", key_type="normal",
                    created_at=CREATED) -> tuple[uuid.UUID, str, str]:
    """A letter and its PDF where retention looks for it: (id, bucket, key)."""
    with engine.begin() as conn:
        notification_id = f.create_notification(conn, template_id, created_at=created_at, status=status,
                                                key_type=key_type)
        reference = conn.execute(sa.select(schema.notifications.c.reference)
                                 .where(schema.notifications.c.id == notification_id)).scalar_one()
    test_key = key_type == "test"
    bucket = buckets.test_letters if test_key else buckets.letters_pdf
    key = letter_pdf_filename(reference, created_at, "second", ignore_folder=test_key)
    s3_client.put_object(Bucket=bucket, Key=key, Body=b"%PDF")
    return notification_id, bucket, key


class S3Proxy:
    """A boto3 client that counts its calls and can, on DeleteObjects, fail some keys or first run `before_delete`."""

    def __init__(self, client, *, fail_keys=(), before_delete=None):
        self.client, self.fail_keys, self.before_delete = client, set(fail_keys), before_delete
        self.calls: dict[str, int] = {}

    def __getattr__(self, name):
        self.calls[name] = self.calls.get(name, 0) + 1
        return getattr(self.client, name)

    def delete_objects(self, Bucket, Delete):  # noqa: N803 - boto3's argument names
        self.calls["delete_objects"] = self.calls.get("delete_objects", 0) + 1
        if self.before_delete:
            self.before_delete()
            self.before_delete = None
        kept = [o for o in Delete["Objects"] if o["Key"] not in self.fail_keys]
        response = self.client.delete_objects(Bucket=Bucket, Delete={**Delete, "Objects": kept}) if kept else {}
        errors = [{"Key": o["Key"], "Code": "AccessDenied", "Message": "Access Denied"}
                  for o in Delete["Objects"] if o["Key"] in self.fail_keys]
        return {**response, "Errors": response.get("Errors", []) + errors}


def clean(engine, s3_client, buckets, service_id, letter_batch_size=5_000):
    work = ServiceWork(service_id, (TypeCutoff("letter", CUTOFF, 7),), 50_000, letter_batch_size)
    return ServiceCleaner(engine, s3_client, buckets).clean(work)


# ---- the job with S3 unreachable or refusing ------------------------------------------------------------------------


@pytest.fixture
def night(engine, s3_client, letter_buckets, service):
    """Three real letters and a test-key letter with PDFs, a virus-scan-failed letter (no PDF to delete), an sms."""
    service_id, letter_template, sms_template = service
    real = [letter_with_pdf(engine, s3_client, letter_buckets, letter_template,
                            created_at=CREATED + dt.timedelta(minutes=i)) for i in range(3)]
    test = letter_with_pdf(engine, s3_client, letter_buckets, letter_template, key_type="test")
    with engine.begin() as conn:
        no_pdf = f.create_notification(conn, letter_template, created_at=CREATED, status="virus-scan-failed")
        sms = f.create_notification(conn, sms_template, created_at=CREATED, status="delivered")
    return {"with_pdf": real + [test], "real": {i for i, _, _ in real}, "no_pdf": no_pdf, "sms": sms}


def failure_of(result: dg.ExecuteInProcessResult) -> dg.Failure:
    [event] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert event.step_key.startswith("clean_service[")
    return event.step_failure_data.user_failure_data


@pytest.mark.parametrize("trouble", ["endpoint unreachable", "bucket missing"])
def test_letters_whose_pdfs_s3_kept_stay_and_the_run_fails_then_a_rerun_finishes(
        engine, resources, s3_client, letter_buckets, night, trouble):
    broken = dict(resources)
    if trouble == "endpoint unreachable":
        broken["s3"] = unreachable_s3()
    else:
        broken["letter_buckets"] = LetterBucketsResource(**{**resources["letter_buckets"].model_dump(),
                                                            "letters_pdf": "no-such-bucket"})
    instance = dg.DagsterInstance.ephemeral()
    result = run_retention(broken, DAY, instance=instance, raise_on_error=False)

    assert not result.success
    live, history = where_is(engine)
    still_there = [(i, b, k) for i, b, k in night["with_pdf"] if k in keys(s3_client, b)]
    assert {i for i, _, _ in still_there} <= live, "a letter was archived or deleted while its PDF is still in S3"
    assert {night["no_pdf"], night["sms"]} <= history  # everything else was done
    left = 4 if trouble == "endpoint unreachable" else 3  # a missing letters-pdf bucket spares the test-key letter
    assert len(still_there) == left and len(live) == left
    failure = failure_of(result)
    assert failure.metadata["letters_left"].value == left
    assert f"{left} letters past retention were left in notifications" in failure.description
    expected = "S3 unreachable" if trouble == "endpoint unreachable" else "NoSuchBucket"
    assert expected in failure.description

    [alert] = run_alerts(instance, {}, "http://ui", time.time())  # the alert forwarder's view of the instance
    assert alert.kind == "run" and alert.name.startswith("nightly_retention")
    assert f"{left} letters past retention were left" in alert.message
    assert "dagster._core" not in alert.message  # the failure's own words, not its class path

    rerun = run_retention(resources, DAY)
    assert rerun.success
    assert where_is(engine) == (set(), night["real"] | {night["no_pdf"], night["sms"]})
    assert all(keys(s3_client, b) == set() for _, b, _ in night["with_pdf"])


def test_an_unreachable_s3_costs_one_round_of_calls_per_step_not_one_per_letter(engine, letter_buckets, service):
    service_id, letter_template, _ = service
    with engine.begin() as conn:
        other = f.create_service(conn)
        other_template = f.create_template(conn, other, "letter")
        bulk_notifications(conn, [letter_template, other_template], 40, first=CREATED)
    proxy = S3Proxy(retention_s3_client(unreachable_s3()))
    cleaner = ServiceCleaner(engine, proxy, letter_buckets)
    outcomes = [o for sid in (service_id, other)
                for o in cleaner.clean(ServiceWork(sid, (TypeCutoff("letter", CUTOFF, 7),)))]
    assert [o.letters_left for o in outcomes] == [40, 40]
    lookups = proxy.calls.get("head_object", 0) + proxy.calls.get("list_objects_v2", 0)
    assert 0 < lookups <= LOOKUP_THREADS  # the rest were never tried
    assert "S3 unreachable" in outcomes[0].s3_error
    assert outcomes[1].s3_error.startswith("not looked up: S3 unreachable")
    assert where_is(engine)[1] == set()


# ---- one key refused; a letter changed meanwhile --------------------------------------------------------------------


def test_a_per_key_delete_error_leaves_just_that_letter_and_ends_the_loop(engine, s3_client, letter_buckets, service):
    service_id, template_id, _ = service
    made = [letter_with_pdf(engine, s3_client, letter_buckets, template_id, created_at=CREATED + dt.timedelta(minutes=i))
            for i in range(5)]
    refused_id, bucket, refused_key = made[0]  # the oldest: in the first batch
    proxy = S3Proxy(s3_client, fail_keys={refused_key})

    [outcome] = clean(engine, proxy, letter_buckets, service_id, letter_batch_size=2)
    live, history = where_is(engine)
    assert history == {made[1][0]}  # the other letter of the first batch
    assert refused_id in live and refused_key in keys(s3_client, bucket)
    assert (outcome.archived, outcome.pdfs_deleted, outcome.pdf_errors, outcome.letters_left) == (1, 1, 1, 4)
    assert outcome.s3_error == "AccessDenied: Access Denied"
    assert proxy.calls["delete_objects"] == 1  # no batch after the one with an error

    [outcome] = clean(engine, s3_client, letter_buckets, service_id, letter_batch_size=2)  # the next night
    assert where_is(engine) == (set(), {i for i, _, _ in made})
    assert keys(s3_client, bucket) == set()
    assert (outcome.archived, outcome.letters_left) == (4, 0)


def test_a_letter_that_changed_while_its_pdf_was_deleted_is_not_archived_by_that_batch(
        engine, s3_client, letter_buckets, service):
    """Status callbacks arrive while S3 is being called: they must not wait for retention (no transaction is open),
    and the letters they changed are decided again on their new status."""
    service_id, template_id, _ = service
    resent, _, _ = letter_with_pdf(engine, s3_client, letter_buckets, template_id, status="technical-failure")
    returned, _, _ = letter_with_pdf(engine, s3_client, letter_buckets, template_id)
    unchanged, _, _ = letter_with_pdf(engine, s3_client, letter_buckets, template_id)
    open_transactions = []

    def callbacks_arrive():
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("SET lock_timeout = '5s'"))  # a lock held across S3 would fail here, not hang
            open_transactions.append(transactions_left_open(conn))
            for notification_id, status in ((resent, "created"), (returned, "returned-letter")):
                conn.execute(sa.update(schema.notifications).where(schema.notifications.c.id == notification_id)
                             .values(notification_status=status))

    [outcome] = clean(engine, S3Proxy(s3_client, before_delete=callbacks_arrive), letter_buckets, service_id)
    assert open_transactions == [0]
    live, history = where_is(engine)
    assert live == {resent}  # re-sent: no longer past retention's statuses
    assert history == {unchanged, returned}  # returned: decided again by the next batch, its PDF now absent
    with engine.connect() as conn:
        status = conn.execute(sa.select(schema.notification_history.c.notification_status)
                              .where(schema.notification_history.c.id == returned)).scalar_one()
    assert status == "returned-letter"
    assert (outcome.archived, outcome.pdfs_deleted, outcome.pdfs_missing, outcome.letters_left) == (2, 3, 1, 0)
