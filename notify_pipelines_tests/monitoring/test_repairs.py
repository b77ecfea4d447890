"""recreate_precompiled_letter_pdf: sanitise a precompiled letter's PDF again and replace it (reference §5.2 step 6),
on real PostgreSQL and the real HTTP S3 server."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from notify_pipelines.core.letters import letter_pdf_filename
from notify_pipelines.db import schema
from notify_pipelines.monitoring.jobs import recreate_precompiled_letter_pdf
from notify_pipelines.monitoring.repairs import (
    LetterSanitiser,
    RepairRefused,
    recreate_precompiled_letter,
)
from notify_pipelines_tests.conftest import TEST_BUCKETS
from notify_pipelines_tests.factories import (
    create_notification,
    create_precompiled_template,
    create_service,
    create_template,
)

PDF = b"%PDF-1.7 original upload"
# 17:45 UTC on the day the clocks go back is 17:45 London time, after the 17:30 deadline: next day's folder.
CREATED_AT = dt.datetime(2021, 10, 31, 17, 45, 12)


class Stamping(LetterSanitiser):
    """A sanitiser that visibly changes the file and remembers what it was asked."""

    def sanitise(self, pdf, *, notification_id, allow_international_letters):
        Stamping.calls.append((pdf, notification_id, allow_international_letters))
        return pdf + b" sanitised"


class NotAPdf(LetterSanitiser):
    def sanitise(self, pdf, *, notification_id, allow_international_letters):
        return b"<html>error</html>"


def run(resources, notification_id, sanitiser=None):
    return recreate_precompiled_letter_pdf.execute_in_process(
        resources={**resources, "letter_sanitiser": sanitiser or LetterSanitiser()},
        run_config={"ops": {"recreate_letter_pdf": {"config": {"notification_id": str(notification_id)}}}},
        raise_on_error=False,
    )


def failure_message(result) -> str:
    assert not result.success
    return result.failure_data_for_node("recreate_letter_pdf").error.message


def refusal(engine, s3_client, notification_id, sanitiser=None) -> str:
    """The domain function's refusal (the job turns it into a failed step, shown once below)."""
    with engine.connect() as conn, pytest.raises(RepairRefused) as refused:
        recreate_precompiled_letter(conn, s3_client, TEST_BUCKETS, sanitiser or LetterSanitiser(), str(notification_id))
    return str(refused.value)


@pytest.fixture
def service(engine):
    with engine.begin() as conn:
        return create_service(conn, permissions=("letter", "international_letters"))


def precompiled_letter(engine, service, *, status="delivered", key_type="normal", table=schema.notifications, **kw):
    with engine.begin() as conn:
        template = create_precompiled_template(conn, service)
        return create_notification(conn, template, created_at=CREATED_AT, status=status, key_type=key_type,
                                   table=table, reference="ABC123", **kw)


def upload(s3_client, key=None, body=PDF):
    key = key or letter_pdf_filename("ABC123", CREATED_AT, "second")
    s3_client.put_object(Bucket=TEST_BUCKETS.letters_pdf, Key=key, Body=body, ContentType="application/pdf",
                         Metadata={"validation_status": "passed"})
    return key


def stored(s3_client, key):
    obj = s3_client.get_object(Bucket=TEST_BUCKETS.letters_pdf, Key=key)
    return obj["Body"].read(), obj["ContentType"], obj["Metadata"]


def test_the_key_is_under_the_print_day_folder():
    assert letter_pdf_filename("ABC123", CREATED_AT, "second") == "2021-11-01/NOTIFY.ABC123.D.2.C.20211031174512.PDF"


def test_default_sanitiser_passes_the_file_through(engine, resources, s3_client, service):
    notification = precompiled_letter(engine, service)
    key = upload(s3_client)
    result = run(resources, notification)
    assert result.success
    assert result.output_for_node("recreate_letter_pdf") == key
    assert stored(s3_client, key) == (PDF, "application/pdf", {"validation_status": "passed"})


def test_the_sanitised_file_replaces_the_original(engine, resources, s3_client, service):
    Stamping.calls = []
    notification = precompiled_letter(engine, service)
    key = upload(s3_client)
    result = run(resources, notification, Stamping())
    assert result.success
    assert Stamping.calls == [(PDF, notification, True)]
    assert stored(s3_client, key) == (PDF + b" sanitised", "application/pdf", {"validation_status": "passed"})
    listed = s3_client.list_objects_v2(Bucket=TEST_BUCKETS.letters_pdf)["Contents"]
    assert [o["Key"] for o in listed] == [key]  # replaced in place, no second copy


def test_refuses_a_templated_letter(engine, resources, s3_client, service):
    with engine.begin() as conn:
        template = create_template(conn, service, "letter")
        notification = create_notification(conn, template, created_at=CREATED_AT, status="delivered",
                                            reference="ABC123")
    key = upload(s3_client)
    assert "not a precompiled letter" in failure_message(run(resources, notification, Stamping()))
    assert stored(s3_client, key)[0] == PDF


def test_refuses_an_sms(engine, s3_client, service):
    with engine.begin() as conn:
        notification = create_notification(conn, create_template(conn, service, "sms"), created_at=CREATED_AT)
    assert "is sms, not a precompiled letter" in refusal(engine, s3_client, notification)


@pytest.mark.parametrize(
    "status, key_type, expected",
    [
        ("pending-virus-check", "normal", "never been sanitised"),
        ("virus-scan-failed", "normal", "never been sanitised"),
        ("validation-failed", "normal", "invalid-pdf bucket"),
        ("delivered", "test", "test-letters"),
    ],
)
def test_refuses_letters_whose_file_is_not_in_letters_pdf(engine, s3_client, service, status, key_type, expected):
    notification = precompiled_letter(engine, service, status=status, key_type=key_type)
    key = upload(s3_client)
    assert expected in refusal(engine, s3_client, notification, Stamping())
    assert stored(s3_client, key)[0] == PDF


def test_refuses_when_the_original_cannot_be_found(engine, s3_client, service):
    notification = precompiled_letter(engine, service)
    upload(s3_client, key="2021-10-31/NOTIFY.ABC123.D.2.C.20211031174512.PDF")  # wrong folder
    message = refusal(engine, s3_client, notification)
    assert "cannot be found" in message and "2021-11-01/NOTIFY.ABC123" in message


def test_refuses_when_several_files_match(engine, s3_client, service):
    notification = precompiled_letter(engine, service)
    upload(s3_client)
    upload(s3_client, key="2021-11-01/NOTIFY.ABC123.D.1.C.20211031174512.PDF")
    assert "several files" in refusal(engine, s3_client, notification)


def test_refuses_unknown_archived_and_malformed_ids(engine, s3_client, service):
    assert "no notification with id" in refusal(engine, s3_client, uuid.uuid4())
    archived = precompiled_letter(engine, service, table=schema.notification_history)
    assert "archived" in refusal(engine, s3_client, archived)
    assert "not a notification id" in refusal(engine, s3_client, "not-a-uuid")


def test_a_sanitiser_that_returns_no_pdf_changes_nothing(engine, s3_client, service):
    notification = precompiled_letter(engine, service)
    key = upload(s3_client)
    assert "did not return a PDF" in refusal(engine, s3_client, notification, NotAPdf())
    assert stored(s3_client, key)[0] == PDF
