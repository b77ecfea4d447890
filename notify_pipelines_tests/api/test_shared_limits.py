"""With NOTIFY_REDIS_URL set, a service's rate limit and daily limit are the same whether its requests go to one
API process or are spread over two (separate `notify-pipelines api` processes sharing Redis)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import requests

from notify_pipelines_tests.api.conftest import free_port, token

REDIS_URL = "redis://127.0.0.1:6379/0"
ADMIN = "shared-limits-admin"


@pytest.fixture(scope="module")
def two_processes(database_url, s3_endpoint):
    try:
        import redis

        redis.Redis.from_url(REDIS_URL).ping()
    except Exception:
        pytest.fail("Redis is not running at 127.0.0.1:6379 (the CI starts it)")
    env = {**os.environ, "NOTIFY_DATABASE_URL": database_url, "NOTIFY_REDIS_URL": REDIS_URL,
           "NOTIFY_ADMIN_TOKEN": ADMIN, "NOTIFY_API_SIGNING_KEY": "shared", "NOTIFY_S3_ENDPOINT_URL": s3_endpoint,
           "NOTIFY_API_ACCESS_LOG": "0"}
    servers = []
    for _ in range(2):
        port = free_port()
        servers.append((f"http://127.0.0.1:{port}", subprocess.Popen(
            [sys.executable, "-m", "notify_pipelines.tooling.cli", "api", "--host", "127.0.0.1", "--port", str(port)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)))
    for url, _ in servers:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(url + "/_status", timeout=1).ok:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, "the API did not start"
            time.sleep(0.1)
    yield [url for url, _ in servers]
    for _, process in servers:
        process.terminate()
        process.wait(timeout=20)


def _service(url: str, **fields) -> tuple[str, str, str]:
    headers = {"Authorization": f"Bearer {ADMIN}"}
    service = requests.post(f"{url}/admin/services", json={"name": f"limits {time.time_ns()}", **fields},
                            headers=headers, timeout=10).json()["id"]
    template = requests.post(f"{url}/admin/services/{service}/templates", headers=headers, timeout=10,
                             json={"name": "t", "template_type": "sms", "content": "Hi"}).json()["id"]
    secret = requests.post(f"{url}/admin/services/{service}/api-keys", headers=headers, timeout=10,
                           json={"name": "k", "key_type": "normal"}).json()["secret"]
    return service, template, secret


def _accepted(urls: list[str], service: str, template: str, secret: str, attempts: int) -> list[int]:
    codes = []
    for i in range(attempts):
        headers = {"Authorization": f"Bearer {token(service, secret)}"}
        codes.append(requests.post(urls[i % len(urls)] + "/v2/notifications/sms", headers=headers, timeout=10,
                                   json={"phone_number": "07700900123", "template_id": template}).status_code)
    return codes


@pytest.mark.parametrize("processes", [1, 2])
def test_rate_limit_is_the_services_whatever_the_process_count(two_processes, processes):
    service, template, secret = _service(two_processes[0], rate_limit=10)
    codes = _accepted(two_processes[:processes], service, template, secret, 14)
    assert codes == [201] * 10 + [429] * 4


@pytest.mark.parametrize("processes", [1, 2])
def test_daily_limit_is_the_services_whatever_the_process_count(two_processes, processes):
    service, template, secret = _service(two_processes[0], rate_limit=1000, sms_message_limit=6)
    codes = _accepted(two_processes[:processes], service, template, secret, 9)
    assert codes == [201] * 6 + [429] * 3
