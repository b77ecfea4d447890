"""Per-service, per-key-type token buckets (reference: services.rate_limit requests per 60 s, default 3000).

In-process: each worker keeps its own buckets and gets an equal share of the limit (limit / workers), so the
service-wide limit holds when the load balancer spreads requests evenly. It is not shared across hosts.
"""

from __future__ import annotations

import threading
import time
from typing import Callable


class TokenBuckets:
    def __init__(self, workers: int = 1, clock: Callable[[], float] = time.monotonic):
        self.workers = max(1, workers)
        self.clock = clock
        self._buckets: dict[tuple, list[float]] = {}  # key -> [tokens, last refill time]
        self._lock = threading.Lock()

    def allow(self, key: tuple, per_minute: int) -> bool:
        capacity = max(1.0, per_minute / self.workers)
        refill_per_second = capacity / 60.0
        now = self.clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = [capacity, now]
            tokens = min(capacity, bucket[0] + (now - bucket[1]) * refill_per_second)
            bucket[1] = now
            if tokens < 1.0:
                bucket[0] = tokens
                return False
            bucket[0] = tokens - 1.0
            return True
