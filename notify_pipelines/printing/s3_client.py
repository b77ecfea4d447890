"""The S3 client of the print collation: the S3 resource's settings, a connection per PDF-reading thread, bounded
timeouts. A run that fails on S3 is simply run again (collate.py settles what it left)."""

from __future__ import annotations

import boto3
from botocore.config import Config
from botocore.handlers import disable_signing
from dagster_aws.s3 import S3Resource

from notify_pipelines.printing.collate import FETCH_THREADS

PRINT_S3_CONFIG = Config(
    connect_timeout=5,
    read_timeout=60,  # a 40 MB ZIP upload is one request
    retries={"mode": "standard", "total_max_attempts": 3},
    max_pool_connections=FETCH_THREADS + 4,
)

_CLIENTS: dict[str, object] = {}


def print_s3_client(s3: S3Resource):
    """One client per S3 configuration for the life of the process; boto3 clients are thread-safe."""
    key = s3.model_dump_json()
    if key not in _CLIENTS:
        session = boto3.session.Session(profile_name=s3.profile_name)
        client = session.client(
            "s3", region_name=s3.region_name, endpoint_url=s3.endpoint_url, use_ssl=s3.use_ssl, verify=s3.verify,
            aws_access_key_id=s3.aws_access_key_id, aws_secret_access_key=s3.aws_secret_access_key,
            aws_session_token=s3.aws_session_token, config=PRINT_S3_CONFIG,
        )
        if s3.use_unsigned_session:
            client.meta.events.register("choose-signer.s3.*", disable_signing)
        _CLIENTS[key] = client
    return _CLIENTS[key]
