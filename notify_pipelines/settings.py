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
}
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


def admin_token() -> str | None:
    return os.environ.get("NOTIFY_ADMIN_TOKEN") or None
