"""The API's settings, read once from the environment (through notify_pipelines.core.settings) or given by tests."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from notify_pipelines.core import settings
from notify_pipelines.core.settings import LetterBuckets

# Only for development: without NOTIFY_API_SIGNING_KEY the stored API key secrets are signed with this (and a
# warning is logged at start-up). Signing makes the stored value tamper-evident; it is not encryption.
DEVELOPMENT_SIGNING_KEY = "notify-pipelines-development-signing-key"


@dataclass(frozen=True)
class ApiConfig:
    database_url: str
    s3_endpoint_url: str | None
    buckets: LetterBuckets
    admin_token: str | None
    signing_key: str = DEVELOPMENT_SIGNING_KEY
    cache_ttl_seconds: float = 5.0  # services, keys and templates cached per process (admin writes invalidate)
    max_body_bytes: int = 5 * 1024 * 1024  # precompiled letters are base64 PDFs; anything bigger is refused (413)
    workers: int = 1  # without Redis, the per-service rate limit is split between this machine's worker processes
    access_log: bool = True
    redis_url: str | None = None  # rate and daily limits shared by every API process (NOTIFY_REDIS_URL)
    max_header_bytes: int = 16 * 1024  # all request headers together; more is refused (431) before any decoding

    @classmethod
    def from_env(cls) -> "ApiConfig":
        set_in_env = {k: v for k, v in dataclasses.asdict(settings.api_settings()).items() if v is not None}
        return cls(
            database_url=settings.database_url(),
            s3_endpoint_url=settings.s3_endpoint_url(),
            buckets=LetterBuckets.from_env(),
            admin_token=settings.admin_token(),
            **set_in_env,  # what is unset keeps the default above
        )
