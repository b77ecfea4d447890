"""Deleting letter PDFs from S3 before their rows go (reference §3.4, §5.4, §5.5).

A missing object is a warning and an S3 error is logged; neither stops the batch. `virus-scan-failed` PDFs sit in the
scan bucket under FAILURE/ and are left to the bucket's lifecycle rules.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from notify_pipelines.letters import bucket_and_prefix_for_letter
from notify_pipelines.retention.archive import LetterRow
from notify_pipelines.settings import LetterBuckets

# NOTIFICATION_STATUS_TYPES_COMPLETED: the real letters whose PDF retention deletes.
COMPLETED_STATUSES = frozenset({
    "sent", "delivered", "failed", "technical-failure", "temporary-failure", "permanent-failure",
    "returned-letter", "cancelled", "validation-failed",
})
# Test letters of any status lose their PDF, except where the file never reached a letters bucket.
TEST_STATUSES_WITHOUT_PDF = frozenset({"virus-scan-failed", "pending-virus-check"})
LOOKUP_THREADS = 16  # one S3 list per letter; in parallel so a 5,000-letter batch is not 5,000 round trips in a row
DELETE_CHUNK = 1000  # S3 DeleteObjects limit

logger = logging.getLogger(__name__)


@dataclass
class PdfResult:
    deleted: int = 0
    missing: int = 0
    errors: int = 0

    def add(self, other: "PdfResult") -> None:
        self.deleted += other.deleted
        self.missing += other.missing
        self.errors += other.errors


def has_pdf_to_delete(letter: LetterRow) -> bool:
    if letter.key_type == "test":
        return letter.notification_status not in TEST_STATUSES_WITHOUT_PDF
    return letter.notification_status in COMPLETED_STATUSES


def delete_letter_pdfs(s3_client, buckets: LetterBuckets, letters: list[LetterRow],
                       log: logging.Logger = logger) -> PdfResult:
    """Find each letter's PDF by its '{folder}NOTIFY.{REFERENCE}' prefix in the right bucket and delete it."""
    result = PdfResult()
    wanted = [letter for letter in letters if has_pdf_to_delete(letter)]

    def find(letter: LetterRow) -> tuple[LetterRow, str, str | None]:
        bucket, prefix = bucket_and_prefix_for_letter(
            buckets, status=letter.notification_status, key_type=letter.key_type,
            reference=letter.reference or "", created_at=letter.created_at,
        )
        if not letter.reference:
            return letter, bucket, None
        listing = s3_client.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1)
        contents = listing.get("Contents") or []
        return letter, bucket, contents[0]["Key"] if contents else None

    keys_by_bucket: dict[str, list[tuple[LetterRow, str]]] = {}
    with ThreadPoolExecutor(max_workers=LOOKUP_THREADS) as pool:
        futures = [pool.submit(find, letter) for letter in wanted]
        for letter, future in zip(wanted, futures):
            try:
                letter, bucket, key = future.result()
            except (ClientError, BotoCoreError):
                log.exception(f"Error deleting S3 object for letter notification {letter.id}")
                result.errors += 1
                continue
            if key is None:
                log.warning(f"No S3 object to delete for letter notification {letter.id}")
                result.missing += 1
            else:
                keys_by_bucket.setdefault(bucket, []).append((letter, key))

    for bucket, entries in keys_by_bucket.items():
        for start in range(0, len(entries), DELETE_CHUNK):
            result.add(_delete_keys(s3_client, bucket, entries[start:start + DELETE_CHUNK], log))
    return result


def _delete_keys(s3_client, bucket: str, entries: list[tuple[LetterRow, str]], log: logging.Logger) -> PdfResult:
    try:
        response = s3_client.delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": key} for _, key in entries], "Quiet": True}
        )
    except (ClientError, BotoCoreError):
        for letter, _ in entries:
            log.exception(f"Error deleting S3 object for letter notification {letter.id}")
        return PdfResult(errors=len(entries))
    failed = {error["Key"]: error for error in response.get("Errors", [])}
    for letter, key in entries:
        if key in failed:
            log.error(f"Error deleting S3 object for letter notification {letter.id}: {failed[key].get('Message')}")
    return PdfResult(deleted=len(entries) - len(failed), errors=len(failed))
