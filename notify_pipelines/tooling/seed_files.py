"""The S3 files that seeded data implies, so a demo night is quiet: a small PDF for every seeded letter that retention
or the sensors would look for (at the key the API and retention use), and a CSV for every seeded bulk job that
`remove_old_job_files` will delete. Without them: 'No S3 object to delete' and 'no file' warnings, 'upload missing'
sensor failures.

Which letters have a file, by the rules of the code that looks for them:
- a letter retention deletes a PDF for (`letter_files.has_pdf_to_delete`): in the bucket and under the name
  `letters.bucket_and_prefix_for_letter` finds (letters-pdf with its date folder, invalid-pdf, test-letters);
- a precompiled upload still `pending-virus-check`: in the scan bucket, no folder, as the API stores it and the
  virus-scan sensors look for it (`monitoring.virus_scan.scan_filename`).
Letters still `created` or `sending` get none: nothing looks for their file before they finish, and `virus-scan-failed`
files would sit under the scan bucket's FAILURE/, which nothing reads.
"""

from __future__ import annotations

import datetime as dt
import time
from concurrent.futures import ThreadPoolExecutor

import sqlalchemy as sa

from notify_pipelines.core.letters import DEFAULT_POSTAGE, bucket_and_key_for_letter, letter_pdf_filename
from notify_pipelines.core.settings import LetterBuckets
from notify_pipelines.core.vocabulary import (
    COMPLETED_STATUSES,
    KEY_TYPE_TEST,
    LETTER,
    STATUS_PENDING_VIRUS_CHECK,
    sql_literals,
)
from notify_pipelines.retention.archive import LetterRow
from notify_pipelines.retention.job_files import csv_key
from notify_pipelines.retention.letter_files import (
    TEST_STATUSES_WITHOUT_PDF,
    has_pdf_to_delete,
)

SEEDED_REFERENCE_PREFIX = "SEED"  # seed.py's letter references
PUT_THREADS = 16
# The smallest well-formed one-page PDF: enough for anything that opens it.
DEMO_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)


# One set-based read of exactly the letters that get a file (the same rules as `_file_for`, in SQL).
_LETTERS_WITH_FILES = sa.text(f"""
    SELECT id, notification_status, key_type, reference, created_at, postage FROM notifications
    WHERE notification_type = '{LETTER}' AND reference LIKE :reference_prefix
      AND (notification_status = '{STATUS_PENDING_VIRUS_CHECK}'
           OR (key_type = '{KEY_TYPE_TEST}' AND notification_status NOT IN ({sql_literals(TEST_STATUSES_WITHOUT_PDF)}))
           OR (key_type <> '{KEY_TYPE_TEST}' AND notification_status IN ({sql_literals(COMPLETED_STATUSES)})))
      AND created_at < :created_before
""")


def _file_for(buckets: LetterBuckets, row) -> tuple[str, str]:
    """(bucket, key) of one letter's file."""
    if row.notification_status == STATUS_PENDING_VIRUS_CHECK:
        return buckets.letters_scan, letter_pdf_filename(row.reference, row.created_at, row.postage or DEFAULT_POSTAGE,
                                                         ignore_folder=True)
    letter = LetterRow(row.id, row.notification_status, row.key_type, row.reference, row.created_at, row.postage)
    assert has_pdf_to_delete(letter), letter
    return bucket_and_key_for_letter(buckets, status=letter.notification_status, key_type=letter.key_type,
                                     reference=letter.reference, created_at=letter.created_at, postage=letter.postage)


def upload_seeded_letter_pdfs(engine: sa.Engine, s3_client, buckets: LetterBuckets, *,
                              reference_prefix: str = SEEDED_REFERENCE_PREFIX, threads: int = PUT_THREADS,
                              created_before: dt.datetime = dt.datetime.max) -> dict:
    """Put DEMO_PDF for every letter (reference starting `reference_prefix`, created before `created_before`, naive
    UTC) that would be looked for; returns the count per bucket and the seconds taken. Overwrites: safe to repeat."""
    started = time.perf_counter()
    with engine.connect() as conn:
        rows = conn.execute(_LETTERS_WITH_FILES, {"reference_prefix": f"{reference_prefix}%",
                                                  "created_before": created_before}).all()
    files = [_file_for(buckets, row) for row in rows]
    with ThreadPoolExecutor(max_workers=threads) as pool:  # each put is a round trip: several in flight
        list(pool.map(lambda file: s3_client.put_object(Bucket=file[0], Key=file[1], Body=DEMO_PDF,
                                                        ContentType="application/pdf"), files))
    per_bucket: dict[str, int] = {}
    for bucket, _ in files:
        per_bucket[bucket] = per_bucket.get(bucket, 0) + 1
    return {"files": len(files), "per_bucket": per_bucket, "seconds": round(time.perf_counter() - started, 2)}


# Every bulk job whose CSV may still be looked for: the unarchived ones (seed.py writes none archived).
_JOBS_WITH_FILES = sa.text("SELECT id, service_id FROM jobs WHERE NOT archived")
DEMO_CSV = b"phone number,name\n07700900000,Demo\n"


def upload_seeded_job_csvs(engine: sa.Engine, s3_client, bucket: str, *, threads: int = PUT_THREADS) -> dict:
    """Put DEMO_CSV at every unarchived job's key in the CSV upload bucket; the count and seconds. Safe to repeat."""
    started = time.perf_counter()
    with engine.connect() as conn:
        keys = [csv_key(service_id, job_id) for job_id, service_id in conn.execute(_JOBS_WITH_FILES)]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(lambda key: s3_client.put_object(Bucket=bucket, Key=key, Body=DEMO_CSV, ContentType="text/csv"),
                      keys))
    return {"files": len(keys), "seconds": round(time.perf_counter() - started, 2)}
