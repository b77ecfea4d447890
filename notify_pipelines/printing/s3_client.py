"""The S3 client of the print collation: the S3 resource's settings, a connection per PDF-reading thread, bounded
timeouts. A run that fails on S3 is simply run again (collate.py settles what it left)."""

from __future__ import annotations

from botocore.config import Config
from dagster_aws.s3 import S3Resource

from notify_pipelines.orchestration.resources import shared_s3_client
from notify_pipelines.printing.collate import FETCH_THREADS

PRINT_S3_CONFIG = Config(
    connect_timeout=5,
    read_timeout=60,  # a 40 MB ZIP upload is one request
    retries={"mode": "standard", "total_max_attempts": 3},
    max_pool_connections=FETCH_THREADS + 4,
)


def print_s3_client(s3: S3Resource):
    """The S3 resource's client with PRINT_S3_CONFIG, one per process (boto3 clients are thread-safe)."""
    return shared_s3_client(s3, PRINT_S3_CONFIG)
