"""kill -9 of the clean-up jobs at deterministic points (as test_kill.py: the test holds a lock the run must wait on,
sees the run's backend waiting in pg_stat_activity, kills the process group), then what must stay is all there, what
is gone should be gone, and a re-run finishes the night exactly."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from notify_pipelines.core.calendar import retention_cutoff
from notify_pipelines.retention.cleanup_jobs import (
    delete_inbound_sms,
    remove_old_job_files,
)
from notify_pipelines.retention.job import nightly_retention
from notify_pipelines_tests import factories as f
from notify_pipelines_tests.conftest import TEST_BUCKETS, TEST_CSV_BUCKET
from notify_pipelines_tests.retention.cleanup_helpers import (
    archived_jobs,
    bulk_events,
    bulk_inbound_sms,
    create_job,
    csv_jobs,
    event_ids,
    inbound_sms_ids,
    put_csvs,
    run_cleanup,
)
from notify_pipelines_tests.retention.test_kill import (
    ROOT,
    kill,
    wait_until_gone,
    waiting_backend,
)

DAY = "2021-06-05"
JOB_OBJECTS = {job: f"notify_pipelines.retention.{module}:{job}" for module, job in (
    ("cleanup_jobs", "remove_old_job_files"), ("cleanup_jobs", "delete_inbound_sms"), ("job", "nightly_retention"))}
CUTOFF = retention_cutoff(dt.date(2021, 6, 5), 7)  # 2021-05-28 23:00 UTC


@pytest.fixture
def start(database_url, s3_endpoint, tmp_path):
    env = {**os.environ, "NOTIFY_DATABASE_URL": database_url, "NOTIFY_S3_ENDPOINT_URL": s3_endpoint,
           "DAGSTER_HOME": str(tmp_path), "NOTIFY_CSV_UPLOAD_BUCKET": TEST_CSV_BUCKET,
           "NOTIFY_LETTERS_PDF_BUCKET": TEST_BUCKETS.letters_pdf, "NOTIFY_LETTERS_SCAN_BUCKET": TEST_BUCKETS.letters_scan,
           "NOTIFY_LETTERS_INVALID_PDF_BUCKET": TEST_BUCKETS.invalid_pdf,
           "NOTIFY_TEST_LETTERS_BUCKET": TEST_BUCKETS.test_letters}
    log_path = tmp_path / "run.log"

    def run(job: str, run_config: dict | None = None, *, via_cli: bool = False) -> subprocess.Popen:
        """The documented CLI command, or (lighter to start) notify_pipelines_tests/run_job.py running it in process."""
        if via_cli:
            command = [str(Path(sys.executable).with_name("dagster")), "job", "execute", "-m",
                       "notify_pipelines.definitions", "-j", job, "--tags", json.dumps({"dagster/partition": DAY})]
            if run_config:
                config_file = tmp_path / f"run_config_{time.monotonic_ns()}.json"  # JSON is YAML
                config_file.write_text(json.dumps(run_config))
                command += ["-c", str(config_file)]
        else:
            command = [sys.executable, "-m", "notify_pipelines_tests.run_job", JOB_OBJECTS[job], DAY,
                       json.dumps(run_config)]
        with open(log_path, "ab") as log:
            return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)

    run.log = log_path
    return run


def killed_while_waiting(engine, process, log: Path, holder) -> None:
    """Kill the run once it waits on the holder's lock; release the lock; wait for the run's backend to roll back."""
    try:
        backend = waiting_backend(engine, process, log)
        kill(process)
    finally:
        holder.rollback()
        holder.close()
    wait_until_gone(engine, backend)


# ---- remove_old_job_files -------------------------------------------------------------------------------------------

JOB_FILES_CONFIG = {"ops": {"remove_job_csv_files": {"config": {"batch_size": 3}}}}


@pytest.fixture
def jobs(engine, s3_client):
    """Nine jobs past retention over three services (three batches of three) and three within it, all with CSVs."""
    with engine.begin() as conn:
        old, kept = [], set()
        for n in range(3):
            service_id = f.create_service(conn, service_id=uuid.UUID(int=n + 1))
            template_id = f.create_template(conn, service_id, ("sms", "email", "letter")[n])
            old += [create_job(conn, template_id, created_at=CUTOFF - dt.timedelta(hours=h + 1)) for h in range(3)]
            kept.add(create_job(conn, template_id, created_at=CUTOFF))
        order = conn.execute(sa.text("SELECT id FROM jobs WHERE id = ANY(:ids) ORDER BY service_id, id"),
                             {"ids": old}).scalars().all()
    put_csvs(s3_client, engine, [*old, *kept])
    return {"old": order, "kept": kept}


def assert_jobs_safe(engine, s3_client, jobs) -> None:
    archived, files = archived_jobs(engine), csv_jobs(s3_client)
    assert archived <= set(jobs["old"]), "a job within retention was archived"
    assert not archived & files, "a job was archived while its CSV is still in S3"
    assert jobs["kept"] <= files, "a CSV within retention was deleted"


def assert_jobs_finished(engine, s3_client, jobs) -> None:
    assert archived_jobs(engine) == set(jobs["old"])
    assert csv_jobs(s3_client) == jobs["kept"]


def test_job_files_kill_after_the_csvs_went_before_the_update(engine, s3_client, jobs, start, resources):
    holder = engine.connect()
    holder.execute(sa.text("LOCK TABLE jobs IN SHARE MODE"))  # reads go on; the UPDATE waits
    killed_while_waiting(engine, start("remove_old_job_files", JOB_FILES_CONFIG), start.log, holder)
    assert_jobs_safe(engine, s3_client, jobs)
    assert archived_jobs(engine) == set()
    assert csv_jobs(s3_client) == set(jobs["old"][3:]) | jobs["kept"]  # the first batch's files went

    result = run_cleanup(remove_old_job_files, resources, DAY, batch_size=3)
    assert_jobs_finished(engine, s3_client, jobs)
    assert result.output_for_node("remove_job_csv_files")["files_missing"] == 3


def test_job_files_kill_after_a_batch_committed(engine, s3_client, jobs, start, resources):
    holder = engine.connect()
    holder.execute(sa.text("SELECT 1 FROM jobs WHERE id = :id FOR UPDATE"), {"id": jobs["old"][4]})
    killed_while_waiting(engine, start("remove_old_job_files", JOB_FILES_CONFIG), start.log, holder)
    assert_jobs_safe(engine, s3_client, jobs)
    assert archived_jobs(engine) == set(jobs["old"][:3])
    assert csv_jobs(s3_client) == set(jobs["old"][6:]) | jobs["kept"]

    run_cleanup(remove_old_job_files, resources, DAY, batch_size=3)
    assert_jobs_finished(engine, s3_client, jobs)


def test_job_files_kill_before_anything_then_rerun_by_the_documented_cli_command(engine, s3_client, jobs, start):
    holder = engine.connect()
    holder.execute(sa.text("LOCK TABLE jobs IN ACCESS EXCLUSIVE MODE"))
    killed_while_waiting(engine, start("remove_old_job_files", JOB_FILES_CONFIG, via_cli=True), start.log, holder)
    assert archived_jobs(engine) == set() and csv_jobs(s3_client) == set(jobs["old"]) | jobs["kept"]

    rerun = start("remove_old_job_files", via_cli=True)
    assert rerun.wait(timeout=120) == 0, start.log.read_text()[-3000:]
    assert_jobs_finished(engine, s3_client, jobs)
    assert "RUN_SUCCESS" in start.log.read_text()


# ---- delete_inbound_sms ---------------------------------------------------------------------------------------------


def test_inbound_sms_kill_inside_a_services_batches_then_rerun(engine, start, resources):
    with engine.begin() as conn:
        services = [f.create_service(conn, service_id=uuid.UUID(int=n + 1)) for n in range(3)]
        f.create_retention(conn, services[1], "sms", 3)
        for service_id in services:
            bulk_inbound_sms(conn, service_id, 30, first=dt.datetime(2021, 5, 1), step="10 minutes")
            bulk_inbound_sms(conn, service_id, 5, first=dt.datetime(2021, 6, 4), step="10 minutes")
        kept = set(conn.execute(sa.text("SELECT id FROM inbound_sms WHERE created_at >= '2021-06-04'")).scalars())
        # The second service's 15th oldest message: its first two batches of 7 go, the third waits for it.
        locked_row = conn.execute(sa.text("SELECT id FROM inbound_sms WHERE service_id = :s ORDER BY created_at "
                                          "OFFSET 14 LIMIT 1"), {"s": services[1]}).scalar_one()
    everything = inbound_sms_ids(engine)
    holder = engine.connect()
    holder.execute(sa.text("SELECT 1 FROM inbound_sms WHERE id = :id FOR UPDATE"), {"id": locked_row})
    killed_while_waiting(engine, start("delete_inbound_sms", {"ops": {"delete_old_inbound_sms": {
        "config": {"batch_size": 7}}}}), start.log, holder)
    left = inbound_sms_ids(engine)
    assert kept <= left <= everything
    assert len(everything - left) == 30 + 14  # the first service's, and the second's first two batches

    result = run_cleanup(delete_inbound_sms, resources, DAY, batch_size=7)
    assert inbound_sms_ids(engine) == kept
    assert result.output_for_node("delete_old_inbound_sms")["deleted"] == 16 + 30


# ---- delete_old_events (nightly_retention) --------------------------------------------------------------------------


def test_events_kill_between_batches_then_rerun(engine, start, resources):
    with engine.begin() as conn:
        bulk_events(conn, 50, first=dt.datetime(2020, 5, 1), step="1 hour")
        bulk_events(conn, 5, first=dt.datetime(2020, 6, 5, 23, 0), step="1 hour")  # from the cutoff on: kept
        kept = set(conn.execute(sa.text("SELECT id FROM events WHERE created_at >= '2020-06-05 23:00'")).scalars())
        locked_row = conn.execute(sa.text("SELECT id FROM events ORDER BY created_at OFFSET 19 LIMIT 1")).scalar_one()
    everything = event_ids(engine)
    holder = engine.connect()
    holder.execute(sa.text("SELECT 1 FROM events WHERE id = :id FOR UPDATE"), {"id": locked_row})
    killed_while_waiting(engine, start("nightly_retention", {"ops": {"delete_old_events": {
        "config": {"batch_size": 7}}}}), start.log, holder)
    left = event_ids(engine)
    assert kept <= left <= everything
    assert len(everything - left) == 14  # two batches committed, the third (rows 15-21) rolled back

    result = run_cleanup(nightly_retention, resources, DAY, op="delete_old_events", batch_size=7)
    assert event_ids(engine) == kept
    assert result.output_for_node("delete_old_events")["deleted"] == 36
