"""The API's settings, read once from the environment (through notify_pipelines.settings) or given by tests."""

from __future__ import annotations

from dataclasses import dataclass

from notify_pipelines import settings
from notify_pipelines.settings import LetterBuckets

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
        api = settings.api_settings()
        defaults = cls.__dataclass_fields__
        return cls(
            database_url=settings.database_url(),
            s3_endpoint_url=settings.s3_endpoint_url(),
            buckets=LetterBuckets.from_env(),
            admin_token=settings.admin_token(),
            signing_key=api.signing_key or DEVELOPMENT_SIGNING_KEY,
            cache_ttl_seconds=defaults["cache_ttl_seconds"].default if api.cache_ttl_seconds is None
            else api.cache_ttl_seconds,
            max_body_bytes=defaults["max_body_bytes"].default if api.max_body_bytes is None else api.max_body_bytes,
            workers=defaults["workers"].default if api.workers is None else api.workers,
            access_log=api.access_log,
            redis_url=api.redis_url,
        )
