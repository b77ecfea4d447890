"""The demo data's letters come with the PDFs retention and the sensors look for, so a demo night is quiet."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from notify_pipelines import seed
from notify_pipelines.db import schema
from notify_pipelines.monitoring.queries import Letter
from notify_pipelines.monitoring.virus_scan import file_exists, scan_filename
from notify_pipelines.seed_letter_files import upload_seeded_letter_pdfs
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
