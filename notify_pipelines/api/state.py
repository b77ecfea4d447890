"""What one API process holds: the engine, caches, rate and daily limits, group-commit writer and S3 client.

Routes reach it with `get_state(request)`; every v2 endpoint starts with `await authenticate(request)`.
"""

from __future__ import annotations

import asyncio
import uuid

import boto3
import sqlalchemy as sa
from fastapi import Request
from starlette.concurrency import run_in_threadpool

from notify_pipelines.api import auth
from notify_pipelines.notifications import store
from notify_pipelines.api.async_writer import GroupCommitWriter
from notify_pipelines.api.cache import TtlCache
from notify_pipelines.api.config import ApiConfig
from notify_pipelines.api.daily_limits import DailyLimits
from notify_pipelines.api.errors import ApiError
from notify_pipelines.api.rate_limit import TokenBuckets
from notify_pipelines.api.writer import DirectWriter
from notify_pipelines.db.engine import get_engine


class ApiState:
    def __init__(self, config: ApiConfig):
        self.config = config
        self.engine: sa.Engine = get_engine(config.database_url)
        self.services: TtlCache = TtlCache(config.cache_ttl_seconds)
        self.templates: TtlCache = TtlCache(config.cache_ttl_seconds)
        self.rate_limits = TokenBuckets(workers=config.workers)
        self.daily_limits = DailyLimits(self.engine)
        self.writer = GroupCommitWriter(config.database_url) if config.group_commit else DirectWriter(self.engine)
        self._s3 = None
        self._loading: dict = {}

    @property
    def s3(self):
        if self._s3 is None:
            self._s3 = boto3.client("s3", endpoint_url=self.config.s3_endpoint_url)
        return self._s3

    def close(self) -> None:
        self.writer.close()

    async def service_credentials(self, service_id: uuid.UUID):
        """(service, {key id: secret}) from the cache, or from the database on a miss."""

        def load():
            service = store.load_service_credentials(self.engine, service_id)
            if service is None:
                return None, {}
            return service, {k.id: auth.unsign_secret(k.signed_secret, self.config.signing_key)
                             for k in service.api_keys}

        return await self._cached(self.services, service_id, load)

    async def template(self, service_id: uuid.UUID, template_id: uuid.UUID) -> store.Template | None:
        return await self._cached(self.templates, (service_id, template_id),
                                  lambda: store.load_template(self.engine, service_id, template_id))

    async def _cached(self, cache: TtlCache, key, load):
        """A hit, or one database load per key however many requests miss at once (no stampede when an entry
        expires under load: the others wait for the same load)."""
        hit, value = cache.get(key)
        if hit:
            return value
        pending = self._loading.get((id(cache), key))
        if pending is not None:
            return await asyncio.shield(pending)
        pending = asyncio.get_running_loop().create_future()
        self._loading[(id(cache), key)] = pending
        try:
            value = await run_in_threadpool(load)
            cache.put(key, value)
            pending.set_result(value)
            return value
        except BaseException as exc:
            pending.set_exception(exc)
            pending.exception()  # mark retrieved: the waiters (if any) raise it themselves
            raise
        finally:
            del self._loading[(id(cache), key)]

    def forget_service(self, service_id: uuid.UUID) -> None:
        """After an admin write: this process reads the service, its keys and templates afresh."""
        self.services.invalidate(lambda k: k == service_id)
        self.daily_limits.forget_service(service_id)
        self.templates.invalidate(lambda k: k[0] == service_id)


def get_state(request: Request) -> ApiState:
    return request.app.state.api


async def authenticate(request: Request) -> auth.ApiUser:
    """The v2 auth dependency: a service JWT checked against the service's keys."""
    state: ApiState = request.app.state.api
    unverified = auth.read_bearer_token(request.headers.get("authorization"))
    service, secrets = await state.service_credentials(unverified.service_id)
    return auth.verify_service_token(unverified, service, secrets)


def check_rate_limit(state: ApiState, user: auth.ApiUser) -> None:
    """Reference: services.rate_limit requests per 60 s, per service and key type, for sending requests."""
    service = user.service
    if not state.rate_limits.allow((service.id, user.key_type), service.rate_limit):
        raise ApiError(
            429,
            "RateLimitError",
            f"Exceeded rate limit for key type {user.key_type.upper()} of {service.rate_limit} requests per 60 seconds",
        )
