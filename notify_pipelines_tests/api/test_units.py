"""Pure parts of the API without HTTP: the cache's single load under a stampede, token buckets, status rules."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from notify_pipelines.api import status_maps
from notify_pipelines.api.cache import TtlCache
from notify_pipelines.api.rate_limit import TokenBuckets
from notify_pipelines.api.state import ApiState
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
