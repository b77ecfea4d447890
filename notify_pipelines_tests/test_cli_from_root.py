"""The Dagster CLI from the repository root with nothing set: `dg check defs` as CI runs it (no stack, no variables),
and every command of the README's against the settings `notify-pipelines dev` writes (its instance file and .env).

The commands run in a stand-in for the root (symlinks to its files), so a developer's own `.env` at the real root,
perhaps from a running stack, is never touched; the package is the same (installed in editable mode).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from notify_pipelines.tooling import dev
from notify_pipelines_tests.conftest import create_database, drop_database

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ROOT_FILES = ("pyproject.toml", "dagster.yaml", "workspace.yaml", "notify_pipelines")


@pytest.fixture
def root(tmp_path) -> Path:
    stand_in = tmp_path / "repo"
    stand_in.mkdir()
    for name in ROOT_FILES:
        (stand_in / name).symlink_to(REPO / name)
    return stand_in


def clean_env() -> dict:
    """A new terminal with nothing sourced: PATH (with the venv's commands) and HOME only."""
    return {"PATH": f"{BIN}:/usr/local/bin:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root")}


def run(root: Path, *command: str) -> subprocess.CompletedProcess:
    completed = subprocess.run(command, cwd=root, env=clean_env(), capture_output=True, text=True, timeout=300, check=False)
    assert completed.returncode == 0, f"{' '.join(command)}:\n{completed.stdout[-2000:]}\n{completed.stderr[-4000:]}"
    return completed


@pytest.mark.timeout(300)
def test_dg_check_defs_with_no_stack_and_no_variables(root):
    """CI's case: no .env, no DAGSTER_HOME, no database: the code location loads and the root dagster.yaml is valid."""
    run(root, "dg", "check", "defs")


@pytest.mark.timeout(600)
def test_cli_commands_from_the_root_reach_the_stacks_instance_and_database(root, tmp_path, database_url, s3_endpoint):
    dagster_url = create_database("dagster_cli")
    try:
        home = tmp_path / "dagster_home"
        home.mkdir()
        dev.write_instance_yaml(home)
        settings = {
            "NOTIFY_DATABASE_URL": database_url, "NOTIFY_S3_ENDPOINT_URL": s3_endpoint, "DAGSTER_HOME": str(home),
            "NOTIFY_ADMIN_TOKEN": "not-a-secret", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "eu-west-2",
            **dev.dagster_storage_env(dagster_url, {"DAGSTER_PG_DB": sa.make_url(dagster_url).database}),
        }
        assert dev.write_dotenv(settings, root / ".env")

        run(root, "dagster", "asset", "materialize", "-m", "notify_pipelines.definitions", "--select", "ft_billing",
            "--partition-range", "2021-06-01...2021-06-03")
        run(root, "dg", "launch", "--assets", "ft_billing", "--partition-range", "2021-06-04...2021-06-05")
        run(root, "dagster", "job", "execute", "-m", "notify_pipelines.definitions", "-j", "nightly_retention",
            "--tags", '{"dagster/partition": "2021-06-05"}')
        run(root, "dg", "launch", "--job", "delete_inbound_sms", "--partition", "2021-06-05")  # the README's re-run form
        run(root, "dg", "check", "defs")
        listed = run(root, "dg", "list", "defs").stdout
        assert "nightly_retention" in listed and "ft_billing" in listed

        engine = sa.create_engine(dagster_url, poolclass=sa.pool.NullPool)
        with engine.connect() as conn:  # the runs are in the stack's instance (PostgreSQL), not a temporary one
            runs = conn.execute(sa.text("SELECT pipeline_name, status FROM runs ORDER BY create_timestamp")).all()
            days = conn.execute(sa.text(
                "SELECT count(DISTINCT partition) FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION'"
                " AND asset_key = '[\"ft_billing\"]'")).scalar()
        engine.dispose()
        assert [status for _, status in runs] == ["SUCCESS"] * 4, runs
        assert [name for name, _ in runs[-2:]] == ["nightly_retention", "delete_inbound_sms"]
        assert days == 5
    finally:
        drop_database(dagster_url)
