"""The Dagster CLI from the repository root with nothing set: `dg check defs` as CI runs it (no stack, no variables),
and every command of the README's against the settings `notify-pipelines dev` writes (its instance file and .env).

The commands run in a stand-in for the root (symlinks to its files), so a developer's own `.env` at the real root,
perhaps from a running stack, is never touched; the package is the same (installed in editable mode).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa

from notify_pipelines.tooling import dev
from notify_pipelines_tests.conftest import create_database, drop_database
from notify_pipelines_tests.dev_stack import clean_env, stand_in_root

ROOT_FILES = ("pyproject.toml", "dagster.yaml", "workspace.yaml", "notify_pipelines")


@pytest.fixture
def root(tmp_path) -> Path:
    return stand_in_root(tmp_path / "repo", ROOT_FILES)


def run(root: Path, *command: str) -> subprocess.CompletedProcess:
    completed = subprocess.run(command, cwd=root, env=clean_env(), capture_output=True, text=True, timeout=300, check=False)
    assert completed.returncode == 0, f"{' '.join(command)}:\n{completed.stdout[-2000:]}\n{completed.stderr[-4000:]}"
    return completed


@pytest.mark.timeout(300)
def test_dg_check_defs_with_no_stack_and_no_variables(root):
    """CI's case: no .env, no DAGSTER_HOME, no database: the code location loads and the root dagster.yaml is valid,
    without a word about the beta and preview features the project chose (orchestration/chosen_features.py)."""
    checked = run(root, "dg", "check", "defs")
    output = checked.stdout + checked.stderr
    assert "BetaWarning" not in output and "PreviewWarning" not in output, output
    assert "virtual environment" not in output, output  # the README's .venv/bin/dg, not activated: no venv warning


@pytest.mark.timeout(300)
def test_a_command_that_needs_the_stack_fails_in_one_line_without_it(root):
    failed = subprocess.run(["dg", "launch", "--assets", "ft_billing", "--partition", "2026-11-01"], cwd=root,
                            env=clean_env(), capture_output=True, text=True, timeout=300, check=False)
    assert failed.returncode == 1
    assert failed.stdout == ""
    assert failed.stderr.splitlines() == [
        "notify-pipelines: NOTIFY_DATABASE_URL is not set: start the stack with `notify-pipelines dev` (it writes ./.env, which "
        "dagster and dg load when run from the repository root) or set it yourself"
    ], failed.stderr


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
