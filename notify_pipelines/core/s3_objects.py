"""What an S3 answer means, for every domain that looks for objects (sensors, retention, print collation).

A missing object is a fact the callers act on (a warning, a confirmed absence); any other error (access, network)
is raised and never taken as missing.
"""

from __future__ import annotations

from botocore.exceptions import ClientError

NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound"})


def is_not_found(error: ClientError) -> bool:
    return str(error.response.get("Error", {}).get("Code")) in NOT_FOUND_CODES


def object_exists(s3_client, bucket: str, key: str) -> bool:
    """HEAD the object: False when S3 says it is not there; any other error is raised."""
    try:
        s3_client.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if is_not_found(error):
            return False
        raise
    return True
