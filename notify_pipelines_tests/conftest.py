"""Shared fixtures: a PostgreSQL database of this test run's own, a real HTTP S3 server, and Dagster resources.

The database is created per test session (so concurrent runs cannot collide), migrated with Alembic, and dropped at
the end. Each test that asks for `engine` starts from empty data tables (lookup values stay).
"""

from __future__ import annotations

import contextlib
import os
import uuid

# Before the package is imported (its steps' RetryPolicy reads it): a step that fails on purpose retries in about
# 5 s in all, not the 2 minutes of production's backoff. Subprocesses (jobs, the daemon, dev) inherit it.
os.environ.setdefault("NOTIFY_STEP_RETRY_DELAY_SECONDS", "0.2")

import boto3  # noqa: E402
import pytest  # noqa: E402
import requests  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from dagster_aws.s3 import S3Resource  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402

from notify_pipelines.core.settings import LetterBuckets  # noqa: E402
from notify_pipelines.db import migrate, schema  # noqa: E402
from notify_pipelines.db.engine import get_engine  # noqa: E402
from notify_pipelines.orchestration.resources import (
    CsvUploadBucketResource,
    LetterBucketsResource,
    LettersPrintBucketResource,
    NotifyDatabase,
)

ADMIN_URL = os.environ.get("NOTIFY_TEST_ADMIN_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
TEST_BUCKETS = LetterBuckets(
    letters_pdf="test-letters-pdf",
    letters_scan="test-letters-scan",
    invalid_pdf="test-letters-invalid-pdf",
    test_letters="test-test-letters",
)
TEST_CSV_BUCKET = "test-csv-upload"
TEST_PRINT_BUCKET = "test-letters-print"
DATA_TABLES = [t for t in schema.metadata.sorted_tables if t not in schema.LOOKUP_VALUES]


@contextlib.contextmanager
def environment(**values: str):
    """These environment variables set for the block; afterwards each is what it was before (or unset again)."""
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _admin_engine() -> sa.Engine:
    return sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)


def create_database(prefix: str = "notify_test") -> str:
    """Create an empty database of this run's own and return its URL."""
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with _admin_engine().connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    return sa.make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    get_engine(url).dispose()
    name = sa.make_url(url).database
    with _admin_engine().connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def database_url():
    url = create_database()
    migrate.upgrade(url)
    with environment(NOTIFY_DATABASE_URL=url):
        yield url
    drop_database(url)


def truncate_data_tables(engine: sa.Engine) -> None:
    names = ", ".join(f'"{t.name}"' for t in DATA_TABLES)
    with engine.begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture
def engine(database_url) -> sa.Engine:
    """The session database with empty data tables."""
    engine = get_engine(database_url)
    truncate_data_tables(engine)
    return engine


@pytest.fixture(scope="session")
def s3_endpoint():
    """moto's S3 over real HTTP on a free loopback port."""
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-2")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    with environment(NOTIFY_S3_ENDPOINT_URL=endpoint):
        yield endpoint
    server.stop()


@pytest.fixture
def s3_client(s3_endpoint):
    """A boto3 client on empty letter buckets (TEST_BUCKETS), CSV upload bucket (TEST_CSV_BUCKET) and print bucket
    (TEST_PRINT_BUCKET)."""
    requests.post(f"{s3_endpoint}/moto-api/reset", timeout=10).raise_for_status()
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="eu-west-2")
    for name in [*TEST_BUCKETS.all(), TEST_CSV_BUCKET, TEST_PRINT_BUCKET]:
        client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
    return client


@pytest.fixture
def letter_buckets() -> LetterBuckets:
    return TEST_BUCKETS


@pytest.fixture
def resources(database_url, s3_endpoint, s3_client) -> dict:
    """The Dagster resources, as base_resources() names them, on the test database and the test S3 server."""
    return {
        "notify_db": NotifyDatabase(url=database_url),
        "s3": S3Resource(endpoint_url=s3_endpoint, region_name="eu-west-2"),
        "letter_buckets": LetterBucketsResource(
            letters_pdf=TEST_BUCKETS.letters_pdf,
            letters_scan=TEST_BUCKETS.letters_scan,
            invalid_pdf=TEST_BUCKETS.invalid_pdf,
            test_letters=TEST_BUCKETS.test_letters,
        ),
        "csv_upload_bucket": CsvUploadBucketResource(name=TEST_CSV_BUCKET),
        "letters_print_bucket": LettersPrintBucketResource(name=TEST_PRINT_BUCKET),
    }


@pytest.fixture(scope="module")
def dagster_storage_url():
    """A PostgreSQL database for a Dagster instance, as dagster.yaml configures every deployment: one per module."""
    url = create_database("dagster_test")
    yield url
    drop_database(url)


@pytest.fixture
def postgres_instance(dagster_storage_url):
    """A Dagster instance on that database, emptied for each test: runs, schedules and ticks, and the key-value store
    the sensors keep their state in."""
    import dagster as dg

    with dg.instance_for_test(overrides={"storage": {"postgres": {"postgres_url": dagster_storage_url}}}) as instance:
        instance.wipe()
        instance.wipe_all_schedules()
        with instance.run_storage.connect() as conn:
            conn.execute(sa.text("DELETE FROM kvs"))
        yield instance


from notify_pipelines_tests.http_recorder import http_recorder  # noqa: E402,F401  (fixture for callbacks and webhooks)
