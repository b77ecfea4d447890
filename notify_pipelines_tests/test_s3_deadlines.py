"""A body past its deadline is never stored: S3 (a real HTTP moto server) keeps nothing of a PUT cut short, and the
error is the caller's own (so a fenced run stops with its one line)."""

from __future__ import annotations

import io
import time

import pytest

from notify_pipelines.core.s3_deadlines import deadline_body, write_reserve
from notify_pipelines.core.s3_objects import object_exists
from notify_pipelines_tests.conftest import TEST_PRINT_BUCKET


class Late(RuntimeError):
    pass


class SlowFile(io.BytesIO):
    """Sending is slow, as over a slow network. botocore first hashes the body in 1 MiB reads (fast here), then
    rewinds it and sends it in smaller reads: those are the slow ones, so the deadline passes in the middle of the
    sending."""

    sending_reads = 0

    def read(self, size=-1):
        if 0 < size < 1024 * 1024:
            self.sending_reads += 1
            time.sleep(0.1)
        return super().read(size)


def test_a_body_read_before_its_deadline_is_stored(s3_client):
    s3_client.put_object(Bucket=TEST_PRINT_BUCKET, Key="on-time", Body=deadline_body(b"x" * 100_000,
                                                                                     time.monotonic() + 3600, Late))
    assert s3_client.get_object(Bucket=TEST_PRINT_BUCKET, Key="on-time")["Body"].read() == b"x" * 100_000


def test_a_body_whose_deadline_has_passed_is_not_sent(s3_client):
    with pytest.raises(Late):
        s3_client.put_object(Bucket=TEST_PRINT_BUCKET, Key="late", Body=deadline_body(b"x", time.monotonic(), Late))
    assert not object_exists(s3_client, TEST_PRINT_BUCKET, "late")


def test_a_body_whose_deadline_passes_while_it_is_sent_is_not_stored(s3_client):
    body = SlowFile(b"x" * 2_000_000)
    with pytest.raises(Late):
        s3_client.put_object(Bucket=TEST_PRINT_BUCKET, Key="cut", Body=deadline_body(body, time.monotonic() + 0.5, Late))
    assert 1 <= body.sending_reads < 2_000_000 / (128 * 1024)  # cut in the middle of the sending
    assert not object_exists(s3_client, TEST_PRINT_BUCKET, "cut")


def test_the_reserve_is_the_clients_read_timeout_and_a_margin(s3_client):
    assert write_reserve(s3_client) == s3_client.meta.config.read_timeout + 2
