"""kill -9 of deep_archive_notification_history between an hour's upload and its delete (the test holds a SHARE lock on
notification_history: the export reads on, the DELETE waits; the test sees the run's backend waiting and kills the
process group), then a re-run: every history row is in exactly one of the table or S3, once."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections import Counter

import sqlalchemy as sa

from notify_pipelines.retention.deep_archive_job import deep_archive_notification_history
from notify_pipelines_tests.kill_points import transactions_left_open
from notify_pipelines_tests.retention.deep_archive_helpers import (  # noqa: F401  (fixtures)
    TEST_DEEP_BUCKET,
    add_history,
    archive_keys,
    archive_resources,
    archived_rows,
    deep_bucket,
    history_rows,
)
from notify_pipelines_tests.retention.test_kill import ROOT, kill, wait_until_gone, waiting_backend

HOURS = [dt.datetime(2021, 5, 1, h) for h in (3, 4, 5)]
# A short lease: the re-run waits for the killed run's lease to expire.
RUN_CONFIG = {"ops": {"archive_old_notification_history": {"config": {"max_hours": 2, "batch_rows": 7,
                                                                    "lease_seconds": 30}}}}


def start(database_url, s3_endpoint, log_path) -> subprocess.Popen:
    env = {**os.environ, "NOTIFY_DATABASE_URL": database_url, "NOTIFY_S3_ENDPOINT_URL": s3_endpoint,
           "NOTIFY_DEEP_ARCHIVE_BUCKET": TEST_DEEP_BUCKET}
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "notify_pipelines_tests.run_job",
             "notify_pipelines.retention.deep_archive_job:deep_archive_notification_history", "-",
             json.dumps(RUN_CONFIG)],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def assert_each_row_once(engine, s3_client, everything: dict) -> None:
    in_table = history_rows(engine)
    in_s3 = Counter(r["id"] for r in archived_rows(s3_client))
    assert max(in_s3.values(), default=1) == 1, "a row is stored twice in S3"
    assert not set(in_table) & set(in_s3), "a row is in both the table and S3"
    assert set(in_table) | set(in_s3) == set(everything), "a row was lost"


def test_kill_between_upload_and_delete_then_rerun(engine, s3_client, deep_bucket, archive_resources, database_url,
                                                   s3_endpoint, tmp_path):
    with engine.begin() as conn:
        for hour in HOURS:
            add_history(conn, 20, first=hour, step="3 minutes")
    everything = history_rows(engine)

    holder = engine.connect()
    holder.execute(sa.text("LOCK TABLE notification_history IN SHARE MODE"))  # reads go on; the DELETE waits
    log = tmp_path / "run.log"
    process = start(database_url, s3_endpoint, log)
    try:
        backend = waiting_backend(engine, process, log)
        kill(process)
    finally:
        holder.rollback()
        holder.close()
    wait_until_gone(engine, backend)

    # Killed inside the first hour's delete: its file is uploaded, its rows are all still in the table.
    assert archive_keys(s3_client) == ["created_at_date_hour=2021-05-01T03/notification_history_2021-05-01T03.parquet"]
    assert history_rows(engine) == everything
    assert len(archived_rows(s3_client)) == 20
    with engine.connect() as conn:
        assert transactions_left_open(conn) == 0

    first = deep_archive_notification_history.execute_in_process(resources=archive_resources, run_config=RUN_CONFIG)
    assert [h["hour"] for h in first.output_for_node("archive_old_notification_history")["hours"]] == [
        "2021-05-01T03:00:00", "2021-05-01T04:00:00"]
    assert_each_row_once(engine, s3_client, everything)
    assert len(history_rows(engine)) == 20

    deep_archive_notification_history.execute_in_process(resources=archive_resources, run_config=RUN_CONFIG)
    assert_each_row_once(engine, s3_client, everything)
    assert history_rows(engine) == {} and len(archive_keys(s3_client)) == 3
