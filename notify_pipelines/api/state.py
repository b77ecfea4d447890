"""What one API process holds, behind one seam the routes call: the engine, the per-process caches of services'
credentials and templates, the limits, the group-commit writer and the S3 client."""

from __future__ import annotations

import asyncio
import uuid

import boto3
import sqlalchemy as sa
from starlette.concurrency import run_in_threadpool

from notify_pipelines.api import auth
from notify_pipelines.api.async_writer import GroupCommitWriter
from notify_pipelines.api.cache import TtlCache
from notify_pipelines.api.config import ApiConfig
from notify_pipelines.api.limits import Limits
from notify_pipelines.db.engine import get_engine
from notify_pipelines.notifications import store


class ApiState:
    def __init__(self, config: ApiConfig):
        self.config = config
        self.engine: sa.Engine = get_engine(config.database_url)
        self.services: TtlCache = TtlCache(config.cache_ttl_seconds)
        self.templates: TtlCache = TtlCache(config.cache_ttl_seconds)
        self.limits = Limits(self.engine, config.redis_url, config.workers)
        self.writer = GroupCommitWriter(config.database_url)
        self._s3 = None
        self._loading: dict = {}

    @property
    def s3(self):
        if self._s3 is None:
            self._s3 = boto3.client("s3", endpoint_url=self.config.s3_endpoint_url)
        return self._s3

    def close(self) -> None:
        self.writer.close()

    async def in_transaction(self, fn, *args):
        """The one transaction helper: `fn(conn, *args)` in a transaction on a thread-pool thread."""

        def run():
            with self.engine.begin() as conn:
                return fn(conn, *args)

        return await run_in_threadpool(run)

    async def read(self, statement: sa.Executable) -> list[sa.Row]:
        def run():
            with self.engine.connect() as conn:
                return conn.execute(statement).all()

        return await run_in_threadpool(run)

    async def write_notification(self, row: dict) -> None:
        """Returns once the row is committed (group commit); raises the database error otherwise."""
        await self.writer.insert(row)

    async def service_credentials(self, service_id: uuid.UUID):
        """(service, {key id: HS256 key, ready to verify with}) from the cache, or from the database on a miss."""

        def load():
            service = store.load_service_credentials(self.engine, service_id)
            if service is None:
                return None, {}
            return service, {k.id: auth.prepared_key(k.signed_secret, self.config.signing_key)
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

    async def forget_service(self, service_id: uuid.UUID) -> None:
        """After an admin write: this process reads the service, its keys and templates afresh."""
        self.services.invalidate(lambda k: k == service_id)
        self.templates.invalidate(lambda k: k[0] == service_id)
        await self.limits.forget_service(service_id)
