"""Letter PDF file names, date folders and buckets (reference §5.4, §5.5). Used by the API, retention and sensors."""

from __future__ import annotations

import datetime as dt

from notify_pipelines.core.calendar import PRINT_DEADLINE, utc_to_london
from notify_pipelines.core.settings import LetterBuckets
from notify_pipelines.core.vocabulary import KEY_TYPE_TEST, POSTAGE_FILE_CODES, STATUS_VALIDATION_FAILED


def letter_folder(created_at: dt.datetime) -> str:
    """'YYYY-MM-DD/' of the print day: the London date, or the next one when created after 17:30 London time."""
    local = utc_to_london(created_at)
    day = local.date()
    if local.time().replace(tzinfo=None) > PRINT_DEADLINE:
        day += dt.timedelta(days=1)
    return f"{day.isoformat()}/"


def letter_pdf_filename(reference: str, created_at: dt.datetime, postage: str, *, ignore_folder: bool = False) -> str:
    """NOTIFY.<REF>.D.<class>.C.<YYYYMMDDHHMMSS>.PDF, upper-cased as a whole, with the date folder unless ignored."""
    folder = "" if ignore_folder else letter_folder(created_at)
    name = f"{folder}NOTIFY.{reference}.D.{POSTAGE_FILE_CODES[postage]}.C.{created_at:%Y%m%d%H%M%S}.pdf"
    return name.upper()


def letter_pdf_prefix(reference: str, created_at: dt.datetime, *, with_folder: bool) -> str:
    """The prefix the reference system lists by to find a letter's file: '{folder}NOTIFY.{REFERENCE}'."""
    folder = letter_folder(created_at) if with_folder else ""
    return f"{folder}NOTIFY.{reference}".upper()


DEFAULT_POSTAGE = "second"  # the API's default for precompiled letters: a letter without postage is named so


def _bucket_for_letter(buckets: LetterBuckets, *, status: str, key_type: str) -> tuple[str, bool]:
    """(bucket, whether its names have the date folder): invalid-pdf for validation-failed, test-letters for test
    keys, otherwise letters-pdf under its date folder."""
    if status == STATUS_VALIDATION_FAILED:
        return buckets.invalid_pdf, False
    if key_type == KEY_TYPE_TEST:
        return buckets.test_letters, False
    return buckets.letters_pdf, True


def bucket_and_prefix_for_letter(
    buckets: LetterBuckets, *, status: str, key_type: str, reference: str, created_at: dt.datetime
) -> tuple[str, str]:
    """Where a finished letter's PDF lives, and the prefix the reference lists by to find it."""
    bucket, with_folder = _bucket_for_letter(buckets, status=status, key_type=key_type)
    return bucket, letter_pdf_prefix(reference, created_at, with_folder=with_folder)


def bucket_and_key_for_letter(
    buckets: LetterBuckets, *, status: str, key_type: str, reference: str, created_at: dt.datetime,
    postage: str | None
) -> tuple[str, str]:
    """Where a finished letter's PDF lives and the full name it was given: the one object that prefix finds,
    unless its postage has changed since."""
    bucket, with_folder = _bucket_for_letter(buckets, status=status, key_type=key_type)
    return bucket, letter_pdf_filename(reference, created_at, postage or DEFAULT_POSTAGE, ignore_folder=not with_folder)
