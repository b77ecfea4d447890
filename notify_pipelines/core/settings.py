"""Environment -> typed settings. The one place that reads the contract's environment variables.

`Settings` declares every variable once (name, type, default, check); `settings()` builds it from the current
environment, validated as a whole, and any bad value stops the caller with one line (ConfigError). The functions
below it are thin accessors that the rest of the package calls."""

from __future__ import annotations

import datetime as dt
import functools
import os
from dataclasses import dataclass

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConfigError(RuntimeError):
    """A setting is missing or malformed. The CLI prints it as one line and exits non-zero."""


# Where these variables are blank they count as unset, except the ack prefix, whose "" means the bucket's root.
BLANK_IS_A_VALUE = {"print_ack_prefix"}
TRUE_WORDS = ("1", "true", "yes")
FALSE_WORDS = ("0", "false", "no")


def normalise_database_url(url: str) -> str:
    """NOTIFY_DATABASE_URL, normalised to the psycopg2 driver (SQLAlchemy 2.1 maps bare postgresql:// to psycopg 3)."""
    for bare in ("postgresql://", "postgres://"):
        if url.startswith(bare):
            return "postgresql+psycopg2://" + url[len(bare):]
    if not url.startswith("postgresql+psycopg2://"):
        raise ConfigError(f"NOTIFY_DATABASE_URL must be a postgresql+psycopg2:// URL, got scheme {url.split(':', 1)[0]!r}")
    return url


def _freshness_hours(value: str) -> tuple[dt.time, dt.time]:
    try:
        start, end = (dt.time.fromisoformat(part.strip()) for part in value.split("-"))
    except ValueError:
        raise ValueError(f"NOTIFY_SOURCE_FRESHNESS_HOURS must be HH:MM-HH:MM (London time), got {value!r}") from None
    if not start < end:
        raise ValueError(f"NOTIFY_SOURCE_FRESHNESS_HOURS must start before it ends, got {value!r}")
    return start, end


class Settings(BaseSettings):
    """Every NOTIFY_* variable (and AWS_DEFAULT_REGION) of /work/shared/spec/contract.md and docs/configuration.md."""

    model_config = SettingsConfigDict(env_prefix="NOTIFY_", extra="ignore", frozen=True)

    database_url: str | None = None  # required by what uses the database: database_url() says so in one line
    s3_endpoint_url: str | None = None
    # The buckets, declared here once: the Dagster resources and LetterBuckets take their names and defaults from these.
    letters_pdf_bucket: str = "development-letters-pdf"
    letters_scan_bucket: str = "development-letters-scan"
    letters_invalid_pdf_bucket: str = "development-letters-invalid-pdf"
    test_letters_bucket: str = "development-test-letters"
    csv_upload_bucket: str = "development-csv-upload"  # services' bulk-job CSVs (reference §1.11)
    letters_print_bucket: str = "development-letters-print"  # print files (ZIPs and manifests) for DVLA
    # notification_history's deep archive: Parquet files, key created_at_date_hour=YYYY-MM-DDTHH/<name>.parquet
    deep_archive_bucket: str = "development-notification-deep-history"
    print_ack_bucket: str = "development-dvla-response"  # the printer's acknowledgement files
    print_ack_prefix: str = "root/dispatch/"  # where the reference's printer wrote its .ACK.txt files
    deep_archive_after_days: int = 365  # the reference's NOTIFICATION_DEEP_HISTORY_MIN_AGE_DAYS
    partitions_start: str = "2016-01-01"
    celery_broker_url: str | None = None
    celery_backend_url: str | None = None
    celery_worker_lost_seconds: float = 60.0
    celery_visibility_timeout: float = 3600.0
    step_retry_delay_seconds: float = 5.0  # the nightly steps' retry backoff base (orchestration/retries.py)
    admin_token: SecretStr | None = None
    api_url: str = "http://127.0.0.1:6011"
    aws_region: str = Field("eu-west-2", validation_alias="AWS_DEFAULT_REGION")
    alerts_enabled: bool = False
    alerts_environment: str = "development"
    ui_base_url: str = "http://localhost:3000"
    alerts_slack_channel: str | None = None
    alerts_slack_token: SecretStr | None = None
    alerts_webhook_url: SecretStr | None = None
    api_signing_key: SecretStr | None = None  # unset: the API signs with its development key and warns
    api_cache_ttl: float = 5.0  # services, keys and templates cached per API process (admin writes invalidate)
    api_max_body_bytes: int = 5 * 1024 * 1024  # precompiled letters are base64 PDFs; anything bigger is refused (413)
    api_workers: int = 1  # without Redis, the per-service rate limit is split between this machine's workers
    api_access_log: bool = True
    redis_url: str | None = None  # rate and daily limits shared by every API process
    run_retention_days: int = 90
    source_freshness_hours: str = "08:00-22:00"
    source_freshness_window_minutes: int = 60

    @classmethod
    def env_name(cls, field: str) -> str:
        alias = cls.model_fields[field].validation_alias
        return alias if isinstance(alias, str) else f"NOTIFY_{field.upper()}"

    @classmethod
    def default(cls, field: str):
        """A field's default, for the Dagster resources and the API's config to use as theirs."""
        return cls.model_fields[field].default

    @model_validator(mode="before")
    @classmethod
    def _blank_is_unset(cls, values):
        return {k: (v.strip() if isinstance(v, str) and k not in BLANK_IS_A_VALUE else v) for k, v in values.items()
                if k in BLANK_IS_A_VALUE or not (isinstance(v, str) and not v.strip())}

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        return None if value is None else normalise_database_url(value)

    @field_validator("print_ack_prefix")
    @classmethod
    def _folder(cls, value: str) -> str:
        prefix = value.strip().lstrip("/")
        return prefix if not prefix or prefix.endswith("/") else prefix + "/"

    @field_validator("api_url", "ui_base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("deep_archive_after_days", "run_retention_days", mode="before")
    @classmethod
    def _days(cls, value, info):
        if isinstance(value, str) and not (value.isdigit() and int(value) >= 1):
            raise ValueError(f"{cls.env_name(info.field_name)} must be a whole number of days (1 or more), "
                             f"got {value!r}")
        return value

    @field_validator("source_freshness_window_minutes", mode="before")
    @classmethod
    def _minutes(cls, value):
        if isinstance(value, str) and not (value.isdigit() and int(value) >= 1):
            raise ValueError(f"NOTIFY_SOURCE_FRESHNESS_WINDOW_MINUTES must be a whole number of minutes (1 or more), "
                             f"got {value!r}")
        return value

    @field_validator("celery_worker_lost_seconds", "celery_visibility_timeout", "step_retry_delay_seconds",
                     mode="before")
    @classmethod
    def _positive_seconds(cls, value, info):
        try:
            seconds = float(value)
        except ValueError:
            seconds = 0.0
        if not seconds > 0:
            raise ValueError(f"{cls.env_name(info.field_name)} must be a number of seconds above 0, got {value!r}")
        return seconds

    @field_validator("api_cache_ttl", "api_max_body_bytes", "api_workers", mode="before")
    @classmethod
    def _number(cls, value, info):
        kind = int if cls.model_fields[info.field_name].annotation is int else float
        try:
            return kind(value)
        except ValueError:
            raise ValueError(f"{cls.env_name(info.field_name)} must be a number, got {value!r}") from None

    @field_validator("alerts_enabled", mode="before")
    @classmethod
    def _on_when_said(cls, value):
        return value.lower() in TRUE_WORDS if isinstance(value, str) else value

    @field_validator("api_access_log", mode="before")
    @classmethod
    def _on_unless_said(cls, value):
        return value.lower() not in FALSE_WORDS if isinstance(value, str) else value

    @field_validator("partitions_start")
    @classmethod
    def _iso_date(cls, value: str) -> str:
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"NOTIFY_PARTITIONS_START must be YYYY-MM-DD, got {value!r}") from None
        return value

    @field_validator("source_freshness_hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        _freshness_hours(value)
        return value


@functools.lru_cache(maxsize=8)
def _settings_of(environment: tuple[tuple[str, str], ...]) -> Settings:
    # `environment` is the cache key only: Settings() reads the same variables from os.environ itself.
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError("; ".join(_one_line(error) for error in exc.errors())) from None


def settings() -> Settings:
    """The settings of the current environment. Read when asked (tests change the environment between calls), and
    built once per distinct set of our variables, so a sensor tick or a request pays a dictionary scan."""
    return _settings_of(tuple(sorted((k, v) for k, v in os.environ.items()
                                if k.upper().startswith("NOTIFY_") or k.upper() == "AWS_DEFAULT_REGION")))


def _one_line(error) -> str:
    if error["type"] == "value_error":
        return str(error["ctx"]["error"])
    field = error["loc"][0] if error["loc"] else ""
    name = Settings.env_name(field) if field in Settings.model_fields else str(field)
    return f"{name}: {error['msg']}, got {error['input']!r}"


def _secret(value: SecretStr | None) -> str | None:
    return None if value is None else value.get_secret_value()


# ---- accessors (every other module reads the environment through these) --------------------------------------------


def database_url() -> str:
    url = settings().database_url
    if url is None:
        raise ConfigError(
            "NOTIFY_DATABASE_URL is not set: set it to a SQLAlchemy URL such as "
            "postgresql+psycopg2://postgres@127.0.0.1:5432/notify (or run `notify-pipelines dev`)"
        )
    return url


def s3_endpoint_url() -> str | None:
    return settings().s3_endpoint_url


def csv_upload_bucket() -> str:
    """NOTIFY_CSV_UPLOAD_BUCKET: where a job's CSV lives, key service-<service_id>-notify/<job_id>.csv."""
    return settings().csv_upload_bucket


def letters_print_bucket() -> str:
    """NOTIFY_LETTERS_PRINT_BUCKET: where collate_letters_for_print writes the print files for DVLA."""
    return settings().letters_print_bucket


def deep_archive_bucket() -> str:
    """NOTIFY_DEEP_ARCHIVE_BUCKET: where deep_archive_notification_history writes notification_history's old hours."""
    return settings().deep_archive_bucket


def deep_archive_after_days() -> int:
    """NOTIFY_DEEP_ARCHIVE_AFTER_DAYS: notification_history hours older than this many days go to the deep archive."""
    return settings().deep_archive_after_days


def print_ack_bucket() -> str:
    """NOTIFY_PRINT_ACK_BUCKET: where the printer writes an acknowledgement file for each print file it received."""
    return settings().print_ack_bucket


def print_ack_prefix() -> str:
    """NOTIFY_PRINT_ACK_PREFIX: the folder of the acknowledgement files in that bucket ("" for the bucket's root)."""
    return settings().print_ack_prefix


@dataclass(frozen=True)
class LetterBuckets:
    letters_pdf: str
    letters_scan: str
    invalid_pdf: str
    test_letters: str

    @classmethod
    def from_env(cls) -> "LetterBuckets":
        current = settings()
        return cls(current.letters_pdf_bucket, current.letters_scan_bucket, current.letters_invalid_pdf_bucket,
                   current.test_letters_bucket)

    def all(self) -> list[str]:
        return [self.letters_pdf, self.letters_scan, self.invalid_pdf, self.test_letters]


def partitions_start() -> str:
    return settings().partitions_start


def celery_broker_url() -> str | None:
    """NOTIFY_CELERY_BROKER_URL (redis://, amqp://, sqs://): when set, nightly_retention's steps go to Celery workers."""
    return settings().celery_broker_url


def celery_backend_url(broker: str) -> str:
    """NOTIFY_CELERY_BACKEND_URL, else the broker itself for Redis and rpc:// (replies over the broker) for AMQP.
    SQS carries no replies: it needs one (e.g. redis://... or db+postgresql+psycopg2://...)."""
    backend = settings().celery_backend_url
    if backend:
        return backend
    if broker.startswith(("redis://", "rediss://")):
        return broker
    if broker.startswith("sqs://"):
        raise ConfigError("NOTIFY_CELERY_BROKER_URL is an SQS URL: set NOTIFY_CELERY_BACKEND_URL too (SQS carries no "
                          "results), e.g. db+postgresql+psycopg2://... or redis://...")
    return "rpc://"


def celery_worker_lost_seconds() -> float:
    """NOTIFY_CELERY_WORKER_LOST_SECONDS (default 60): a running step whose Celery worker has answered no ping for this
    long is submitted again; when no worker of the run's queue has answered for this long, the run fails."""
    return settings().celery_worker_lost_seconds


def celery_visibility_timeout() -> float:
    """NOTIFY_CELERY_VISIBILITY_TIMEOUT (default 3600): on Redis and SQS, how long after delivery an unacknowledged
    step's message goes back to the queue. Must exceed the longest step (docs/workers-and-faults.md)."""
    return settings().celery_visibility_timeout


def step_retry_delay_seconds() -> float:
    """NOTIFY_STEP_RETRY_DELAY_SECONDS (default 5): the base of a nightly step's retry backoff; the waits are
    1, 3, 7 and 15 times it. The tests shorten it: their failing steps would otherwise wait two minutes each."""
    return settings().step_retry_delay_seconds


def admin_token() -> str | None:
    return _secret(settings().admin_token)


def api_signing_key() -> str | None:
    return _secret(settings().api_signing_key)


def api_url() -> str:
    """NOTIFY_API_URL: where programs reach the API (`notify-pipelines dev` writes its own to .env)."""
    return settings().api_url


def is_set(name: str) -> bool:
    """Whether an optional variable is set (non-empty). Resources use it to choose between dg.EnvVar(name), which fails
    at launch when unset, and a default; secrets stay EnvVars so their values are never shown in the UI."""
    return bool(os.environ.get(name))


def aws_region() -> str:
    return settings().aws_region


@dataclass(frozen=True)
class AlertSettings:
    """NOTIFY_ALERTS_* and NOTIFY_UI_BASE_URL. The secrets' values are not handed out here, only whether they are set."""

    enabled: bool
    environment: str
    ui_base_url: str
    slack_channel: str | None
    slack_token_set: bool
    webhook_url_set: bool


def alert_settings() -> AlertSettings:
    current = settings()
    return AlertSettings(
        enabled=current.alerts_enabled,
        environment=current.alerts_environment,
        ui_base_url=current.ui_base_url,
        slack_channel=current.alerts_slack_channel,
        slack_token_set=current.alerts_slack_token is not None,
        webhook_url_set=current.alerts_webhook_url is not None,
    )


def set_api_workers_for_child_processes(workers: int) -> None:
    """`notify-pipelines api --workers N`: uvicorn's worker processes build the app through a factory that takes no
    arguments, so the number reaches them the one way they inherit, as NOTIFY_API_WORKERS (the rate limit is split
    between them)."""
    os.environ["NOTIFY_API_WORKERS"] = str(workers)


def run_retention_days() -> int:
    """NOTIFY_RUN_RETENTION_DAYS: Dagster run records older than this are deleted nightly (default 90)."""
    return settings().run_retention_days


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
    current = settings()
    start, end = _freshness_hours(current.source_freshness_hours)
    return SourceFreshnessSettings(start, end, dt.timedelta(minutes=current.source_freshness_window_minutes))
