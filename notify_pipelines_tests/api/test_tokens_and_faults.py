"""Tokens under the reference's rules (PyJWT), size caps before any decoding, log-injection, readiness, and the
refusal to start against a database that is unreachable or not migrated."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import time

from notify_pipelines_tests.api.conftest import only_error, token

SMS = {"phone_number": "07700900123", "personalisation": {"name": "Jo"}}


def test_expired_token_refused_and_unexpired_accepted(api, service):
    body = {**SMS, "template_id": service.templates["sms"]}
    secret = service.keys["normal"].secret
    expired = {"Authorization": f"Bearer {token(service.id, secret, exp=int(time.time()) - 1)}"}
    assert only_error(api.post("/v2/notifications/sms", body, headers=expired), 403) == (
        "Invalid token: expired, check that your system clock is accurate")
    later = {"Authorization": f"Bearer {token(service.id, secret, exp=int(time.time()) + 60)}"}
    assert api.post("/v2/notifications/sms", body, headers=later).status_code == 201


def test_only_hs256(api, service):
    body = {**SMS, "template_id": service.templates["sms"]}
    hs512 = {"Authorization": f"Bearer {token(service.id, service.keys['normal'].secret, algorithm='HS512')}"}
    assert only_error(api.post("/v2/notifications/sms", body, headers=hs512), 403) == (
        "Invalid token: algorithm used is not HS256")


def test_oversized_token_and_headers_refused_before_decoding(api, service):
    at_cap = "a" * 2048
    assert "longer than" not in only_error(api.get("/v2/notifications", headers={"Authorization": f"Bearer {at_cap}"}),
                                           403)
    over = "a" * 2049
    assert only_error(api.get("/v2/notifications", headers={"Authorization": f"Bearer {over}"}), 403) == (
        "Invalid token: longer than 2048 characters")
    huge = api.get("/v2/notifications", headers={"Authorization": "Bearer " + "a" * 20_000})
    assert huge.status_code == 431 and huge.json()["errors"][0]["error"] == "RequestTooLarge"


def test_control_characters_in_paths_are_escaped_in_the_log(api, caplog):
    with caplog.at_level(logging.INFO, logger="notify_pipelines.api.access"):
        api.get("/v2/x%0AFORGED%201.1.1.1%20admin%20login%0D%1B[31m")
    lines = [r.getMessage() for r in caplog.records if r.name == "notify_pipelines.api.access"]
    forged = [line for line in lines if "FORGED" in line]
    assert forged and all("\n" not in line and "\r" not in line and "\x1b" not in line for line in forged)
    assert "\\nFORGED" in forged[0] and "\\x1b" in forged[0]


def test_readiness_checks_the_database(api):
    assert api.get("/_ready").json() == {"status": "ok"}
    assert api.get("/_status").json() == {"status": "ok"}
    metrics = api.get("/metrics").text
    # the counter is process-wide: other tests may have called /_ready too, so the count is at least this call
    assert re.search(r'^http_requests_total\{handler="/_ready",method="GET",status="200"\} [1-9][0-9]*\.0$', metrics, re.M)
    assert "# TYPE http_request_duration_seconds histogram" in metrics


def _serve(database_url: str) -> subprocess.CompletedProcess:
    env = {"NOTIFY_DATABASE_URL": database_url, "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "notify_pipelines.tooling.cli", "api", "--port", "1"], env=env,
                          capture_output=True, text=True, timeout=60)


def test_refuses_to_start_against_an_unreachable_or_unmigrated_database(database_url):
    import sqlalchemy as sa

    unreachable = _serve("postgresql+psycopg2://postgres@127.0.0.1:1/nothing")
    assert unreachable.returncode != 0
    last = unreachable.stderr.strip().splitlines()[-1]
    assert last.startswith("notify-pipelines api: not starting: the database cannot be reached")
    assert "Traceback" not in unreachable.stderr
    name = f"notify_unmigrated_{int(time.time() * 1000)}"
    admin = sa.create_engine(database_url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        unmigrated = _serve(database_url.rsplit("/", 1)[0] + "/" + name)
        assert unmigrated.returncode != 0 and "Traceback" not in unmigrated.stderr
        assert unmigrated.stderr.strip().splitlines()[-1].startswith(
            "notify-pipelines api: not starting: the database is at revision none, not ")
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE "{name}"'))
        admin.dispose()


