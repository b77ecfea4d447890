"""Deleting letter PDFs from S3 before their rows go (reference §3.4, §5.4, §5.5).

Every letter of a batch gets a verdict. Its PDF is *gone*: deleted now, confirmed absent (a listing that succeeded
and found nothing: a warning, as in the reference), or it has no PDF to delete (`virus-scan-failed` files sit in the
scan bucket under FAILURE/ for the bucket's lifecycle rules). Or it *failed*: an S3 error for it, or S3 was found
unreachable before its turn. Only gone letters may be archived: a row archived while its PDF is still in S3 leaves
a name and address there that no later run would ever look for.

A PDF is found by its full name first (one HEAD: the name is the row's reference, created_at and postage), and by the
reference's '{folder}NOTIFY.{REFERENCE}' prefix only when that misses (a letter whose postage changed after its file
was named). The answers are the reference's prefix listing's; a HEAD is a cheaper request class on S3, and on moto,
whose listing scans the whole bucket, a listing per letter made retention's cost grow with letters x objects.

An S3 error that says S3 cannot be reached at all (no connection, a timeout, no credentials: botocore's own
exceptions, raised after the client's retries) trips the caller's `S3Breaker`: the calls not yet made are not made,
so an unreachable S3 costs one round of timeouts per step, not one per letter. An S3 answer (AccessDenied,
NoSuchBucket, a DeleteObjects per-key error) fails only the letters it was about.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from botocore.exceptions import BotoCoreError, ClientError

from notify_pipelines.core.letters import bucket_and_key_for_letter, bucket_and_prefix_for_letter
from notify_pipelines.core.settings import LetterBuckets
from notify_pipelines.core.vocabulary import COMPLETED_STATUSES, KEY_TYPE_TEST, NOT_YET_SANITISED_STATUSES
from notify_pipelines.retention.archive import LetterRow

# Test letters of any status lose their PDF, except where the file never reached a letters bucket.
TEST_STATUSES_WITHOUT_PDF = frozenset(NOT_YET_SANITISED_STATUSES)
LOOKUP_THREADS = 16  # one S3 call per letter; in parallel so a 5,000-letter batch is not 5,000 round trips in a row
DELETE_CHUNK = 1000  # S3 DeleteObjects limit
NOT_LOOKED_UP = "<not looked up>"  # a lookup skipped because the breaker had tripped (compared by identity)
ERROR_LINES = 10  # per batch, one log line per failed letter up to this many, then one line for the rest

logger = logging.getLogger(__name__)


class S3Breaker:
    """Remembers that S3 could not be reached, so later calls are not made. One per step: a later run tries again."""

    def __init__(self) -> None:
        self.reason: str | None = None

    def trip(self, error: BotoCoreError) -> None:
        if self.reason is None:
            self.reason = _describe(error)


@dataclass
class PdfResult:
    """One batch's verdicts, and the counts the run reports."""

    gone: list[LetterRow] = field(default_factory=list)
    failed: list[LetterRow] = field(default_factory=list)
    deleted: int = 0
    missing: int = 0
    first_error: str | None = None

    def fail(self, letter: LetterRow, reason: str) -> None:
        self.failed.append(letter)
        self.first_error = self.first_error or reason


def has_pdf_to_delete(letter: LetterRow) -> bool:
    if letter.key_type == KEY_TYPE_TEST:
        return letter.notification_status not in TEST_STATUSES_WITHOUT_PDF
    return letter.notification_status in COMPLETED_STATUSES


def _describe(error: Exception) -> str:
    """S3's own code and message for an answer; 'S3 unreachable: ...' for botocore's transport errors."""
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        return f"{details.get('Code', 'error')}: {details.get('Message', error)}"
    return f"S3 unreachable: {error}"


def delete_letter_pdfs(s3_client, buckets: LetterBuckets, letters: list[LetterRow], breaker: S3Breaker,
                       log: logging.Logger = logger) -> PdfResult:
    """Find each letter's PDF in the right bucket and delete it; say which letters' PDFs are gone. Makes no S3 call
    once `breaker` has tripped."""
    result = PdfResult(gone=[letter for letter in letters if not has_pdf_to_delete(letter)])
    wanted = [letter for letter in letters if has_pdf_to_delete(letter)]
    failures: list[tuple[LetterRow, str]] = []

    def find(letter: LetterRow) -> tuple[str, str | None]:
        """(bucket, key or None when there is no such object); NOT_LOOKED_UP once the breaker has tripped."""
        bucket, key = bucket_and_key_for_letter(
            buckets, status=letter.notification_status, key_type=letter.key_type, reference=letter.reference or "",
            created_at=letter.created_at, postage=letter.postage,
        )
        if not letter.reference:
            return bucket, None
        if breaker.reason:
            return bucket, NOT_LOOKED_UP
        try:
            if _exists(s3_client, bucket, key):
                return bucket, key
            # Not under the name it was given (its postage changed since): look by prefix, as the reference does.
            _, prefix = bucket_and_prefix_for_letter(
                buckets, status=letter.notification_status, key_type=letter.key_type, reference=letter.reference,
                created_at=letter.created_at,
            )
            listing = s3_client.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1)
        except BotoCoreError as error:
            breaker.trip(error)
            raise
        contents = listing.get("Contents") or []
        return bucket, contents[0]["Key"] if contents else None

    keys_by_bucket: dict[str, list[tuple[LetterRow, str]]] = {}
    with ThreadPoolExecutor(max_workers=LOOKUP_THREADS) as pool:
        futures = [pool.submit(find, letter) for letter in wanted]
        for letter, future in zip(wanted, futures):
            try:
                bucket, key = future.result()
            except (ClientError, BotoCoreError) as error:
                failures.append((letter, _describe(error)))
                continue
            if key is NOT_LOOKED_UP:
                failures.append((letter, f"not looked up: {breaker.reason}"))
            elif key is not None:
                keys_by_bucket.setdefault(bucket, []).append((letter, key))
            else:
                log.warning(f"No S3 object to delete for letter notification {letter.id}")
                result.missing += 1
                result.gone.append(letter)

    for bucket, entries in keys_by_bucket.items():
        for start in range(0, len(entries), DELETE_CHUNK):
            _delete_keys(s3_client, bucket, entries[start:start + DELETE_CHUNK], breaker, result, failures)
    for letter, reason in failures:
        result.fail(letter, reason)
    _log_failures(failures, log)
    return result


def _exists(s3_client, bucket: str, key: str) -> bool:
    """HEAD the object: False on 404, any other S3 answer raised."""
    try:
        s3_client.head_object(Bucket=bucket, Key=key)
        return True
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        raise


def _delete_keys(s3_client, bucket: str, entries: list[tuple[LetterRow, str]], breaker: S3Breaker,
                 result: PdfResult, failures: list[tuple[LetterRow, str]]) -> None:
    if breaker.reason:
        failures.extend((letter, f"not deleted: {breaker.reason}") for letter, _ in entries)
        return
    try:
        response = s3_client.delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": key} for _, key in entries], "Quiet": True}
        )
    except (ClientError, BotoCoreError) as error:
        if isinstance(error, BotoCoreError):
            breaker.trip(error)
        failures.extend((letter, _describe(error)) for letter, _ in entries)
        return
    failed = {error["Key"]: error for error in response.get("Errors", [])}
    for letter, key in entries:
        if key in failed:
            failures.append((letter, f"{failed[key].get('Code', 'error')}: {failed[key].get('Message')}"))
        else:
            result.deleted += 1
            result.gone.append(letter)


def _log_failures(failures: list[tuple[LetterRow, str]], log: logging.Logger) -> None:
    """The reference's line per letter, but a few only: 5,000 lines per batch would bury the run's event log."""
    for letter, reason in failures[:ERROR_LINES]:
        log.error(f"Error deleting S3 object for letter notification {letter.id}: {reason}")
    if len(failures) > ERROR_LINES:
        log.error(f"... and {len(failures) - ERROR_LINES} more letters whose S3 objects could not be deleted")
