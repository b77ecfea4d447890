"""Real Celery workers and documented CLI runs for the executor tests: a Dagster instance of the test's own (storage
in its own PostgreSQL database), `notify-pipelines worker` processes on the machine's Redis, and step events read back
from the instance."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import sqlalchemy as sa

from notify_pipelines_tests.conftest import TEST_BUCKETS, create_database, drop_database

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("NOTIFY_TEST_CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")


def stack_env(database_url: str, s3_endpoint: str, **extra: str) -> dict:
    return {**os.environ, "NOTIFY_DATABASE_URL": database_url, "NOTIFY_S3_ENDPOINT_URL": s3_endpoint,
            "NOTIFY_LETTERS_PDF_BUCKET": TEST_BUCKETS.letters_pdf,
            "NOTIFY_LETTERS_SCAN_BUCKET": TEST_BUCKETS.letters_scan,
            "NOTIFY_LETTERS_INVALID_PDF_BUCKET": TEST_BUCKETS.invalid_pdf,
            "NOTIFY_TEST_LETTERS_BUCKET": TEST_BUCKETS.test_letters, **extra}


class DagsterHome:
    """$DAGSTER_HOME with a dagster.yaml on a storage database of its own and a `notify_db` pool limit."""

    def __init__(self, path: Path, pool_limit: int):
        self.path = path
        self.storage_url = create_database("notify_test_dagster")
        self.runs: list[subprocess.Popen] = []
        path.mkdir(parents=True, exist_ok=True)
        (path / "dagster.yaml").write_text(json.dumps({
            "storage": {"postgres": {"postgres_url": self.storage_url}},
            "concurrency": {"pools": {"default_limit": pool_limit, "granularity": "op"}},
            "telemetry": {"enabled": False},
        }))

    def instance(self) -> dg.DagsterInstance:
        return dg.DagsterInstance.from_config(str(self.path))

    def close(self) -> None:
        import signal

        for process in self.runs:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        drop_database(self.storage_url)


class Worker:
    """`notify-pipelines worker` in its own process group, reading `queue`."""

    def __init__(self, env: dict, queue: str, log: Path, concurrency: int = 1):
        self.log = log
        self.process = subprocess.Popen(
            [sys.executable, "-m", "notify_pipelines.tooling.cli", "worker", "--concurrency", str(concurrency), "--queue", queue],
            cwd=ROOT, env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while b" ready." not in self.log.read_bytes():
            assert self.process.poll() is None, f"worker exited:\n{self.log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"worker not ready:\n{self.log.read_text()[-3000:]}"
            time.sleep(0.2)

    def stop(self) -> None:
        import signal

        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=30)


def start_run(env: dict, home: DagsterHome, day: str, run_config: dict | None, log: Path) -> subprocess.Popen:
    """The README's command for one partition of nightly_retention, against `home`'s instance (killed with the home
    if still running)."""
    command = [str(Path(sys.executable).with_name("dagster")), "job", "execute", "-m", "notify_pipelines.definitions",
               "-j", "nightly_retention", "--tags", json.dumps({"dagster/partition": day})]
    if run_config:
        config_file = home.path / f"run_config_{uuid.uuid4().hex}.json"  # JSON is YAML
        config_file.write_text(json.dumps(run_config))
        command += ["-c", str(config_file)]
    home.runs.append(subprocess.Popen(command, cwd=ROOT, env={**env, "DAGSTER_HOME": str(home.path)},
                                      stdout=open(log, "ab"), stderr=subprocess.STDOUT, start_new_session=True))
    return home.runs[-1]


def celery_config(queue: str, **celery: object) -> dict:
    return {"execution": {"config": {"celery": {"config_source": {"task_default_queue": queue}, **celery}}}}


@dataclass(frozen=True)
class StepSpan:
    step_key: str
    pid: int
    started: float
    ended: float | None


def step_spans(instance: dg.DagsterInstance, run_id: str | None) -> list[StepSpan]:
    """Each step's process id and its start and end (success or failure) times, from the run's event log."""
    starts, ends = {}, {}
    if run_id is None:
        return []
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None or not event.step_key:
            continue
        if event.event_type_value == "STEP_START":
            starts[event.step_key] = (event.pid, entry.timestamp)
        elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE"):
            ends[event.step_key] = entry.timestamp
    return [StepSpan(key, pid, started, ends.get(key)) for key, (pid, started) in sorted(starts.items())]


def latest_run_id(instance: dg.DagsterInstance) -> str | None:
    runs = instance.get_runs(limit=1)
    return runs[0].run_id if runs else None


@contextlib.contextmanager
def celery_night(engine: sa.Engine, s3_client, services: int, *, old: dt.datetime, recent: dt.datetime):
    """`services` services of sms and email past retention at `old`, test keys and rows from `recent`; service 1 with
    12 letters past retention and their PDFs; a snapshot of notifications (restore_notifications), dropped after."""
    from notify_pipelines.core.letters import letter_pdf_filename
    from notify_pipelines.db import schema
    from notify_pipelines_tests import factories as f
    from notify_pipelines_tests.retention.helpers import bulk_notifications

    with engine.begin() as conn:
        for i in range(services):
            service = f.create_service(conn, service_id=uuid.UUID(int=i + 1))
            templates = [f.create_template(conn, service, "sms"), f.create_template(conn, service, "email")]
            bulk_notifications(conn, templates, 60, first=old)
            bulk_notifications(conn, templates, 5, first=old, key_type="test")
            bulk_notifications(conn, templates, 5, first=recent)
        letter = f.create_template(conn, uuid.UUID(int=1), "letter")
        bulk_notifications(conn, [letter], 12, first=old)
        letters = conn.execute(sa.select(schema.notifications).where(
            schema.notifications.c.notification_type == "letter")).all()
    for row in letters:
        key = letter_pdf_filename(row.reference, row.created_at, row.postage)
        s3_client.put_object(Bucket=TEST_BUCKETS.letters_pdf, Key=key, Body=b"%PDF")
    copy_notifications(engine)
    yield
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS test_snapshot"))


def copy_notifications(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS test_snapshot"))
        conn.execute(sa.text("CREATE TABLE test_snapshot AS SELECT * FROM notifications"))


def restore_notifications(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE notifications, notification_history"))
        conn.execute(sa.text("INSERT INTO notifications SELECT * FROM test_snapshot"))
