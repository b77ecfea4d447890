"""The demo data comes with the files retention, the clean-ups and the sensors look for, so a demo night is quiet:
letters with their PDFs, bulk jobs with their CSVs."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from notify_pipelines.db import schema
from notify_pipelines.monitoring.queries import Letter
from notify_pipelines.monitoring.virus_scan import file_exists, scan_filename
from notify_pipelines.retention.cleanup_jobs import remove_old_job_files
from notify_pipelines.tooling import seed
from notify_pipelines.tooling.seed_files import (
    upload_seeded_job_csvs,
    upload_seeded_letter_pdfs,
)
from notify_pipelines_tests.conftest import TEST_CSV_BUCKET
from notify_pipelines_tests.retention.cleanup_helpers import run_cleanup
from notify_pipelines_tests.retention.helpers import run_retention


def test_after_seeding_and_uploading_retention_finds_every_pdf(engine, resources, s3_client, letter_buckets):
    seed.generate(engine, days=12, per_day=400, services=3, seed=1, start=dt.date(2021, 5, 20))
    uploaded = upload_seeded_letter_pdfs(engine, s3_client, letter_buckets)
    assert uploaded["files"] > 0
    assert upload_seeded_letter_pdfs(engine, s3_client, letter_buckets)["files"] == uploaded["files"]  # repeatable

    result = run_retention(resources, "2021-06-01")  # default cutoff: before 25 May
    letters = result.output_for_node("summarise_retention")["totals"]["letter"]
    assert letters["archived"] > 0 and letters["test_deleted"] > 0
    assert letters["pdfs_deleted"] > 0
    assert letters["pdfs_missing"] == 0


def test_precompiled_letters_pending_virus_check_have_their_upload_in_the_scan_bucket(engine, s3_client,
                                                                                       letter_buckets):
    seed.generate(engine, days=5, per_day=2_000, services=2, seed=1, start=dt.date(2021, 5, 20))
    upload_seeded_letter_pdfs(engine, s3_client, letter_buckets)
    n = schema.notifications
    with engine.connect() as conn:
        pending = [Letter(*row) for row in conn.execute(
            sa.select(n.c.id, n.c.reference, n.c.created_at, n.c.postage)
            .where(n.c.notification_status == "pending-virus-check"))]
    assert pending
    assert all(file_exists(s3_client, letter_buckets.letters_scan, scan_filename(letter)) for letter in pending)


def test_after_seeding_and_uploading_the_job_files_night_finds_every_csv(engine, resources, s3_client):
    seed.generate(engine, days=12, per_day=400, services=3, seed=1, start=dt.date(2021, 5, 20))
    uploaded = upload_seeded_job_csvs(engine, s3_client, TEST_CSV_BUCKET)
    assert uploaded["files"] > 0

    result = run_cleanup(remove_old_job_files, resources, "2021-06-01")
    counts = result.output_for_node("remove_job_csv_files")
    assert counts["archived"] > 0 and counts["files_deleted"] == counts["archived"]
    assert counts["files_missing"] == 0
