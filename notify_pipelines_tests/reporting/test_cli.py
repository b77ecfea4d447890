"""The README's backfill command works as written (one short range, through the real CLI and code location)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

from notify_pipelines_tests import factories as f
from notify_pipelines_tests.reporting.helpers import counts_by_date

ROOT = Path(__file__).resolve().parents[2]
DAGSTER = str(Path(sys.executable).with_name("dagster"))


def test_dagster_asset_materialize_partition_range_runs_the_range_in_one_process(engine, database_url, tmp_path):
    with engine.begin() as conn:
        template = f.create_template(conn, f.create_service(conn), "email")
        for moment in (dt.datetime(2021, 10, 30, 22, 59), dt.datetime(2021, 10, 30, 23, 0), dt.datetime(2021, 11, 1, 0, 0)):
            f.create_notification(conn, template, created_at=moment, status="delivered")

    env = {**os.environ, "NOTIFY_DATABASE_URL": database_url, "DAGSTER_HOME": str(tmp_path)}
    completed = subprocess.run(
        [DAGSTER, "asset", "materialize", "-m", "notify_pipelines.definitions", "--select", "ft_notification_status",
         "--partition-range", "2021-10-30...2021-11-01"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180,
    )

    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stderr.count("RUN_SUCCESS") == 1
    assert counts_by_date(engine) == {dt.date(2021, 10, 30): 1, dt.date(2021, 10, 31): 1, dt.date(2021, 11, 1): 1}
