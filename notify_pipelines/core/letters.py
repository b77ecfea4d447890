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


def bucket_and_prefix_for_letter(
    buckets: LetterBuckets, *, status: str, key_type: str, reference: str, created_at: dt.datetime
) -> tuple[str, str]:
    """Where a finished letter's PDF lives: invalid-pdf for validation-failed, test-letters for test keys,
    otherwise letters-pdf under its date folder."""
    if status == STATUS_VALIDATION_FAILED:
        return buckets.invalid_pdf, letter_pdf_prefix(reference, created_at, with_folder=False)
    if key_type == KEY_TYPE_TEST:
        return buckets.test_letters, letter_pdf_prefix(reference, created_at, with_folder=False)
    return buckets.letters_pdf, letter_pdf_prefix(reference, created_at, with_folder=True)
