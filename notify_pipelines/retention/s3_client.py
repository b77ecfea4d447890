"""The S3 client retention deletes letter PDFs with: the S3 resource's settings, with bounded timeouts and retries.

botocore's defaults (60 s to connect, 60 s to read, 5 attempts) make one call to an unreachable endpoint take up to
ten minutes, and a batch makes thousands. Retention can afford to give up quickly: a letter whose PDF could not be
deleted stays in `notifications` (a job's CSV: the job stays unarchived) and the next run tries again. Only the
retention jobs use this client; the sensors and repairs keep dagster-aws's own.
"""

from __future__ import annotations

from botocore.config import Config
from dagster_aws.s3 import S3Resource

from notify_pipelines.orchestration.resources import shared_s3_client
from notify_pipelines.retention.letter_files import LOOKUP_THREADS

RETENTION_S3_CONFIG = Config(
    connect_timeout=3,  # seconds; S3 answers a connect in milliseconds
    read_timeout=10,  # a DeleteObjects of 1,000 keys takes a second or two
    retries={"mode": "standard", "total_max_attempts": 2},  # one retry, with standard mode's jittered backoff
    max_pool_connections=LOOKUP_THREADS,  # one connection per lookup thread (botocore's default pool is 10)
)


def retention_s3_client(s3: S3Resource):
    """The S3 resource's client with RETENTION_S3_CONFIG, one per process (the job-file clean-up uses it too)."""
    return shared_s3_client(s3, RETENTION_S3_CONFIG)
