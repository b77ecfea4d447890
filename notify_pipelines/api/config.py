"""The API's view of the settings: built from core/settings.py's Settings once per process, or given by tests."""

from __future__ import annotations

from dataclasses import dataclass

from notify_pipelines.core import settings
from notify_pipelines.core.settings import LetterBuckets, Settings

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
    cache_ttl_seconds: float = Settings.default("api_cache_ttl")
    max_body_bytes: int = Settings.default("api_max_body_bytes")
    workers: int = Settings.default("api_workers")
    access_log: bool = Settings.default("api_access_log")
    redis_url: str | None = Settings.default("redis_url")
    max_header_bytes: int = 16 * 1024  # all request headers together; more is refused (431) before any decoding

    @classmethod
    def from_env(cls) -> "ApiConfig":
        """Fails with one line (ConfigError) if a setting is missing or malformed."""
        current = settings.settings()
        return cls(
            database_url=settings.database_url(),
            s3_endpoint_url=current.s3_endpoint_url,
            buckets=LetterBuckets.from_env(),
            admin_token=settings.admin_token(),
            signing_key=settings.api_signing_key() or DEVELOPMENT_SIGNING_KEY,
            cache_ttl_seconds=current.api_cache_ttl,
            max_body_bytes=current.api_max_body_bytes,
            workers=current.api_workers,
            access_log=current.api_access_log,
            redis_url=current.redis_url,
        )
