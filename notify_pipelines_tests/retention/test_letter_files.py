"""Letter PDFs: each status's file deleted from the right bucket or left, before the rows go (reference §3.4)."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from notify_pipelines.core.letters import letter_pdf_filename
from notify_pipelines.db import schema
from notify_pipelines.retention.service import ServiceCleaner
from notify_pipelines.retention.work import ServiceWork, TypeCutoff
from notify_pipelines_tests import factories as f
from notify_pipelines_tests.retention.helpers import where_is
from notify_pipelines_tests.retention.test_letter_s3_failures import S3Proxy

CUTOFF = dt.datetime(2021, 6, 1, 23, 0)
CREATED = dt.datetime(2021, 5, 20, 17, 0)  # 18:00 London: after 17:30, so in the next day's folder


def keys(s3_client, bucket: str) -> set[str]:
    return {o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket).get("Contents", [])}


@pytest.fixture
def letters(engine):
    with engine.begin() as conn:
        service_id = f.create_service(conn)
        template_id = f.create_template(conn, service_id, "letter")
    return service_id, template_id


def letter_with_pdf(engine, s3_client, template_id, status, bucket, *, key_type="normal", folder=True, prefix=""):
    with engine.begin() as conn:
        notification_id = f.create_notification(conn, template_id, created_at=CREATED, status=status, key_type=key_type)
        reference = conn.execute(sa.select(schema.notifications.c.reference)
                                 .where(schema.notifications.c.id == notification_id)).scalar_one()
    key = prefix + letter_pdf_filename(reference, CREATED, "second", ignore_folder=not folder)
    s3_client.put_object(Bucket=bucket, Key=key, Body=b"%PDF")
    return notification_id, key


def clean(engine, s3_client, letter_buckets, service_id, letter_batch_size=5_000):
    work = ServiceWork(service_id, (TypeCutoff("letter", CUTOFF, 7),), 50_000, letter_batch_size)
    return ServiceCleaner(engine, s3_client, letter_buckets).clean(work)


FINISHED = ("delivered", "returned-letter", "technical-failure", "cancelled", "permanent-failure", "temporary-failure",
            "sent")


def test_finished_letters_pdfs_are_deleted_from_letters_pdf_under_their_folder(engine, s3_client, letter_buckets, letters):
    service_id, template_id = letters
    made = {status: letter_with_pdf(engine, s3_client, template_id, status, letter_buckets.letters_pdf)
            for status in FINISHED}
    assert all(key.startswith("2021-05-21/NOTIFY.") for _, key in made.values())
    [outcome] = clean(engine, s3_client, letter_buckets, service_id)
    assert keys(s3_client, letter_buckets.letters_pdf) == set()
    assert where_is(engine) == (set(), {notification_id for notification_id, _ in made.values()})
    assert (outcome.pdfs_deleted, outcome.pdfs_missing) == (len(FINISHED), 0)


def test_validation_failed_pdf_is_deleted_from_the_invalid_pdf_bucket(engine, s3_client, letter_buckets, letters):
    service_id, template_id = letters
    notification_id, _ = letter_with_pdf(engine, s3_client, template_id, "validation-failed", letter_buckets.invalid_pdf,
                                         folder=False)
    clean(engine, s3_client, letter_buckets, service_id)
    assert keys(s3_client, letter_buckets.invalid_pdf) == set()
    assert where_is(engine) == (set(), {notification_id})


def test_virus_scan_failed_letter_is_archived_but_its_pdf_left(engine, s3_client, letter_buckets, letters):
    service_id, template_id = letters
    notification_id, key = letter_with_pdf(engine, s3_client, template_id, "virus-scan-failed",
                                           letter_buckets.letters_scan, folder=False, prefix="FAILURE/")
    [outcome] = clean(engine, s3_client, letter_buckets, service_id)
    assert keys(s3_client, letter_buckets.letters_scan) == {key}
    assert where_is(engine) == (set(), {notification_id})
    assert (outcome.pdfs_deleted, outcome.pdfs_missing) == (0, 0)


def test_letters_not_final_keep_row_and_pdf(engine, s3_client, letter_buckets, letters):
    service_id, template_id = letters
    made = [letter_with_pdf(engine, s3_client, template_id, status, letter_buckets.letters_pdf)
            for status in ("pending-virus-check", "created", "sending")]
    clean(engine, s3_client, letter_buckets, service_id)
    assert keys(s3_client, letter_buckets.letters_pdf) == {key for _, key in made}
    assert where_is(engine) == ({notification_id for notification_id, _ in made}, set())


def test_test_key_letters_lose_row_and_pdf_from_the_test_letters_bucket(engine, s3_client, letter_buckets, letters):
    service_id, template_id = letters
    delivered, _ = letter_with_pdf(engine, s3_client, template_id, "delivered", letter_buckets.test_letters,
                                   key_type="test", folder=False)
    sending, _ = letter_with_pdf(engine, s3_client, template_id, "sending", letter_buckets.test_letters,
                                 key_type="test", folder=False)
    [outcome] = clean(engine, s3_client, letter_buckets, service_id)
    assert keys(s3_client, letter_buckets.test_letters) == set()
    assert where_is(engine) == (set(), set())
    assert (outcome.test_deleted, outcome.pdfs_deleted) == (2, 2)


def test_a_missing_pdf_is_a_warning_and_the_batch_goes_on(engine, s3_client, letter_buckets, letters, caplog):
    service_id, template_id = letters
    with engine.begin() as conn:
        missing = f.create_notification(conn, template_id, created_at=CREATED - dt.timedelta(hours=1), status="delivered")
    present, _ = letter_with_pdf(engine, s3_client, template_id, "delivered", letter_buckets.letters_pdf)
    [outcome] = clean(engine, s3_client, letter_buckets, service_id)
    assert where_is(engine) == (set(), {missing, present})
    assert keys(s3_client, letter_buckets.letters_pdf) == set()
    assert (outcome.pdfs_deleted, outcome.pdfs_missing) == (1, 1)
    assert f"No S3 object to delete for letter notification {missing}" in caplog.text


def test_a_pdf_is_found_by_its_full_name_with_one_head_and_no_listing(engine, s3_client, letter_buckets, letters):
    service_id, template_id = letters
    made = [letter_with_pdf(engine, s3_client, template_id, "delivered", letter_buckets.letters_pdf) for _ in range(3)]
    proxy = S3Proxy(s3_client)
    [outcome] = clean(engine, proxy, letter_buckets, service_id)
    assert (outcome.pdfs_deleted, outcome.pdfs_missing) == (3, 0)
    assert (proxy.calls.get("head_object"), proxy.calls.get("list_objects_v2", 0)) == (3, 0)
    assert where_is(engine) == (set(), {notification_id for notification_id, _ in made})


def test_a_pdf_named_with_another_postage_is_found_by_its_prefix(engine, s3_client, letter_buckets, letters):
    """The row says second class; the file was named first class (postage changed since): the HEAD misses, the
    reference's prefix listing finds it, and it is deleted."""
    service_id, template_id = letters
    notification_id, key = letter_with_pdf(engine, s3_client, template_id, "delivered", letter_buckets.letters_pdf)
    renamed = key.replace(".D.2.", ".D.1.")
    s3_client.copy_object(Bucket=letter_buckets.letters_pdf, Key=renamed,
                          CopySource={"Bucket": letter_buckets.letters_pdf, "Key": key})
    s3_client.delete_object(Bucket=letter_buckets.letters_pdf, Key=key)
    proxy = S3Proxy(s3_client)
    [outcome] = clean(engine, proxy, letter_buckets, service_id)
    assert (outcome.pdfs_deleted, outcome.pdfs_missing) == (1, 0)
    assert (proxy.calls.get("head_object"), proxy.calls.get("list_objects_v2")) == (1, 1)
    assert keys(s3_client, letter_buckets.letters_pdf) == set()
    assert where_is(engine) == (set(), {notification_id})


def test_letter_batches_smaller_than_the_data(engine, s3_client, letter_buckets, letters):
    service_id, template_id = letters
    made = [letter_with_pdf(engine, s3_client, template_id, "delivered", letter_buckets.letters_pdf) for _ in range(5)]
    [outcome] = clean(engine, s3_client, letter_buckets, service_id, letter_batch_size=2)
    assert where_is(engine) == (set(), {notification_id for notification_id, _ in made})
    assert keys(s3_client, letter_buckets.letters_pdf) == set()
    assert (outcome.archived, outcome.pdfs_deleted) == (5, 5)


def test_two_runs_at_once_move_each_letter_once_and_leave_no_pdf(engine, s3_client, letter_buckets, letters):
    """No lock is held across S3: both runs may choose the same letters; one archives each, the other finds its
    PDF already absent and its row already gone."""
    import threading

    service_id, template_id = letters
    made = {letter_with_pdf(engine, s3_client, template_id, "delivered", letter_buckets.letters_pdf)[0]
            for _ in range(20)}
    outcomes, errors = [], []

    def one_run():
        try:
            outcomes.extend(clean(engine, s3_client, letter_buckets, service_id, letter_batch_size=3))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    runs = [threading.Thread(target=one_run) for _ in range(2)]
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    assert errors == []
    assert where_is(engine) == (set(), made)
    assert keys(s3_client, letter_buckets.letters_pdf) == set()
    assert sum(o.archived for o in outcomes) == 20 and sum(o.letters_left for o in outcomes) == 0
