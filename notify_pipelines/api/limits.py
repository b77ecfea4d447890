"""Per-service limits (reference §6.5): `services.rate_limit` requests per 60 s per key type, and the daily
`*_message_limit` per notification type (London days; test keys exempt).

With NOTIFY_REDIS_URL set, both are counted in Redis through the `limits` library (a moving window for the rate,
a counter per service, type and day seeded from the database), so every API process on every machine shares
them, as the reference's Redis does. Without it (development) they are counted in this process: the rate in token
buckets holding limit / workers each, the day's count read from the database and counted on locally in a dict
(plain counters: the `limits` library's in-memory storage takes a lock and schedules expiries on every count, which
the benchmark showed on every send).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from typing import Callable

from limits import RateLimitItemPerMinute
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from starlette.concurrency import run_in_threadpool

from notify_pipelines.core.calendar import local_today, london_midnight
from notify_pipelines.notifications import store
from notify_pipelines.notifications.errors import DailyLimitReached, RateLimited

DAY_KEY_SECONDS = 2 * 24 * 3600  # a day's counter outlives its London day (at most 25 h), then expires


def rate_limit_error(key_type: str, limit: int) -> RateLimited:
    return RateLimited(f"Exceeded rate limit for key type {key_type.upper()} of {limit} requests per 60 seconds")


def daily_limit_error(notification_type: str, limit: int) -> DailyLimitReached:
    return DailyLimitReached(f"Exceeded send limits ({notification_type}: {limit}) for today")


class TokenBuckets:
    """In-process rate limit: one bucket per key holding limit / workers tokens, refilled continuously."""

    def __init__(self, workers: int = 1, clock: Callable[[], float] = time.monotonic):
        self.workers = max(1, workers)
        self.clock = clock
        self._buckets: dict[tuple, list[float]] = {}  # key -> [tokens, last refill time]
        self._lock = threading.Lock()

    def allow(self, key: tuple, per_minute: int) -> bool:
        capacity = max(1.0, per_minute / self.workers)
        now = self.clock()
        with self._lock:
            bucket = self._buckets.setdefault(key, [capacity, now])
            tokens = min(capacity, bucket[0] + (now - bucket[1]) * capacity / 60.0)
            bucket[1] = now
            if tokens < 1.0:
                bucket[0] = tokens
                return False
            bucket[0] = tokens - 1.0
            return True


class Limits:
    def __init__(self, engine, redis_url: str | None = None, workers: int = 1):
        self.engine = engine
        self.shared = redis_url is not None
        if self.shared:
            self.storage = RedisStorage("async+" + redis_url, implementation="redispy", wrap_exceptions=True,
                                        key_prefix="notify-api")
            self._moving_window = MovingWindowRateLimiter(self.storage)
        else:
            self._buckets = TokenBuckets(workers)
            self._counts: dict[str, int] = {}  # today's counts in this process (development)
        self._seeded: set[str] = set()  # day keys this process knows are seeded (saves a round trip per request)
        # The London day of the last send and its bounds in naive UTC: most sends fall inside, which saves a time
        # zone conversion each.
        self._day: dt.date | None = None
        self._day_start = self._day_end = dt.datetime.min

    async def check_rate(self, service: store.ServiceCredentials, key_type: str) -> None:
        if self.shared:
            allowed = await self._moving_window.hit(RateLimitItemPerMinute(service.rate_limit), str(service.id),
                                                    key_type)
        else:
            allowed = self._buckets.allow((service.id, key_type), service.rate_limit)
        if not allowed:
            raise rate_limit_error(key_type, service.rate_limit)

    def _london_day(self, now_utc: dt.datetime) -> dt.date:
        if not (self._day_start <= now_utc < self._day_end):
            day = local_today(now_utc)
            if day != self._day:
                self._seeded.clear()
                if not self.shared:
                    self._counts.clear()  # yesterday's counts (the shared ones expire in Redis)
            self._day, self._day_start = day, london_midnight(day)
            self._day_end = london_midnight(day + dt.timedelta(days=1))
        return self._day

    async def _incr(self, key: str, amount: int = 1) -> int:
        if self.shared:
            return await self.storage.incr(key, DAY_KEY_SECONDS, amount=amount)
        value = self._counts.get(key, 0) + amount
        self._counts[key] = value
        return value

    async def count_daily(self, service: store.ServiceCredentials, notification_type: str, key_type: str,
                          now_utc: dt.datetime) -> None:
        """Refuse (429) once today's limit is reached; otherwise count this notification against it."""
        if key_type == "test":
            return
        limit = service.daily_limits[notification_type]
        day = self._london_day(now_utc)
        key = f"daily/{service.id}/{notification_type}/{day.isoformat()}"
        if key not in self._seeded:
            if await self._incr(key + "/seeded") == 1:
                # The first process to see this day counts what the database already holds (sends before a
                # restart).
                sent = await run_in_threadpool(self._sent_today, service.id, notification_type, day)
                if sent:
                    await self._incr(key, sent)
            self._seeded.add(key)
        # A refused request stays counted: the count only ever says "at the limit" once it is reached.
        if await self._incr(key) > limit:
            raise daily_limit_error(notification_type, limit)

    def _sent_today(self, service_id: uuid.UUID, notification_type: str, day: dt.date) -> int:
        return store.count_sent_since(self.engine, service_id, notification_type, london_midnight(day))

    async def forget_service(self, service_id: uuid.UUID) -> None:
        """After an admin change of the service's limits, today's counts are read from the database again."""
        if not self.shared:
            self._counts.clear()  # development only: every service's counts are re-read
            self._seeded.clear()
