"""`notify-pipelines dev`: brings the stack up on a configured database, and SIGTERM stops everything it started."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import time

import boto3
import dagster as dg
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
from notify_pipelines_tests.conftest import ADMIN_URL, create_database, drop_database
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


def test_the_demo_window_is_the_latest_days_with_data_not_the_clock_change_samples(engine, database_url):
    today = dt.date(2026, 12, 7)
    assert dev.demo_window(database_url, today) is None  # no notifications: nothing to build
    seed.generate(engine, days=3, per_day=20, services=1, seed=1, start=dt.date(2026, 12, 4))  # to today, plus samples
    assert dev.demo_window(database_url, today) == (dt.date(2026, 12, 4), dt.date(2026, 12, 6))  # today is open


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


def _instance_ticks(instance) -> dict[str, list]:
    from notify_pipelines.orchestration import dagster_internals

    return {state.instigator_name: dagster_internals.ticks(instance, state, after=0.0, limit=100)
            for state in dagster_internals.instigator_states(instance)}


@pytest.mark.timeout(900)
def test_a_first_start_opens_green_with_the_demo_window_built_and_checked_per_day(tmp_path):
    """A fresh Dagster instance over data ending yesterday: the partitions start at the demo window, its facts are
    materialised before `ready`, every check passed per day, and the first sensor ticks raise nothing to alert on."""
    from notify_pipelines.core.calendar import local_today
    from notify_pipelines.core.vocabulary import utc_now
    from notify_pipelines.reporting.assets import daily_fact_assets
    from notify_pipelines.reporting.checks import reporting_checks, source_reconciliation_checks, volume_checks

    notify_url = create_database("notify_dev")
    dagster_db = f"dagster_dev_{os.getpid()}_{int(time.time())}"
    dagster_url = sa.make_url(ADMIN_URL).set(database=dagster_db).render_as_string(hide_password=False)
    migrate.upgrade(notify_url)
    yesterday = local_today(utc_now()) - dt.timedelta(days=1)
    seed.generate(get_engine(notify_url), days=2, per_day=200, services=2, seed=1, settled_at=utc_now())  # as dev
    window = [(yesterday - dt.timedelta(days=1)).isoformat(), yesterday.isoformat()]
    ui, api, s3 = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("NOTIFY_S3_ENDPOINT_URL", "NOTIFY_ADMIN_TOKEN", "NOTIFY_PARTITIONS_START")}
    env.update(NOTIFY_DATABASE_URL=notify_url, DAGSTER_HOME=str(tmp_path / "dagster_home"), DAGSTER_PG_DB=dagster_db)
    log = open(tmp_path / "dev.log", "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "notify_pipelines.tooling.cli", "dev", "--ui-port", str(ui), "--api-port", str(api),
         "--s3-port", str(s3), "--env-file", str(tmp_path / ".env")],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        while "ready: Dagster UI" not in (tmp_path / "dev.log").read_text():
            assert process.poll() is None, (tmp_path / "dev.log").read_text()[-3000:]
            time.sleep(1)
        output = (tmp_path / "dev.log").read_text()
        assert f"daily partitions start at the demo window's first day, {window[0]}" in output
        assert f"NOTIFY_PARTITIONS_START={window[0]}" in (tmp_path / ".env").read_text()
        assert output.index("built ft_billing_letter_despatch") < output.index("ready: Dagster UI")

        with dg.instance_for_test(overrides={"storage": {"postgres": {"postgres_url": dagster_url}}}) as instance:
            for asset in daily_fact_assets:
                records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=asset.key), limit=10).records
                assert sorted(r.partition_key for r in records) == window, asset.key
            check_keys = [k for c in (*reporting_checks, *source_reconciliation_checks, *volume_checks)
                          for k in c.check_keys]
            daily = [k for k in check_keys if k.asset_key.path[0] != "ft_monthly_usage"]
            infos = instance.event_log_storage.get_asset_check_partition_info(daily)
            statuses = {(i.check_key.asset_key.path[0], i.check_key.name, i.partition_key):
                        i.latest_execution_status.value for i in infos}
            assert statuses == {(k.asset_key.path[0], k.name, day): "SUCCEEDED" for k in daily for day in window}

            # The first minute of the daemon: every sensor ticks at least once (the forwarder twice), nothing fails.
            wanted = {"alert_forwarder": 2, "reporting_freshness": 1, "ft_monthly_usage_follows_billing": 1}
            while any(len(_instance_ticks(instance).get(name, [])) < n for name, n in wanted.items()):
                assert process.poll() is None, (tmp_path / "dev.log").read_text()[-3000:]
                time.sleep(2)
            ticks = _instance_ticks(instance)
            failed = {name: [t.error for t in found if t.status.value == "FAILURE"] for name, found in ticks.items()}
            assert {name: errors for name, errors in failed.items() if errors} == {}
            runs = instance.get_runs()
            assert runs
            failed_runs = {(r.job_name, r.tags.get("dagster/partition")): [
                f"{e.user_message} {getattr(e.dagster_event.event_specific_data, 'error', None)}"
                for e in instance.all_logs(r.run_id) if e.is_dagster_event and e.dagster_event.is_failure]
                for r in runs if r.status == dg.DagsterRunStatus.FAILURE}
            assert failed_runs == {}
            freshness = instance.event_log_storage.get_asset_check_partition_info(
                [dg.AssetCheckKey(a.key, "yesterday_built_by_deadline") for a in daily_fact_assets])
            assert {i.latest_execution_status.value for i in freshness} == {"SUCCEEDED"}
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        log.close()
        drop_database(notify_url)
        drop_database(dagster_url)
