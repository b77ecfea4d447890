"""What the deep archive tests share: history rows written in SQL, the test bucket, and reading the archive back."""

from __future__ import annotations

import datetime as dt
import io
import uuid

import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from notify_pipelines.db import schema
from notify_pipelines.orchestration.resources import DeepArchiveBucketResource

TEST_DEEP_BUCKET = "test-notification-deep-history"
COLUMNS = [c.name for c in schema.notification_history.columns]


@pytest.fixture
def deep_bucket(s3_client) -> str:
    s3_client.create_bucket(Bucket=TEST_DEEP_BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
    return TEST_DEEP_BUCKET


@pytest.fixture
def archive_resources(resources, deep_bucket) -> dict:
    return {**resources, "deep_archive_bucket": DeepArchiveBucketResource(name=deep_bucket)}


def add_history(conn: sa.Connection, count: int, *, first: dt.datetime, step: str = "1 minute") -> None:
    """`count` history rows from `first`, `step` apart, every column filled, nullable ones NULL on every third row."""
    conn.execute(sa.text(
        """
        INSERT INTO notification_history (id, job_id, job_row_number, service_id, template_id, template_version,
            api_key_id, key_type, notification_type, created_at, sent_at, sent_by, updated_at, reference,
            billable_units, client_reference, international, phone_prefix, rate_multiplier, notification_status,
            created_by_id, postage, document_download_count)
        SELECT gen_random_uuid(),
               CASE WHEN g % 3 = 0 THEN NULL ELSE gen_random_uuid() END,
               CASE WHEN g % 3 = 0 THEN NULL ELSE g END,
               :service_id, :template_id, 1 + g % 2,
               CASE WHEN g % 3 = 0 THEN NULL ELSE gen_random_uuid() END,
               (ARRAY['normal', 'team', 'test'])[1 + g % 3],
               (ARRAY['sms', 'email', 'letter'])[1 + g % 3]::notification_type,
               CAST(:first AS timestamp) + g * CAST(:step AS interval),
               CASE WHEN g % 3 = 0 THEN NULL ELSE CAST(:first AS timestamp) + g * CAST(:step AS interval)
                                                   + interval '1.234567 seconds' END,
               CASE WHEN g % 3 = 0 THEN NULL ELSE 'mmg' END,
               CASE WHEN g % 3 = 0 THEN NULL ELSE CAST(:first AS timestamp) + interval '1 day' END,
               CASE WHEN g % 3 = 0 THEN NULL ELSE 'REF' || g END,
               g % 4,
               CASE WHEN g % 3 = 0 THEN NULL ELSE 'client ' || g END,
               CASE WHEN g % 3 = 0 THEN NULL ELSE g % 2 = 0 END,
               CASE WHEN g % 3 = 0 THEN NULL ELSE '44' END,
               CASE WHEN g % 3 = 0 THEN NULL ELSE 1 + g % 2 END,
               'delivered',
               CASE WHEN g % 3 = 0 THEN NULL ELSE gen_random_uuid() END,
               CASE WHEN g % 3 = 0 THEN NULL ELSE 'second' END,
               CASE WHEN g % 3 = 0 THEN NULL ELSE g % 5 END
        FROM generate_series(0, :count - 1) AS g
        """), {"first": first, "step": step, "count": count, "service_id": uuid.UUID(int=1),
               "template_id": uuid.UUID(int=2)})


def history_rows(engine: sa.Engine) -> dict[str, dict]:
    """Every history row by id, as the archive stores it (UUIDs and the enum as text)."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(schema.notification_history)).mappings().all()
    return {str(r["id"]): as_stored(dict(r)) for r in rows}


def as_stored(row: dict) -> dict:
    return {k: (str(v) if isinstance(v, uuid.UUID) else v) for k, v in row.items()}


def archive_keys(s3_client, bucket: str = TEST_DEEP_BUCKET) -> list[str]:
    return sorted(o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket).get("Contents", []))


def read_archive(s3_client, key: str, bucket: str = TEST_DEEP_BUCKET) -> pq.ParquetFile:
    return pq.ParquetFile(io.BytesIO(s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()))


def archived_rows(s3_client, bucket: str = TEST_DEEP_BUCKET) -> list[dict]:
    """Every row of every archive file (a list: an id stored twice would appear twice)."""
    return [row for key in archive_keys(s3_client, bucket) for row in read_archive(s3_client, key, bucket).read()
            .to_pylist()]
