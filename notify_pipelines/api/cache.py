"""A small per-process cache with a time-to-live, for what every request reads and admins rarely change.

Admin writes in this process invalidate at once; other worker processes see the change within the TTL.
"""

from __future__ import annotations

import time
from typing import Callable, Generic, Hashable, TypeVar

V = TypeVar("V")


class TtlCache(Generic[V]):
    def __init__(self, ttl_seconds: float, clock: Callable[[], float] = time.monotonic):
        self.ttl = ttl_seconds
        self.clock = clock
        self._entries: dict[Hashable, tuple[float, V]] = {}

    def get(self, key: Hashable) -> tuple[bool, V | None]:
        entry = self._entries.get(key)
        if entry is None or entry[0] < self.clock():
            return False, None
        return True, entry[1]

    def put(self, key: Hashable, value: V) -> None:
        if len(self._entries) > 100_000:  # bound memory under a flood of unknown ids
            self._entries.clear()
        self._entries[key] = (self.clock() + self.ttl, value)

    def invalidate(self, predicate: Callable[[Hashable], bool] | None = None) -> None:
        if predicate is None:
            self._entries.clear()
            return
        for key in [k for k in self._entries if predicate(k)]:
            self._entries.pop(key, None)
