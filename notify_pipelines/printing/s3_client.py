"""The S3 client of the print collation: the S3 resource's settings, a connection per PDF-reading thread, bounded
timeouts. A run that fails on S3 is simply run again (collate.py settles what it left).

The read timeout bounds how long a write may still take after its last byte went, which a hand-over must leave
inside its lease (core/s3_deadlines.py): a short lease (tests) gets a shorter read timeout."""

from __future__ import annotations

import functools

from botocore.config import Config
from dagster_aws.s3 import S3Resource

from notify_pipelines.orchestration.resources import shared_s3_client
from notify_pipelines.printing.collate import DEFAULT_LEASE_SECONDS, FETCH_THREADS

READ_TIMEOUT_SECONDS = 60  # a 40 MB ZIP upload is one request
LEASE_PER_READ_TIMEOUT = 5  # the lease is at least this many read timeouts long


@functools.cache
def print_s3_config(lease_seconds: float = DEFAULT_LEASE_SECONDS) -> Config:
    """One Config per lease length (shared_s3_client keeps a client per Config object)."""
    return Config(
        connect_timeout=5,
        read_timeout=max(1, min(READ_TIMEOUT_SECONDS, int(lease_seconds // LEASE_PER_READ_TIMEOUT))),
        retries={"mode": "standard", "total_max_attempts": 3},
        max_pool_connections=FETCH_THREADS + 4,
    )


def print_s3_client(s3: S3Resource, lease_seconds: float = DEFAULT_LEASE_SECONDS):
    """The S3 resource's client with print_s3_config(lease_seconds), one per process (boto3 clients are
    thread-safe)."""
    return shared_s3_client(s3, print_s3_config(lease_seconds))
