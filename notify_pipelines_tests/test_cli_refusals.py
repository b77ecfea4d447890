"""Bad numbers and dates on the `notify-pipelines` command line: refused in one line on stderr, exit 2, no traceback,
and nothing started or written."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import sqlalchemy as sa

from notify_pipelines.db import migrate
from notify_pipelines_tests.conftest import create_database, drop_database


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "notify_pipelines.tooling.cli", *args], env=env or dict(os.environ),
                          capture_output=True, text=True, timeout=120)


def _one_line_refusal(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    return line


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("api", "--port", "99999"), "notify-pipelines api: argument --port: 99999 is not a TCP port: give 1 to 65535"),
        (("api", "--port", "0"), "argument --port: 0 is not a TCP port: give 1 to 65535"),
        (("api", "--port", "-1"), "argument --port: -1 is not a TCP port: give 1 to 65535"),
        (("api", "--port", "http"), "argument --port: 'http' is not a whole number"),
        (("api", "--workers", "0"), "argument --workers: 0 is out of range: give 1 to 256"),
        (("dev", "--ui-port", "70000"), "argument --ui-port: 70000 is not a TCP port: give 1 to 65535"),
        (("dev", "--db-port", "65536"), "argument --db-port: 65536 is not a TCP port: give 1 to 65535"),
        (("worker", "--concurrency", "0"), "argument --concurrency: 0 is out of range: give 1 to 256"),
        (("seed", "--days", "100000000"), "argument --days: 100,000,000 is out of range: give 1 to 36,525"),
        (("seed", "--days", "0"), "argument --days: 0 is out of range: give 1 to 36,525"),
        (("seed", "--per-day", "-5"), "argument --per-day: -5 is out of range: give 1 to 100,000,000"),
        (("seed", "--services", "1e3"), "argument --services: '1e3' is not a whole number"),
        (("seed", "--seed", "-1"), "argument --seed: -1 is out of range: give 0 to 2,147,483,647"),
        (("seed", "--start", "2026-13-45"), "argument --start: '2026-13-45' is not a date: give YYYY-MM-DD"),
        (("db", "sideways"), "argument action: invalid choice: 'sideways'"),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, tuple) else None,
)
def test_bad_numbers_and_dates_are_refused_in_one_line(args, expected):
    env = {k: v for k, v in os.environ.items() if k != "NOTIFY_DATABASE_URL"}  # refused before any database is used
    line = _one_line_refusal(_cli(*args, env=env))
    assert expected in line, line
    assert line.endswith("(see --help)")


def test_a_seed_window_past_the_last_date_is_refused_in_one_line_and_writes_nothing():
    url = create_database("notify_cli_refusals")
    try:
        migrate.upgrade(url)
        result = _cli("seed", "--start", "9998-12-01", "--days", "100", "--no-progress",
                      env={**os.environ, "NOTIFY_DATABASE_URL": url})
        line = _one_line_refusal(result)
        assert line == "notify-pipelines seed: 100 days from 9998-12-01 do not fit between 1901-01-01 and 9998-12-31"
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM services")).scalar_one() == 0
        engine.dispose()
    finally:
        drop_database(url)
