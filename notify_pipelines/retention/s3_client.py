"""The S3 client retention deletes letter PDFs with: the S3 resource's settings, with bounded timeouts and retries.

botocore's defaults (60 s to connect, 60 s to read, 5 attempts) make one call to an unreachable endpoint take up to
ten minutes, and a batch makes thousands. Retention can afford to give up quickly: a letter whose PDF could not be
deleted stays in `notifications` and the next run tries again. Only retention uses this client; the sensors and
repairs keep dagster-aws's own.
"""

from __future__ import annotations

import boto3
from botocore.config import Config
from botocore.handlers import disable_signing
from dagster_aws.s3 import S3Resource

from notify_pipelines.retention.letter_files import LOOKUP_THREADS

RETENTION_S3_CONFIG = Config(
    connect_timeout=3,  # seconds; S3 answers a connect in milliseconds
    read_timeout=10,  # a DeleteObjects of 1,000 keys takes a second or two
    retries={"mode": "standard", "total_max_attempts": 2},  # one retry, with standard mode's jittered backoff
    max_pool_connections=LOOKUP_THREADS,  # one connection per lookup thread (botocore's default pool is 10)
)

_CLIENTS: dict[str, object] = {}


def retention_s3_client(s3: S3Resource):
    """One client per S3 configuration for the life of the process (making one costs 125 ms or more); boto3
    clients are thread-safe."""
    key = s3.model_dump_json()
    if key not in _CLIENTS:
        session = boto3.session.Session(profile_name=s3.profile_name)
        client = session.client(
            "s3", region_name=s3.region_name, endpoint_url=s3.endpoint_url, use_ssl=s3.use_ssl, verify=s3.verify,
            aws_access_key_id=s3.aws_access_key_id, aws_secret_access_key=s3.aws_secret_access_key,
            aws_session_token=s3.aws_session_token, config=RETENTION_S3_CONFIG,
        )
        if s3.use_unsigned_session:
            client.meta.events.register("choose-signer.s3.*", disable_signing)
        _CLIENTS[key] = client
    return _CLIENTS[key]
