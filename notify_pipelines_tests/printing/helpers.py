"""Letters, their PDFs and the print bucket, for the printing tests."""

from __future__ import annotations

import datetime as dt
import io
import json
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor

import sqlalchemy as sa

from notify_pipelines.core.letters import letter_pdf_filename
from notify_pipelines.db import schema
from notify_pipelines.printing import collate as collate_module
from notify_pipelines.printing import print_files as pf
from notify_pipelines_tests import factories as f
from notify_pipelines_tests.conftest import TEST_BUCKETS, TEST_PRINT_BUCKET

N = schema.notifications.c


def letter_template(conn: sa.Connection, *, organisation_id: uuid.UUID | None = None, postage: str = "second",
                    service_id: uuid.UUID | None = None) -> uuid.UUID:
    service = f.create_service(conn, service_id=service_id)
    if organisation_id:
        if not conn.execute(sa.select(schema.organisation.c.id).where(schema.organisation.c.id == organisation_id)).first():
            f.create_organisation(conn, organisation_id=organisation_id)
        conn.execute(sa.update(schema.services).where(schema.services.c.id == service)
                     .values(organisation_id=organisation_id))
    return f.create_template(conn, service, "letter", postage=postage)


def add_letter(conn: sa.Connection, template_id: uuid.UUID, created_at: dt.datetime, *, status: str = "created",
               key_type: str = "normal", billable_units: int = 2, **overrides) -> uuid.UUID:
    return f.create_notification(conn, template_id, created_at=created_at, status=status, key_type=key_type,
                                 billable_units=billable_units, **overrides)


_BULK_LETTERS = sa.text(
    """
    INSERT INTO notifications (id, "to", service_id, template_id, template_version, key_type, notification_type,
                               created_at, notification_status, billable_units, international, reference, postage)
    SELECT gen_random_uuid(), 'A. Person', t.service_id, t.id, t.version, 'normal', 'letter',
           CAST(:first AS timestamp) + g * interval '1 second', 'created', 1 + g % 5, false,
           'BULK' || upper(substr(md5(t.id::text || g), 1, 12)), COALESCE(:postage, t.postage)
    FROM templates t CROSS JOIN generate_series(0, :count - 1) AS g WHERE t.id = :template_id
    """
)


def bulk_letters(conn: sa.Connection, template_id: uuid.UUID, count: int, *, first: dt.datetime,
                 postage: str | None = None) -> None:
    """`count` created, normal-key letters of 1-5 sheets, a second apart from `first`."""
    conn.execute(_BULK_LETTERS, {"template_id": template_id, "count": count, "first": first, "postage": postage})


def pdf_body(letter_id, size: int = 0) -> bytes:
    head = f"%PDF-1.4 letter {letter_id}\n".encode()
    return head + b"x" * max(0, size - len(head))


def letter_rows(engine: sa.Engine, *conditions) -> list:
    with engine.connect() as conn:
        return conn.execute(sa.select(schema.notifications).where(N.notification_type == "letter", *conditions)).all()


def put_pdfs(s3_client, rows, *, size: int = 0) -> dict[uuid.UUID, str]:
    """A PDF naming its letter, at the key the API writes; returns id -> key."""
    keys = {row.id: letter_pdf_filename(row.reference, row.created_at, row.postage) for row in rows}
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda item: s3_client.put_object(Bucket=TEST_BUCKETS.letters_pdf, Key=item[1],
                                                        Body=pdf_body(item[0], size)), keys.items()))
    return keys


def collate(engine, s3_client, day: dt.date, **kwargs) -> collate_module.CollationResult:
    return collate_module.collate(engine, s3_client, pdf_bucket=TEST_BUCKETS.letters_pdf,
                                  print_bucket=TEST_PRINT_BUCKET, day=day, **kwargs)


def print_bucket_keys(s3_client) -> set[str]:
    return {obj["Key"] for obj in collate_module.list_keys(s3_client, TEST_PRINT_BUCKET, "")}


def print_files(s3_client) -> dict[str, dict]:
    """Every ZIP in the print bucket: key -> {"pdfs": {name: bytes}, "manifest": dict, "size": int}."""
    files = {}
    for key in sorted(k for k in print_bucket_keys(s3_client) if k.endswith(".ZIP") and not k.startswith("in-flight/")):
        body = s3_client.get_object(Bucket=TEST_PRINT_BUCKET, Key=key)["Body"].read()
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            pdfs = {name: archive.read(name) for name in archive.namelist()}
            assert len(pdfs) == len(archive.namelist()), f"{key} holds a name twice"
        manifest = json.loads(s3_client.get_object(Bucket=TEST_PRINT_BUCKET, Key=pf.manifest_key(key))["Body"].read())
        files[key] = {"pdfs": pdfs, "manifest": manifest, "size": len(body)}
    return files


def letters_in_files(files: dict[str, dict]) -> list[uuid.UUID]:
    """Every letter id in every print file, read from the PDFs themselves (each names its letter), repeats kept."""
    return [uuid.UUID(body.split(b"\n", 1)[0].split()[-1].decode()) for f in files.values() for body in f["pdfs"].values()]
