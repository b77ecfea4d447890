"""Repair an operator starts by hand: sanitise a precompiled letter's PDF again (reference §5.2 step 6,
`resanitise-pdf`).

Once a precompiled letter has been sanitised its upload is deleted from the scan bucket, so the file to re-submit is
the one in letters-pdf under the letter's date folder (§5.5). It goes through the pluggable sanitiser and the result
replaces it under the same key. Anything unexpected refuses before the bucket is touched.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import dagster as dg
import sqlalchemy as sa

from notify_pipelines.core.letters import letter_pdf_prefix
from notify_pipelines.core.settings import LetterBuckets
from notify_pipelines.core.vocabulary import (
    KEY_TYPE_TEST,
    LETTER,
    NOT_YET_SANITISED_STATUSES,
    PRECOMPILED_TEMPLATE_NAME,
    STATUS_VALIDATION_FAILED,
)

# By primary key; the template version the notification was sent with decides whether it is precompiled.
LETTER_SQL = sa.text(
    """
    SELECT n.id, n.notification_type, n.notification_status, n.key_type, n.reference, n.created_at,
           t.name AS template_name, t.hidden AS template_hidden,
           EXISTS (SELECT 1 FROM service_permissions AS p
                   WHERE p.service_id = n.service_id AND p.permission = 'international_letters') AS allow_international
    FROM notifications AS n
    JOIN templates_history AS t ON t.id = n.template_id AND t.version = n.template_version
    WHERE n.id = :id
    """
)
ARCHIVED_SQL = sa.text("SELECT 1 FROM notification_history WHERE id = :id")


class RepairRefused(Exception):
    """The repair cannot be done for this notification; nothing was changed. The message says why."""


class LetterSanitiser(dg.ConfigurableResource):
    """Sanitises a letter PDF. Pluggable: a deployment binds a subclass (for example one that calls template-preview)
    under the `letter_sanitiser` resource key. This default passes the file through unchanged."""

    def sanitise(self, pdf: bytes, *, notification_id: uuid.UUID, allow_international_letters: bool) -> bytes:
        return pdf


@dataclass(frozen=True)
class RecreatedLetter:
    notification_id: uuid.UUID
    bucket: str
    key: str
    size_before: int
    size_after: int
    changed: bool


def parse_notification_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value).strip())
    except ValueError:
        raise RepairRefused(f"{value!r} is not a notification id (expected a UUID)") from None


def find_precompiled_letter(conn: sa.Connection, notification_id: uuid.UUID):
    """The notification's row, if it is a sanitised precompiled letter whose file belongs in letters-pdf."""
    letter = conn.execute(LETTER_SQL, {"id": notification_id}).one_or_none()
    if letter is None:
        if conn.execute(ARCHIVED_SQL, {"id": notification_id}).first() is not None:
            raise RepairRefused(f"notification {notification_id} has been archived past its retention period; "
                                "its letter PDF has been deleted")
        raise RepairRefused(f"no notification with id {notification_id}")
    if letter.notification_type != LETTER:
        raise RepairRefused(f"notification {notification_id} is {letter.notification_type}, not a precompiled letter")
    if not (letter.template_hidden and letter.template_name == PRECOMPILED_TEMPLATE_NAME):
        raise RepairRefused(f"notification {notification_id} is a templated letter ({letter.template_name!r}), "
                            "not a precompiled letter: its PDF is rendered from the template, not sanitised")
    if letter.notification_status in NOT_YET_SANITISED_STATUSES:
        raise RepairRefused(f"letter {notification_id} is {letter.notification_status}: it has never been sanitised, "
                            "so there is no file in letters-pdf to sanitise again (its upload is in the scan bucket)")
    if letter.notification_status == STATUS_VALIDATION_FAILED:
        raise RepairRefused(f"letter {notification_id} failed validation: its file is in the invalid-pdf bucket, "
                            "not letters-pdf")
    if letter.key_type == KEY_TYPE_TEST:
        raise RepairRefused(f"letter {notification_id} was sent with a test key: its file is in the test-letters "
                            "bucket, not letters-pdf, and is never printed")
    if not letter.reference:
        raise RepairRefused(f"letter {notification_id} has no reference, so its file name cannot be known")
    return letter


def find_original_key(s3_client, bucket: str, prefix: str, notification_id: uuid.UUID) -> str:
    """The one object under `{folder}NOTIFY.{REFERENCE}` (the reference system finds letter files by this prefix)."""
    listed = s3_client.list_objects_v2(Bucket=bucket, Prefix=prefix)
    keys = [item["Key"] for item in listed.get("Contents", [])]
    if not keys:
        raise RepairRefused(f"the original PDF of letter {notification_id} cannot be found: "
                            f"nothing in s3://{bucket}/ starts with {prefix}")
    if len(keys) > 1:
        raise RepairRefused(f"letter {notification_id} matches several files in s3://{bucket}/ ({', '.join(keys)}): "
                            "resolve by hand")
    return keys[0]


def check_sanitised(pdf: object, notification_id: uuid.UUID) -> bytes:
    if not isinstance(pdf, (bytes, bytearray)) or not bytes(pdf).startswith(b"%PDF"):
        raise RepairRefused(f"the sanitiser did not return a PDF for letter {notification_id}; the file is unchanged")
    return bytes(pdf)


def recreate_precompiled_letter(
    conn: sa.Connection, s3_client, buckets: LetterBuckets, sanitiser: LetterSanitiser, notification_id: str
) -> RecreatedLetter:
    """Sanitise the letter's file in letters-pdf again and put the result back under the same key."""
    notification_id = parse_notification_id(notification_id)
    letter = find_precompiled_letter(conn, notification_id)
    bucket = buckets.letters_pdf
    key = find_original_key(s3_client, bucket, letter_pdf_prefix(letter.reference, letter.created_at, with_folder=True),
                            notification_id)
    original = s3_client.get_object(Bucket=bucket, Key=key)
    before = original["Body"].read()
    after = check_sanitised(
        sanitiser.sanitise(before, notification_id=notification_id,
                           allow_international_letters=bool(letter.allow_international)),
        notification_id,
    )
    s3_client.put_object(
        Bucket=bucket, Key=key, Body=after,
        ContentType=original.get("ContentType") or "application/pdf", Metadata=original.get("Metadata") or {},
    )
    return RecreatedLetter(notification_id, bucket, key, len(before), len(after), changed=after != before)
