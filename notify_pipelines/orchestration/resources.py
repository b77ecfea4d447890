"""Dagster resources: the notifications database, S3 (dagster-aws's S3Resource), the letter, CSV, print and deep
archive buckets.

Each is a ConfigurableResource fed by EnvVar, so a deployment changes them through its environment alone; their
variables' names and defaults are the fields of core/settings.py's Settings.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import boto3
import dagster as dg
from botocore.config import Config
from botocore.handlers import disable_signing
from dagster_aws.s3 import S3Resource
from sqlalchemy import Connection, Engine

from notify_pipelines.core import settings
from notify_pipelines.core.settings import LetterBuckets, Settings
from notify_pipelines.db.engine import get_engine
from notify_pipelines.orchestration import partition_keys


class NotifyDatabase(dg.ConfigurableResource):
    """The notifications database (NOTIFY_DATABASE_URL)."""

    url: str

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # Every op and asset of a partitioned job requires this resource: a bad partition key stops the run here,
        # before the first op's body runs (orchestration/partition_keys.py).
        partition_keys.check_run(context.dagster_run)

    @property
    def engine(self) -> Engine:
        return get_engine(self.url)

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """One transaction: committed on success, rolled back on any error."""
        with self.engine.begin() as connection:
            yield connection


class LetterBucketsResource(dg.ConfigurableResource):
    """Names of the letter buckets (reference §5.4)."""

    letters_pdf: str = Settings.default("letters_pdf_bucket")
    letters_scan: str = Settings.default("letters_scan_bucket")
    invalid_pdf: str = Settings.default("letters_invalid_pdf_bucket")
    test_letters: str = Settings.default("test_letters_bucket")

    def as_buckets(self) -> LetterBuckets:
        return LetterBuckets(self.letters_pdf, self.letters_scan, self.invalid_pdf, self.test_letters)


class CsvUploadBucketResource(dg.ConfigurableResource):
    """The bucket holding services' bulk-job CSV files (NOTIFY_CSV_UPLOAD_BUCKET)."""

    name: str = Settings.default("csv_upload_bucket")


class LettersPrintBucketResource(dg.ConfigurableResource):
    """The bucket the print collation writes DVLA's print files to (NOTIFY_LETTERS_PRINT_BUCKET)."""

    name: str = Settings.default("letters_print_bucket")


class DeepArchiveBucketResource(dg.ConfigurableResource):
    """The bucket notification_history's deep archive goes to (NOTIFY_DEEP_ARCHIVE_BUCKET)."""

    name: str = Settings.default("deep_archive_bucket")


class PrintAckFilesResource(dg.ConfigurableResource):
    """Where the printer writes its acknowledgement files (NOTIFY_PRINT_ACK_BUCKET, NOTIFY_PRINT_ACK_PREFIX)."""

    bucket: str = Settings.default("print_ack_bucket")
    prefix: str = Settings.default("print_ack_prefix")


_S3_CLIENTS: dict[tuple[str, int], object] = {}


def shared_s3_client(s3: S3Resource, config: Config | None = None):
    """One boto3 client per S3 configuration (and botocore `config`) for the life of the process: making one costs
    125 ms or more (0.5 s on a loaded machine), which a sensor tick or a per-service step should not pay each time.
    boto3 clients are thread-safe and refresh their own credentials. Without `config`, dagster-aws's own client;
    with one (bounded timeouts and retries, a connection pool per thread), the same settings under that config."""
    key = (s3.model_dump_json(), id(config))
    if key not in _S3_CLIENTS:
        _S3_CLIENTS[key] = s3.get_client() if config is None else _client_with_config(s3, config)
    return _S3_CLIENTS[key]


def _client_with_config(s3: S3Resource, config: Config):
    session = boto3.session.Session(profile_name=s3.profile_name)
    client = session.client(
        "s3", region_name=s3.region_name, endpoint_url=s3.endpoint_url, use_ssl=s3.use_ssl, verify=s3.verify,
        aws_access_key_id=s3.aws_access_key_id, aws_secret_access_key=s3.aws_secret_access_key,
        aws_session_token=s3.aws_session_token, config=config,
    )
    if s3.use_unsigned_session:
        client.meta.events.register("choose-signer.s3.*", disable_signing)
    return client


def _env_or_default(field: str) -> str | dg.EnvVar:
    """A Settings field as its variable's EnvVar where set (EnvVar fails at launch when its variable is unset), else
    the field's default."""
    name = Settings.env_name(field)
    return dg.EnvVar(name) if settings.is_set(name) else Settings.default(field)


def s3_resource() -> S3Resource:
    """S3 through dagster-aws, pointed at NOTIFY_S3_ENDPOINT_URL when set (a local S3 server in dev and tests)."""
    kwargs: dict = {"region_name": settings.aws_region()}
    if settings.s3_endpoint_url():
        kwargs["endpoint_url"] = dg.EnvVar(Settings.env_name("s3_endpoint_url"))
    return S3Resource(**kwargs)


def letter_buckets_resource() -> LetterBucketsResource:
    return LetterBucketsResource(
        letters_pdf=_env_or_default("letters_pdf_bucket"),
        letters_scan=_env_or_default("letters_scan_bucket"),
        invalid_pdf=_env_or_default("letters_invalid_pdf_bucket"),
        test_letters=_env_or_default("test_letters_bucket"),
    )


def notify_database() -> NotifyDatabase:
    """The one declaration of the database resource: every domain's `notify_db`, and any resource that needs it."""
    return NotifyDatabase(url=dg.EnvVar(Settings.env_name("database_url")))


def base_resources() -> dict[str, dg.ConfigurableResource]:
    """The resources every domain shares, keyed by the names the assets, ops and sensors ask for."""
    return {
        "notify_db": notify_database(),
        "s3": s3_resource(),
        "letter_buckets": letter_buckets_resource(),
        "csv_upload_bucket": CsvUploadBucketResource(name=_env_or_default("csv_upload_bucket")),
        "letters_print_bucket": LettersPrintBucketResource(name=_env_or_default("letters_print_bucket")),
        "deep_archive_bucket": DeepArchiveBucketResource(name=_env_or_default("deep_archive_bucket")),
        # The prefix is normalised (a trailing "/") by settings, so it is read as a value, not an EnvVar.
        "print_ack_files": PrintAckFilesResource(bucket=_env_or_default("print_ack_bucket"),
                                                 prefix=settings.print_ack_prefix()),
    }
