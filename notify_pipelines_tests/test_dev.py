"""`notify-pipelines dev`: brings the stack up on a configured database, and SIGTERM stops everything it started."""

from __future__ import annotations

import argparse
import datetime as dt
import socket
import time

import boto3
import psutil
import pytest
import sqlalchemy as sa

from notify_pipelines.core.settings import (
    ConfigError,
    LetterBuckets,
    csv_upload_bucket,
    letters_print_bucket,
)
from notify_pipelines.db import migrate
from notify_pipelines.db.engine import get_engine
from notify_pipelines.tooling import dev, seed
from notify_pipelines_tests.conftest import create_database, drop_database
from notify_pipelines_tests.dev_stack import free_port, get_json, listening, start_dev_stack


def test_dagster_storage_env_derives_from_the_notifications_database():
    url = "postgresql+psycopg2://notify:s3cret@db.internal:6543/notify"
    assert dev.dagster_storage_env(url, {}) == {
        "DAGSTER_PG_USERNAME": "notify", "DAGSTER_PG_HOST": "db.internal", "DAGSTER_PG_PORT": "6543",
        "DAGSTER_PG_DB": "dagster", "PGPASSWORD": "s3cret",
    }
    assert dev.dagster_storage_env(url, {"DAGSTER_PG_DB": "mine", "PGPASSWORD": "x"})["DAGSTER_PG_DB"] == "mine"


def test_demo_data_only_on_an_empty_database(engine, database_url, monkeypatch):
    monkeypatch.setattr(dev, "DEMO_DATA", dict(days=2, per_day=100, services=2, seed=1))
    dev._demo_data(database_url)
    with engine.connect() as conn:
        first = conn.execute(sa.text("SELECT count(*) FROM notifications")).scalar()
    assert first == 4 * 100  # two days and the two clock-change samples
    dev._demo_data(database_url)  # not empty now: left alone
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM notifications")).scalar() == first


def test_a_busy_port_is_refused_before_anything_starts():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        args = argparse.Namespace(ui_port=port, api_port=free_port(), s3_port=free_port(), db_port=free_port())
        with pytest.raises(ConfigError, match=f"port {port} for the Dagster UI is in use: choose another with --ui-port"):
            dev.run(args)


@pytest.mark.timeout(180)
def test_dev_brings_up_the_ui_and_sigterm_stops_everything(tmp_path):
    notify_url = create_database("notify_dev")
    migrate.upgrade(notify_url)
    seed.generate(get_engine(notify_url), days=1, per_day=50, services=1, seed=1, start=dt.date(2021, 6, 1))
    stack = start_dev_stack(tmp_path, notify_url, tmp_path / ".env")
    ui, api, s3 = stack.ui_port, stack.api_port, stack.s3_port
    dagster_db = sa.make_url(stack.dagster_db_url).database
    try:
        locations = get_json(f"http://127.0.0.1:{ui}/graphql", {"query": "{ repositoriesOrError { ... on "
                                                                "RepositoryConnection { nodes { location { name } } } } }"})
        assert locations["data"]["repositoriesOrError"]["nodes"][0]["location"]["name"] == "notify_pipelines"
        s3_client = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{s3}", region_name="eu-west-2",
                                 aws_access_key_id="testing", aws_secret_access_key="testing")
        assert {b["Name"] for b in s3_client.list_buckets()["Buckets"]} == {*LetterBuckets.from_env().all(),
                                                                            csv_upload_bucket(), letters_print_bucket()}
        dotenv = (tmp_path / ".env").read_text()
        assert (tmp_path / ".env").stat().st_mode & 0o777 == 0o600  # it holds the admin token
        assert f"NOTIFY_DATABASE_URL={notify_url}" in dotenv and f"DAGSTER_PG_DB={dagster_db}" in dotenv
        assert f"NOTIFY_S3_ENDPOINT_URL=http://127.0.0.1:{s3}" in dotenv and "NOTIFY_ADMIN_TOKEN=" in dotenv
        assert f"NOTIFY_API_URL=http://127.0.0.1:{api}" in dotenv
        assert dev.read_dotenv(tmp_path / ".env")["NOTIFY_DATABASE_URL"] == notify_url
        assert f"DAGSTER_HOME={tmp_path / 'dagster_home'}" in dotenv
        assert "postgres" in (tmp_path / "dagster_home" / "dagster.yaml").read_text()
        started = psutil.Process(stack.process.pid).children(recursive=True)
        assert len(started) >= 2  # dagster dev and its webserver and daemon (and the API when it imports)

        assert stack.stop() == 0
        output = stack.log()
        assert "no demo data added" in output and "NOTIFY_ADMIN_TOKEN=" in output
        assert "everything started here is stopped" in output
        assert not (tmp_path / ".env").exists()  # removed on exit: CLI commands no longer point at a dead stack
        time.sleep(0.5)
        alive = [p for p in started if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        assert alive == []
        assert not any(listening(port) for port in (ui, api, s3))
    finally:
        stack.stop()  # a failed assertion: let dev stop its children before giving up on it
        drop_database(notify_url)
        drop_database(stack.dagster_db_url)
