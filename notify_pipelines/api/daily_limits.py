"""Daily sending limits per service and notification type (reference §6.5: services.*_message_limit, 429
"Exceeded send limits (<type>: <n>) for today"); test keys are exempt, as in the reference.

Per process: the day's count is read from the database (an indexed count) when first needed and again every
`refresh_seconds`, and this process's own sends are added in between. With several workers, each sees the others'
sends at the next refresh, so a service can overshoot by what the other workers accept within that time.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Callable

from starlette.concurrency import run_in_threadpool

from notify_pipelines.notifications import store
from notify_pipelines.api.errors import ApiError
from notify_pipelines.calendar import local_today, london_midnight


class DailyLimits:
    def __init__(self, engine, refresh_seconds: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self.engine = engine
        self.refresh_seconds = refresh_seconds
        self.clock = clock
        self._counts: dict[tuple, list] = {}  # (service, type, day) -> [count, read at]

    async def check_and_count(self, service: store.ServiceCredentials, notification_type: str, key_type: str,
                              now_utc: dt.datetime) -> None:
        """Refuse (429) when today's limit is reached; otherwise count this request against it."""
        if key_type == "test":
            return
        limit = service.daily_limits[notification_type]
        day = local_today(now_utc)
        key = (service.id, notification_type, day)
        entry = self._counts.get(key)
        if entry is None:
            count = await self._count(service.id, notification_type, day)
            entry = self._counts.setdefault(key, [count, self.clock()])
            self._forget_other_days(day)
        elif self.clock() - entry[1] > self.refresh_seconds:
            entry[1] = self.clock()  # claimed: requests arriving meanwhile use the count in hand, not a query each
            entry[0] = max(entry[0], await self._count(service.id, notification_type, day))
        if entry[0] >= limit:
            raise ApiError(429, "TooManyRequestsError", f"Exceeded send limits ({notification_type}: {limit}) for today")
        entry[0] += 1

    async def _count(self, service_id: uuid.UUID, notification_type: str, day: dt.date) -> int:
        return await run_in_threadpool(store.count_sent_since, self.engine, service_id, notification_type,
                                       london_midnight(day))

    def _forget_other_days(self, day: dt.date) -> None:
        for key in [k for k in self._counts if k[2] != day]:
            del self._counts[key]

    def forget_service(self, service_id: uuid.UUID) -> None:
        for key in [k for k in self._counts if k[0] == service_id]:
            del self._counts[key]
