"""Environment -> typed settings. The one place that reads the contract's environment variables."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass


class ConfigError(RuntimeError):
    """A setting is missing or malformed. The CLI prints it as one line and exits non-zero."""


DEFAULT_BUCKETS = {
    "NOTIFY_LETTERS_PDF_BUCKET": "development-letters-pdf",
    "NOTIFY_LETTERS_SCAN_BUCKET": "development-letters-scan",
    "NOTIFY_LETTERS_INVALID_PDF_BUCKET": "development-letters-invalid-pdf",
    "NOTIFY_TEST_LETTERS_BUCKET": "development-test-letters",
    "NOTIFY_CSV_UPLOAD_BUCKET": "development-csv-upload",  # services' bulk-job CSVs (reference §1.11)
    "NOTIFY_LETTERS_PRINT_BUCKET": "development-letters-print",  # print files (ZIPs and manifests) for DVLA
    # notification_history's deep archive: Parquet files, key created_at_date_hour=YYYY-MM-DDTHH/<name>.parquet
    "NOTIFY_DEEP_ARCHIVE_BUCKET": "development-notification-deep-history",
    "NOTIFY_PRINT_ACK_BUCKET": "development-dvla-response",  # the printer's acknowledgement files
}
DEFAULT_DEEP_ARCHIVE_AFTER_DAYS = 365  # the reference's NOTIFICATION_DEEP_HISTORY_MIN_AGE_DAYS
DEFAULT_PRINT_ACK_PREFIX = "root/dispatch/"  # where the reference's printer wrote its .ACK.txt files
DEFAULT_SOURCE_FRESHNESS_HOURS = "08:00-22:00"
DEFAULT_SOURCE_FRESHNESS_WINDOW_MINUTES = 60
DEFAULT_PARTITIONS_START = "2016-01-01"


def database_url() -> str:
    """NOTIFY_DATABASE_URL, normalised to the psycopg2 driver (SQLAlchemy 2.1 maps bare postgresql:// to psycopg 3)."""
    url = os.environ.get("NOTIFY_DATABASE_URL", "").strip()
    if not url:
        raise ConfigError(
            "NOTIFY_DATABASE_URL is not set: set it to a SQLAlchemy URL such as "
            "postgresql+psycopg2://postgres@127.0.0.1:5432/notify (or run `notify-pipelines dev`)"
        )
    return normalise_database_url(url)


def normalise_database_url(url: str) -> str:
    for bare in ("postgresql://", "postgres://"):
        if url.startswith(bare):
            return "postgresql+psycopg2://" + url[len(bare):]
    if not url.startswith("postgresql+psycopg2://"):
        raise ConfigError(f"NOTIFY_DATABASE_URL must be a postgresql+psycopg2:// URL, got scheme {url.split(':', 1)[0]!r}")
    return url


def s3_endpoint_url() -> str | None:
    return os.environ.get("NOTIFY_S3_ENDPOINT_URL") or None


def bucket(env_name: str) -> str:
    return os.environ.get(env_name) or DEFAULT_BUCKETS[env_name]


def csv_upload_bucket() -> str:
    """NOTIFY_CSV_UPLOAD_BUCKET: where a job's CSV lives, key service-<service_id>-notify/<job_id>.csv."""
    return bucket("NOTIFY_CSV_UPLOAD_BUCKET")


def letters_print_bucket() -> str:
    """NOTIFY_LETTERS_PRINT_BUCKET: where collate_letters_for_print writes the print files for DVLA."""
    return bucket("NOTIFY_LETTERS_PRINT_BUCKET")


def deep_archive_bucket() -> str:
    """NOTIFY_DEEP_ARCHIVE_BUCKET: where deep_archive_notification_history writes notification_history's old hours."""
    return bucket("NOTIFY_DEEP_ARCHIVE_BUCKET")


def deep_archive_after_days() -> int:
    """NOTIFY_DEEP_ARCHIVE_AFTER_DAYS: notification_history hours older than this many days go to the deep archive."""
    value = os.environ.get("NOTIFY_DEEP_ARCHIVE_AFTER_DAYS") or str(DEFAULT_DEEP_ARCHIVE_AFTER_DAYS)
    if not value.isdigit() or int(value) < 1:
        raise ConfigError(f"NOTIFY_DEEP_ARCHIVE_AFTER_DAYS must be a whole number of days (1 or more), got {value!r}")
    return int(value)


def print_ack_bucket() -> str:
    """NOTIFY_PRINT_ACK_BUCKET: where the printer writes an acknowledgement file for each print file it received."""
    return bucket("NOTIFY_PRINT_ACK_BUCKET")


def print_ack_prefix() -> str:
    """NOTIFY_PRINT_ACK_PREFIX: the folder of the acknowledgement files in that bucket ("" for the bucket's root)."""
    value = os.environ.get("NOTIFY_PRINT_ACK_PREFIX")
    prefix = DEFAULT_PRINT_ACK_PREFIX if value is None else value.strip().lstrip("/")
    return prefix if not prefix or prefix.endswith("/") else prefix + "/"


@dataclass(frozen=True)
class LetterBuckets:
    letters_pdf: str
    letters_scan: str
    invalid_pdf: str
    test_letters: str

    @classmethod
    def from_env(cls) -> "LetterBuckets":
        return cls(
            letters_pdf=bucket("NOTIFY_LETTERS_PDF_BUCKET"),
            letters_scan=bucket("NOTIFY_LETTERS_SCAN_BUCKET"),
            invalid_pdf=bucket("NOTIFY_LETTERS_INVALID_PDF_BUCKET"),
            test_letters=bucket("NOTIFY_TEST_LETTERS_BUCKET"),
        )

    def all(self) -> list[str]:
        return [self.letters_pdf, self.letters_scan, self.invalid_pdf, self.test_letters]


def partitions_start() -> str:
    value = os.environ.get("NOTIFY_PARTITIONS_START") or DEFAULT_PARTITIONS_START
    try:
        dt.date.fromisoformat(value)
    except ValueError as exc:
        raise ConfigError(f"NOTIFY_PARTITIONS_START must be YYYY-MM-DD, got {value!r}") from exc
    return value


def celery_broker_url() -> str | None:
    """NOTIFY_CELERY_BROKER_URL (redis://, amqp://, sqs://): when set, nightly_retention's steps go to Celery workers."""
    return os.environ.get("NOTIFY_CELERY_BROKER_URL", "").strip() or None


def celery_backend_url(broker: str) -> str:
    """NOTIFY_CELERY_BACKEND_URL, else the broker itself for Redis and rpc:// (replies over the broker) for AMQP.
    SQS carries no replies: it needs one (e.g. redis://... or db+postgresql+psycopg2://...)."""
    backend = os.environ.get("NOTIFY_CELERY_BACKEND_URL", "").strip()
    if backend:
        return backend
    if broker.startswith(("redis://", "rediss://")):
        return broker
    if broker.startswith("sqs://"):
        raise ConfigError("NOTIFY_CELERY_BROKER_URL is an SQS URL: set NOTIFY_CELERY_BACKEND_URL too (SQS carries no "
                          "results), e.g. db+postgresql+psycopg2://... or redis://...")
    return "rpc://"


def _positive_seconds(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if not seconds > 0:
        raise ConfigError(f"{name} must be a number of seconds above 0, got {value!r}")
    return seconds


def celery_worker_lost_seconds() -> float:
    """NOTIFY_CELERY_WORKER_LOST_SECONDS (default 60): a running step whose Celery worker has answered no ping for this
    long is submitted again; when no worker of the run's queue has answered for this long, the run fails."""
    return _positive_seconds("NOTIFY_CELERY_WORKER_LOST_SECONDS", 60.0)


def celery_visibility_timeout() -> float:
    """NOTIFY_CELERY_VISIBILITY_TIMEOUT (default 3600): on Redis and SQS, how long after delivery an unacknowledged
    step's message goes back to the queue. Must exceed the longest step (docs/workers-and-faults.md)."""
    return _positive_seconds("NOTIFY_CELERY_VISIBILITY_TIMEOUT", 3600.0)


def admin_token() -> str | None:
    return os.environ.get("NOTIFY_ADMIN_TOKEN") or None


DEFAULT_API_URL = "http://127.0.0.1:6011"


def api_url() -> str:
    """NOTIFY_API_URL: where programs reach the API (`notify-pipelines dev` writes its own to .env)."""
    return (os.environ.get("NOTIFY_API_URL") or DEFAULT_API_URL).rstrip("/")


# ---- optional values, AWS, alerts and the API (every other module reads the environment through these) -------------


def is_set(name: str) -> bool:
    """Whether an optional variable is set (non-empty). Resources use it to choose between dg.EnvVar(name), which fails
    at launch when unset, and a default; secrets stay EnvVars so their values are never shown in the UI."""
    return bool(os.environ.get(name))


def aws_region() -> str:
    return os.environ.get("AWS_DEFAULT_REGION") or "eu-west-2"


@dataclass(frozen=True)
class AlertSettings:
    """NOTIFY_ALERTS_* and NOTIFY_UI_BASE_URL. The secrets' values are not read here, only whether they are set."""

    enabled: bool
    environment: str
    ui_base_url: str
    slack_channel: str | None
    slack_token_set: bool
    webhook_url_set: bool


def alert_settings() -> AlertSettings:
    return AlertSettings(
        enabled=os.environ.get("NOTIFY_ALERTS_ENABLED", "").strip().lower() in ("1", "true", "yes"),
        environment=os.environ.get("NOTIFY_ALERTS_ENVIRONMENT") or "development",
        ui_base_url=(os.environ.get("NOTIFY_UI_BASE_URL") or "http://localhost:3000").rstrip("/"),
        slack_channel=os.environ.get("NOTIFY_ALERTS_SLACK_CHANNEL") or None,
        slack_token_set=is_set("NOTIFY_ALERTS_SLACK_TOKEN"),
        webhook_url_set=is_set("NOTIFY_ALERTS_WEBHOOK_URL"),
    )


@dataclass(frozen=True)
class ApiSettings:
    """NOTIFY_API_* and NOTIFY_REDIS_URL; None where unset, so api/config.py keeps its own defaults."""

    signing_key: str | None
    cache_ttl_seconds: float | None
    max_body_bytes: int | None
    workers: int | None
    access_log: bool
    redis_url: str | None


def api_settings() -> ApiSettings:
    def number(name: str, kind: type):
        value = os.environ.get(name)
        if not value:
            return None
        try:
            return kind(value)
        except ValueError as exc:
            raise ConfigError(f"{name} must be a number, got {value!r}") from exc

    return ApiSettings(
        signing_key=os.environ.get("NOTIFY_API_SIGNING_KEY") or None,
        cache_ttl_seconds=number("NOTIFY_API_CACHE_TTL", float),
        max_body_bytes=number("NOTIFY_API_MAX_BODY_BYTES", int),
        workers=number("NOTIFY_API_WORKERS", int),
        access_log=os.environ.get("NOTIFY_API_ACCESS_LOG", "1") not in ("0", "false", "no"),
        redis_url=os.environ.get("NOTIFY_REDIS_URL") or None,
    )


def set_api_workers_for_child_processes(workers: int) -> None:
    """`notify-pipelines api --workers N`: uvicorn's worker processes build the app through a factory that takes no
    arguments, so the number reaches them the one way they inherit, as NOTIFY_API_WORKERS (the rate limit is split
    between them)."""
    os.environ["NOTIFY_API_WORKERS"] = str(workers)


def run_retention_days() -> int:
    """NOTIFY_RUN_RETENTION_DAYS: Dagster run records older than this are deleted nightly (default 90)."""
    value = os.environ.get("NOTIFY_RUN_RETENTION_DAYS") or "90"
    if not value.isdigit() or int(value) < 1:
        raise ConfigError(f"NOTIFY_RUN_RETENTION_DAYS must be a whole number of days (1 or more), got {value!r}")
    return int(value)


@dataclass(frozen=True)
class SourceFreshnessSettings:
    """When `notifications` must keep receiving rows: between `start` and `end` London time, at least one row created
    in the last `window`."""

    start: dt.time
    end: dt.time
    window: dt.timedelta


def source_freshness_settings() -> SourceFreshnessSettings:
    """NOTIFY_SOURCE_FRESHNESS_HOURS (London, HH:MM-HH:MM, default 08:00-22:00) and
    NOTIFY_SOURCE_FRESHNESS_WINDOW_MINUTES (default 60)."""
    hours = os.environ.get("NOTIFY_SOURCE_FRESHNESS_HOURS") or DEFAULT_SOURCE_FRESHNESS_HOURS
    minutes = os.environ.get("NOTIFY_SOURCE_FRESHNESS_WINDOW_MINUTES") or str(DEFAULT_SOURCE_FRESHNESS_WINDOW_MINUTES)
    try:
        start, end = (dt.time.fromisoformat(part.strip()) for part in hours.split("-"))
    except ValueError:
        raise ConfigError(f"NOTIFY_SOURCE_FRESHNESS_HOURS must be HH:MM-HH:MM (London time), got {hours!r}") from None
    if not start < end:
        raise ConfigError(f"NOTIFY_SOURCE_FRESHNESS_HOURS must start before it ends, got {hours!r}")
    if not minutes.isdigit() or int(minutes) < 1:
        raise ConfigError(f"NOTIFY_SOURCE_FRESHNESS_WINDOW_MINUTES must be a whole number of minutes (1 or more), "
                          f"got {minutes!r}")
    return SourceFreshnessSettings(start, end, dt.timedelta(minutes=int(minutes)))
