"""kill -9 of the print run between a print file's upload and the transaction that marks its letters 'sending', then
a re-run by the documented CLI command: every letter ends in exactly one print file, and in 'sending'."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from notify_pipelines.db import schema
from notify_pipelines.printing import print_files as pf
from notify_pipelines_tests.conftest import TEST_BUCKETS, TEST_PRINT_BUCKET
from notify_pipelines_tests.kill_points import (
    transactions_left_open,
    wait_for_kill_point,
)
from notify_pipelines_tests.printing.helpers import (
    N,
    bulk_letters,
    letter_rows,
    letter_template,
    letters_in_files,
    print_bucket_keys,
    print_files,
    put_pdfs,
)

ROOT = Path(__file__).resolve().parents[2]
DAY = "2021-06-15"
COLLATION = "notify_pipelines.printing.job:collate_letters_for_print"
# A short lease: the re-run waits for the killed run's lease to expire.
SMALL_FILES = {"ops": {"collate_letters": {"config": {"max_letters_per_file": 100, "lease_seconds": 10}}}}


@pytest.fixture
def due(engine, s3_client) -> set[uuid.UUID]:
    with engine.begin() as conn:
        for service in (1, 2):
            bulk_letters(conn, letter_template(conn, service_id=uuid.UUID(int=service)), 250,
                         first=dt.datetime(2021, 6, 15, 8, 0))
    rows = letter_rows(engine)
    put_pdfs(s3_client, rows)
    return {row.id for row in rows}


@pytest.fixture
def env(database_url, s3_endpoint, tmp_path):
    return {**os.environ, "NOTIFY_DATABASE_URL": database_url, "NOTIFY_S3_ENDPOINT_URL": s3_endpoint,
            "DAGSTER_HOME": str(tmp_path), "NOTIFY_LETTERS_PDF_BUCKET": TEST_BUCKETS.letters_pdf,
            "NOTIFY_LETTERS_PRINT_BUCKET": TEST_PRINT_BUCKET}


def lease_tokens(engine) -> list[int]:
    with engine.connect() as conn:
        return conn.execute(sa.select(schema.exclusive_leases.c.token)).scalars().all()


def test_kill_between_upload_and_update_then_rerun(engine, s3_client, due, env, tmp_path):
    marker = tmp_path / "uploaded"
    log = open(tmp_path / "run.log", "ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "notify_pipelines_tests.run_job", COLLATION, DAY, json.dumps(SMALL_FILES)],
        cwd=ROOT, env={**env, "PAUSE_AFTER_PRINT_UPLOAD": str(marker)}, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True)
    try:
        wait_for_kill_point(process, marker, tmp_path / "run.log", 120)
        with engine.connect() as conn:
            open_transactions = transactions_left_open(conn)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    assert open_transactions == 0  # nothing held while S3 was called

    # The file reached the print bucket (DVLA may have it), its letters are still 'created', its marker is there.
    stranded = marker.read_text()
    files = print_files(s3_client)
    assert list(files) == [stranded]
    stranded_ids = set(letters_in_files(files))
    assert len(stranded_ids) == 100
    assert {r.notification_status for r in letter_rows(engine)} == {"created"}
    assert pf.in_flight_key(stranded) in print_bucket_keys(s3_client)

    # The killed run's lease outlives it (no connection holds it); the re-run waits for it to expire, then takes it.
    [killed_token] = lease_tokens(engine)

    config = tmp_path / "run_config.json"
    config.write_text(json.dumps(SMALL_FILES))  # JSON is YAML
    rerun = subprocess.run(
        [str(Path(sys.executable).with_name("dagster")), "job", "execute", "-m", "notify_pipelines.definitions",
         "-j", "collate_letters_for_print", "--tags", json.dumps({"dagster/partition": DAY}), "-c", str(config)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, (rerun.stdout + rerun.stderr)[-3000:]
    [rerun_token] = lease_tokens(engine)
    assert rerun_token > killed_token  # taken once the killed run's had expired (the CLI may start after that)

    files = print_files(s3_client)
    assert Counter(letters_in_files(files)) == Counter(due)  # every letter in exactly one print file
    assert stranded in files and len(files) == 6  # 2 services x 250 letters in files of 100, the stranded one kept
    rows = letter_rows(engine)
    assert {(r.notification_status, r.sent_by) for r in rows} == {("sending", "dvla")}
    uploaded = s3_client.head_object(Bucket=TEST_PRINT_BUCKET, Key=stranded)["LastModified"]
    uploaded = uploaded.astimezone(dt.timezone.utc).replace(tzinfo=None)
    assert {r.sent_at for r in rows if r.id in stranded_ids} == {uploaded}  # sent when DVLA got it
    assert not [k for k in print_bucket_keys(s3_client) if k.startswith(pf.IN_FLIGHT_PREFIX)]

    # And once more: nothing is sent twice.
    before = print_bucket_keys(s3_client)
    again = subprocess.run([sys.executable, "-m", "notify_pipelines_tests.run_job", COLLATION, DAY], cwd=ROOT,
                           env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, (again.stdout + again.stderr)[-3000:]
    assert print_bucket_keys(s3_client) == before
    assert len(letter_rows(engine, N.notification_status == "sending")) == 500
