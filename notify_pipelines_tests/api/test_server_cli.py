"""`notify-pipelines api` as an operator runs it: a subprocess serving /openapi.json, with request ids in its log."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import requests

from notify_pipelines_tests.api.conftest import free_port


def test_api_command_serves_openapi_and_logs_request_ids(database_url, tmp_path):
    port = free_port()
    log_path = tmp_path / "api.log"
    env = {**os.environ, "NOTIFY_DATABASE_URL": database_url, "NOTIFY_ADMIN_TOKEN": "cli-test-token"}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "notify_pipelines.tooling.cli", "api", "--host", "127.0.0.1", "--port", str(port)],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = requests.get(f"http://127.0.0.1:{port}/openapi.json", timeout=1,
                                        headers={"X-Request-Id": "cli-req-1"})
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline and process.poll() is None, log_path.read_text()
                time.sleep(0.1)
        assert response.status_code == 200
        assert "/v2/notifications/sms" in response.json()["paths"]
        assert response.headers["X-Request-Id"] == "cli-req-1"
        denied = requests.post(f"http://127.0.0.1:{port}/admin/services", json={"name": "x"}, timeout=5)
        assert denied.status_code == 401
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    lines = log_path.read_text().splitlines()
    assert any("[cli-req-1]" in line and "GET /openapi.json 200" in line for line in lines), lines


def test_api_command_without_database_url_fails_in_one_line():
    env = {k: v for k, v in os.environ.items() if k != "NOTIFY_DATABASE_URL"}
    result = subprocess.run([sys.executable, "-m", "notify_pipelines.tooling.cli", "api", "--port", "1"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("notify-pipelines: NOTIFY_DATABASE_URL is not set")
