"""kill -9 of the job's process (the documented CLI command) at several points, then conservation and a re-run.

Deterministic kill points: the test holds a lock the run must wait on, sees the run's backend waiting on it in
pg_stat_activity, kills the process group, then checks every notification is in exactly one table. Between a letter
batch's S3 deletions and its archive transaction there is no lock to wait on: there the run pauses itself
(notify_pipelines_tests/run_job.py's PAUSE_AFTER_PDF_DELETES).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from notify_pipelines.core.letters import letter_pdf_filename
from notify_pipelines.db import schema
from notify_pipelines_tests import factories as f
from notify_pipelines_tests.conftest import TEST_BUCKETS
from notify_pipelines_tests.kill_points import (
    transactions_left_open,
    wait_for_kill_point,
)
from notify_pipelines_tests.retention.helpers import (
    bulk_notifications,
    run_retention,
    where_is,
)

ROOT = Path(__file__).resolve().parents[2]
DAY = "2021-06-05"
NIGHTLY_RETENTION = "notify_pipelines.retention.job:nightly_retention"
OLD, RECENT = dt.datetime(2021, 5, 1), dt.datetime(2021, 6, 4, 12)
SMALL_BATCHES = {"ops": {"find_retention_work": {"config": {"batch_size": 20, "letter_batch_size": 5}}}}


def ids_where(conn, **conditions) -> set[uuid.UUID]:
    query = sa.select(schema.notifications.c.id)
    for column, value in conditions.items():
        query = query.where(schema.notifications.c[column] == value)
    return set(conn.execute(query).scalars())


@pytest.fixture
def night(engine, s3_client):
    """Letters (first service: its step runs first), sms with test keys, email with 3-day retention."""
    with engine.begin() as conn:
        letters = f.create_service(conn, service_id=uuid.UUID(int=1))
        letter_template = f.create_template(conn, letters, "letter")
        bulk_notifications(conn, [letter_template], 30, first=OLD)
        bulk_notifications(conn, [letter_template], 3, first=OLD, status="created")
        bulk_notifications(conn, [letter_template], 5, first=OLD, key_type="test")
        bulk_notifications(conn, [letter_template], 5, first=RECENT)
        sms = f.create_service(conn, service_id=uuid.UUID(int=2))
        sms_template = f.create_template(conn, sms, "sms")
        bulk_notifications(conn, [sms_template], 200, first=OLD)
        bulk_notifications(conn, [sms_template], 20, first=OLD, key_type="test")
        bulk_notifications(conn, [sms_template], 10, first=RECENT)
        email = f.create_service(conn, service_id=uuid.UUID(int=3))
        f.create_retention(conn, email, "email", 3)
        email_template = f.create_template(conn, email, "email")
        bulk_notifications(conn, [email_template], 100, first=dt.datetime(2021, 5, 31))
        bulk_notifications(conn, [email_template], 10, first=RECENT)
        every = ids_where(conn)
        test = ids_where(conn, key_type="test")
        recent = set(conn.execute(sa.select(schema.notifications.c.id)
                                  .where(schema.notifications.c.created_at >= RECENT)).scalars())
        kept = (recent | ids_where(conn, notification_status="created")) - test
        letter_rows = conn.execute(sa.select(schema.notifications).where(
            schema.notifications.c.notification_type == "letter")).all()
    for row in letter_rows:
        bucket = TEST_BUCKETS.test_letters if row.key_type == "test" else TEST_BUCKETS.letters_pdf
        key = letter_pdf_filename(row.reference, row.created_at, row.postage, ignore_folder=row.key_type == "test")
        s3_client.put_object(Bucket=bucket, Key=key, Body=b"%PDF")
    return {"real": every - test, "test": test, "kept": kept, "archived": every - test - kept}


def assert_conserved(engine, night) -> None:
    live, history = where_is(engine)
    assert not live & history, "a notification is in both tables"
    assert night["real"] <= live | history, "a real notification was lost"
    assert not night["test"] & history, "a test notification was archived"
    assert live | history <= night["real"] | night["test"]


def assert_finished(engine, night) -> None:
    assert where_is(engine) == (night["kept"], night["archived"])


@pytest.fixture
def cli(database_url, s3_endpoint, tmp_path):
    env = {**os.environ, "NOTIFY_DATABASE_URL": database_url, "NOTIFY_S3_ENDPOINT_URL": s3_endpoint,
           "DAGSTER_HOME": str(tmp_path), "NOTIFY_LETTERS_PDF_BUCKET": TEST_BUCKETS.letters_pdf,
           "NOTIFY_LETTERS_SCAN_BUCKET": TEST_BUCKETS.letters_scan,
           "NOTIFY_LETTERS_INVALID_PDF_BUCKET": TEST_BUCKETS.invalid_pdf,
           "NOTIFY_TEST_LETTERS_BUCKET": TEST_BUCKETS.test_letters}

    def start(run_config: dict | None, *, via_cli: bool = False, extra_env: dict | None = None) -> subprocess.Popen:
        """The documented CLI command, or (lighter to start) a script running the job in process."""
        if not via_cli:
            command = [sys.executable, "-m", "notify_pipelines_tests.run_job", NIGHTLY_RETENTION, DAY,
                       json.dumps(run_config)]
        else:
            command = [str(Path(sys.executable).with_name("dagster")), "job", "execute", "-m",
                       "notify_pipelines.definitions", "-j", "nightly_retention",
                       "--tags", json.dumps({"dagster/partition": DAY})]
            if run_config:
                config_file = tmp_path / f"run_config_{time.monotonic_ns()}.json"  # JSON is YAML
                config_file.write_text(json.dumps(run_config))
                command += ["-c", str(config_file)]
        log = open(tmp_path / "cli.log", "ab")
        return subprocess.Popen(command, cwd=ROOT, env={**env, **(extra_env or {})}, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)

    start.log = tmp_path / "cli.log"
    return start


def waiting_backend(engine, process: subprocess.Popen, log: Path, timeout: float = 60) -> int:
    """The pid of the run's backend once it waits on a lock the test holds."""
    deadline = time.monotonic() + timeout
    with engine.connect() as conn:
        while time.monotonic() < deadline:
            pid = conn.execute(sa.text(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' "
                "AND pid <> pg_backend_pid()")).scalar()
            if pid:
                return pid
            assert process.poll() is None, f"the run ended before the kill point:\n{log.read_text()[-3000:]}"
            conn.rollback()
            time.sleep(0.05)
    pytest.fail("the run never reached the kill point")


def kill(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def wait_until_gone(engine, backend_pid: int, timeout: float = 30) -> None:
    """A killed client's backend rolls back when it next reads from its closed socket."""
    deadline = time.monotonic() + timeout
    with engine.connect() as conn:
        while conn.execute(sa.text("SELECT 1 FROM pg_stat_activity WHERE pid = :pid"), {"pid": backend_pid}).scalar():
            assert time.monotonic() < deadline, "the killed run's backend is still there"
            conn.rollback()
            time.sleep(0.05)


def pdf_keys(s3_client) -> set[str]:
    return {o["Key"] for o in s3_client.list_objects_v2(Bucket=TEST_BUCKETS.letters_pdf).get("Contents", [])}


def test_kill_inside_a_letter_batch_after_its_pdfs_went(engine, night, cli, resources, s3_client):
    """The archive transaction of the first letter batch waits on the test's lock; its PDFs are already gone."""
    holder = engine.connect()
    holder.execute(sa.text("LOCK TABLE notification_history IN SHARE ROW EXCLUSIVE MODE"))
    process = cli(SMALL_BATCHES)
    try:
        backend = waiting_backend(engine, process, cli.log)
        kill(process)
        assert_conserved(engine, night)
        assert where_is(engine)[1] == set()  # the batch waiting on the lock moved nothing
        assert len(pdf_keys(s3_client)) == 38 - 5  # its five PDFs were deleted before the kill
    finally:
        holder.rollback()
        holder.close()
    wait_until_gone(engine, backend)
    assert_conserved(engine, night)

    result = run_retention(resources, DAY, batch_size=20, letter_batch_size=5)
    assert_finished(engine, night)
    assert result.output_for_node("summarise_retention")["totals"]["letter"]["pdfs_missing"] == 5
    assert len(pdf_keys(s3_client)) == 8  # the recent and the not-final letters keep theirs


def test_kill_between_the_pdf_deletions_and_the_archive_transaction(engine, night, cli, resources, s3_client,
                                                                     tmp_path):
    """The first letter batch has deleted its PDFs and not yet begun the transaction that archives its letters."""
    marker = tmp_path / "pdfs_deleted"
    process = cli(SMALL_BATCHES, extra_env={"PAUSE_AFTER_PDF_DELETES": str(marker)})
    try:
        wait_for_kill_point(process, marker, cli.log, 60)
        with engine.connect() as conn:
            open_transactions = transactions_left_open(conn)
    finally:
        kill(process)
    assert open_transactions == 0  # nothing held while S3 was called
    gone = {uuid.UUID(i) for i in json.loads(marker.read_text())}
    assert len(gone) == 5
    assert_conserved(engine, night)
    live, history = where_is(engine)
    assert gone <= live and history == set()  # PDFs gone, letters not yet archived
    assert len(pdf_keys(s3_client)) == 38 - 5

    result = run_retention(resources, DAY, batch_size=20, letter_batch_size=5)
    assert_finished(engine, night)
    assert result.output_for_node("summarise_retention")["totals"]["letter"]["pdfs_missing"] == 5  # confirmed absent
    assert len(pdf_keys(s3_client)) == 8  # the recent and the not-final letters keep theirs


def test_kill_after_batches_committed_while_a_batch_waits_for_a_row(engine, night, cli, resources):
    """The test holds the newest old sms row; the batch that reaches it waits for it inside its transaction."""
    holder = engine.connect()
    locked = holder.execute(sa.text(
        "SELECT id FROM notifications WHERE service_id = :sms AND key_type = 'normal' AND created_at < :cutoff "
        "ORDER BY created_at DESC LIMIT 1 FOR UPDATE"), {"sms": uuid.UUID(int=2), "cutoff": RECENT}).scalar_one()
    process = cli(SMALL_BATCHES)
    try:
        backend = waiting_backend(engine, process, cli.log)
        kill(process)
        assert_conserved(engine, night)
        live, history = where_is(engine)
        assert len(history) == 30 + 180  # letters done, and the sms batches before the waiting one
        assert locked in live
    finally:
        holder.rollback()
        holder.close()
    wait_until_gone(engine, backend)
    assert_conserved(engine, night)

    run_retention(resources, DAY, batch_size=20, letter_batch_size=5)
    assert_finished(engine, night)


def test_kill_during_discovery_then_rerun_by_the_documented_cli_command(engine, night, cli):
    holder = engine.connect()
    holder.execute(sa.text("LOCK TABLE notifications IN ACCESS EXCLUSIVE MODE"))
    process = cli(SMALL_BATCHES, via_cli=True)
    try:
        backend = waiting_backend(engine, process, cli.log)
        kill(process)
    finally:
        holder.rollback()
        holder.close()
    wait_until_gone(engine, backend)
    assert_conserved(engine, night)

    rerun = cli(None, via_cli=True)
    assert rerun.wait(timeout=120) == 0, cli.log.read_text()[-3000:]
    assert_finished(engine, night)
    assert "RUN_SUCCESS" in cli.log.read_text()
