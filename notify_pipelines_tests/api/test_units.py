"""Pure parts of the API without HTTP: the cache's single load under a stampede, token buckets, status rules."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import threading
import time

import pytest

from notify_pipelines.api.cache import TtlCache
from notify_pipelines.api.limits import Limits, TokenBuckets
from notify_pipelines.api.state import ApiState
from notify_pipelines.notifications import status_maps
from notify_pipelines_tests.api.conftest import api_config


def test_concurrent_misses_load_once(database_url):
    state = ApiState(api_config(database_url, None))
    calls = []
    lock = threading.Lock()

    def load():
        with lock:
            calls.append(1)
        time.sleep(0.05)
        return "value"

    async def many():
        return await asyncio.gather(*[state._cached(state.templates, "k", load) for _ in range(20)])

    assert asyncio.run(many()) == ["value"] * 20
    assert len(calls) == 1


def test_cache_expires_and_invalidates():
    now = [0.0]
    cache = TtlCache(5, clock=lambda: now[0])
    cache.put(("s", 1), "a")
    assert cache.get(("s", 1)) == (True, "a")
    now[0] = 5.1
    assert cache.get(("s", 1)) == (False, None)
    cache.put(("s", 1), "b")
    cache.invalidate(lambda k: k[0] == "s")
    assert cache.get(("s", 1)) == (False, None)


def test_token_bucket_edges_and_worker_share():
    now = [0.0]
    buckets = TokenBuckets(workers=2, clock=lambda: now[0])
    assert [buckets.allow(("s", "normal"), 120) for _ in range(61)] == [True] * 60 + [False]  # 120/min over 2 workers
    assert buckets.allow(("s", "team"), 120)  # per key type
    now[0] = 1.0  # one second refills one token (60 per 60 s)
    assert buckets.allow(("s", "normal"), 120) and not buckets.allow(("s", "normal"), 120)


@pytest.mark.parametrize("status, code, current, expected", [
    ("delivered", "101", "sending", "delivered"),
    ("permanent-failure", None, "sending", "permanent-failure"),
    ("permanent-failure", None, "pending", "temporary-failure"),
    ("permanent-failure", "201", "pending", "permanent-failure"),
    ("permanent-failure", "nope", "sending", "temporary-failure"),
])
def test_detailed_code_rule(status, code, current, expected):
    assert status_maps.refine_with_detailed_code(status, code, current, status_maps.FIRETEXT_CODES) == expected


@pytest.mark.parametrize("pages, sheets", [(1, 1), (2, 1), (3, 2), (10, 5)])
def test_letter_sheets(pages, sheets):
    assert status_maps.letter_sheets(pages) == sheets


@pytest.mark.parametrize("today", [dt.date(2021, 3, 28), dt.date(2021, 10, 31), dt.date(2021, 6, 15)])
def test_daily_count_starts_at_london_midnight(database_url, today):
    """Rows from just before the London day began do not count; from its first instant they do (clock-change days
    included); test-key rows never count."""
    from notify_pipelines.core.calendar import london_midnight
    from notify_pipelines.db.engine import get_engine
    from notify_pipelines.notifications.store import load_service_credentials
    from notify_pipelines_tests import factories

    engine = get_engine(database_url)
    start = london_midnight(today)
    with engine.begin() as conn:
        service_id = factories.create_service(conn)
        template_id = factories.create_template(conn, service_id, "sms")
        factories.create_notification(conn, template_id, created_at=start - dt.timedelta(microseconds=1))
        factories.create_notification(conn, template_id, created_at=start)
        factories.create_notification(conn, template_id, created_at=start, key_type="test")
    service = load_service_credentials(engine, service_id)
    service = dataclasses.replace(service, daily_limits={**service.daily_limits, "sms": 2})
    now = london_midnight(today + dt.timedelta(days=1)) - dt.timedelta(seconds=1)

    async def two_sends():
        limits = Limits(engine)
        await limits.count_daily(service, "sms", "normal", now)  # 1 existing + this one = 2
        await limits.count_daily(service, "sms", "normal", now)

    with pytest.raises(Exception, match="Exceeded send limits"):
        asyncio.run(two_sends())


def test_the_api_does_not_import_dagster():
    import subprocess
    import sys

    code = ("import sys, notify_pipelines.api.app, notify_pipelines.api.server; "
            "print(any(m == 'dagster' or m.startswith('dagster.') for m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
