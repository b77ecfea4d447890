"""The deep archive's lease (db/leases.py): two runs at once never overwrite an archived hour with an untagged copy,
and a run that lost its lease stops, red in one line, before it deletes anything; a clean re-run settles.

Without the lease a second run that exported an hour before the first deleted it could upload after the first had
tagged the file: the hour's archive became an untagged copy (what the `contents_deleted` guard reads), until, and
unless, the second run tagged it again."""

from __future__ import annotations

import datetime as dt
import inspect
import threading
from collections import Counter

import pytest
import sqlalchemy as sa

from notify_pipelines.db import leases
from notify_pipelines.retention import deep_archive
from notify_pipelines_tests.retention.deep_archive_helpers import (  # noqa: F401  (fixtures)
    TEST_DEEP_BUCKET,
    add_history,
    archive_keys,
    archived_rows,
    deep_bucket,
    history_rows,
)

NOW = dt.datetime(2022, 6, 5, 10, 30)
HOURS = [dt.datetime(2021, 5, 1, h) for h in (3, 4, 5)]
FIRST_KEY = deep_archive.hour_key(HOURS[0])


class Watched:
    """A real boto3 client; `on_put(key)` runs before each PUT and `after_tagging(key)` after each tagging."""

    def __init__(self, client, *, on_put=None, after_tagging=None):
        self.client, self.on_put, self.after_tagging = client, on_put, after_tagging

    def __getattr__(self, name):
        return getattr(self.client, name)

    def put_object(self, **kwargs):
        if self.on_put:
            self.on_put(kwargs["Key"])
        return self.client.put_object(**kwargs)

    def put_object_tagging(self, **kwargs):
        response = self.client.put_object_tagging(**kwargs)
        if self.after_tagging:
            self.after_tagging(kwargs["Key"])
        return response


def tagged(s3_client, key: str) -> bool:
    tags = s3_client.get_object_tagging(Bucket=TEST_DEEP_BUCKET, Key=key)["TagSet"]
    return any(t["Key"] == deep_archive.TAG_CONTENTS_DELETED and t["Value"] == "true" for t in tags)


def assert_each_row_once_and_every_hour_tagged(engine, s3_client, everything) -> None:
    in_s3 = Counter(r["id"] for r in archived_rows(s3_client))
    assert history_rows(engine) == {}
    assert set(in_s3) == set(everything) and max(in_s3.values()) == 1
    assert all(tagged(s3_client, key) for key in archive_keys(s3_client))


@pytest.fixture
def everything(engine, deep_bucket):
    with engine.begin() as conn:
        for hour in HOURS:
            add_history(conn, 20, first=hour, step="3 minutes")
    return history_rows(engine)


def archive(engine, s3, holder):
    accepted = inspect.signature(deep_archive.deep_archive_notification_history).parameters
    lease_kwargs = {k: v for k, v in {"holder": holder, "lease_poll_seconds": 0.1}.items() if k in accepted}
    # (also runs the code before the lease, to show what it fixed)
    return deep_archive.deep_archive_notification_history(engine, s3, TEST_DEEP_BUCKET, now=NOW, after_days=365,
                                                          **lease_kwargs)


def test_two_runs_at_once_archive_each_hour_once_and_tagged(engine, s3_client, everything):
    first_tagged = threading.Event()
    overwritten_after_tagging = []

    def second_puts(key):  # the second run's upload of the first hour waits until the first run has tagged it
        if key == FIRST_KEY:
            first_tagged.wait(10)
            if tagged(s3_client, key):
                overwritten_after_tagging.append(key)

    first_holds_the_lease = threading.Event()  # its first upload has begun: the second run starts only then
    first = Watched(s3_client, on_put=lambda key: first_holds_the_lease.set(),
                    after_tagging=lambda key: key == FIRST_KEY and first_tagged.set())
    second = Watched(s3_client, on_put=second_puts)
    results, errors = {}, {}

    def run(name, s3):
        try:
            results[name] = archive(engine, s3, name)
        except Exception as error:  # noqa: BLE001  (asserted below)
            errors[name] = error

    threads = [threading.Thread(target=run, args=(name, s3)) for name, s3 in (("first", first), ("second", second))]
    threads[0].start()
    assert first_holds_the_lease.wait(60), errors
    threads[1].start()
    for thread in threads:
        thread.join()
    assert errors == {}
    assert overwritten_after_tagging == []
    archived = [h["hour"] for r in results.values() for h in r.hours]
    assert sorted(archived) == [h.isoformat() for h in HOURS]  # each hour archived by one run
    assert_each_row_once_and_every_hour_tagged(engine, s3_client, everything)


def test_a_run_that_lost_its_lease_stops_before_deleting(engine, s3_client, everything):
    def lease_taken_by_another_run(key):  # while the first hour uploads, the lease expires and another run takes it
        if key == FIRST_KEY:
            with engine.begin() as conn:
                conn.execute(sa.text("UPDATE exclusive_leases SET expires_at = now() WHERE name = :n"),
                             {"n": deep_archive.LEASE_NAME})
                assert leases.try_acquire(conn, deep_archive.LEASE_NAME, "another run", 60) is not None

    with pytest.raises(deep_archive.DeepArchiveError) as stopped:
        archive(engine, Watched(s3_client, on_put=lease_taken_by_another_run), "frozen")
    message = str(stopped.value)
    assert len(message.splitlines()) == 1
    assert message.startswith(f"this run lost the lease {deep_archive.LEASE_NAME} (token ")
    assert "another run took it after it expired" in message
    assert history_rows(engine) == everything  # nothing deleted
    assert archive_keys(s3_client) == [FIRST_KEY] and not tagged(s3_client, FIRST_KEY)  # in flight, not archived

    with engine.begin() as conn:  # the other run lets it go
        conn.execute(sa.text("UPDATE exclusive_leases SET expires_at = now() WHERE name = :n"),
                     {"n": deep_archive.LEASE_NAME})
    archive(engine, s3_client, "re-run")
    assert_each_row_once_and_every_hour_tagged(engine, s3_client, everything)
