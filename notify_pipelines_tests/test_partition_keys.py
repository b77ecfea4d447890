"""A partition key that is not one of its job's partitions is refused before any op does anything: in one line naming
the key and the range, whichever CLI launched it; valid keys (the first partition, today's open one, a month) pass."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dagster as dg
import pytest

from notify_pipelines.core import calendar
from notify_pipelines.core.vocabulary import utc_now
from notify_pipelines.definitions import defs
from notify_pipelines.orchestration import partition_keys

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TODAY = calendar.local_today(utc_now())


@pytest.fixture(autouse=True)
def code_location():
    partition_keys.use_code_location(defs)  # as importing definitions does; said here so no test depends on order


def _run(job_name: str, tags: dict, assets: list[str] | None = None) -> dg.DagsterRun:
    return dg.DagsterRun(job_name=job_name, run_id=str(uuid.uuid4()), tags=tags,
                         asset_selection=frozenset(dg.AssetKey(a) for a in assets) if assets else None)


def _day_range() -> str:
    """The daily partitions' range as the refusal gives it: today may have turned into tomorrow since import."""
    return f"2016-01-01 to ({TODAY.isoformat()}|{(TODAY + dt.timedelta(days=1)).isoformat()})$"


@pytest.mark.parametrize(
    ("job", "assets", "key", "message"),
    [
        ("nightly_retention", None, "2026-13-45", f"partition '2026-13-45' of nightly_retention is not a London day "
                                                  f"YYYY-MM-DD from {_day_range()}"),
        ("delete_inbound_sms", None, "2015-12-31", "partition '2015-12-31' of delete_inbound_sms is not a London day"),
        ("collate_letters_for_print", None, "2099-01-01",
         "partition '2099-01-01' of collate_letters_for_print is not a London day"),
        ("ft_billing_job", None, "yesterday", "partition 'yesterday' of ft_billing_job is not a London day"),
        ("__ASSET_JOB", ["ft_monthly_usage"], "2026-12-01", "partition '2026-12-01' of ft_monthly_usage is not a "
                                                            "London month YYYY-MM from 2016-01 to "),
    ],
)
def test_a_run_with_a_key_outside_its_partitions_is_refused(job, assets, key, message):
    with pytest.raises(partition_keys.PartitionKeyRefused, match="^" + message):
        partition_keys.check_run(_run(job, {partition_keys.PARTITION_TAG: key}, assets))


def test_either_end_of_a_range_is_checked():
    start, end = partition_keys.RANGE_TAGS
    tags = {start: "2021-06-01", end: (TODAY + dt.timedelta(days=1)).isoformat()}
    with pytest.raises(partition_keys.PartitionKeyRefused, match="of ft_notification_status is not a London day"):
        partition_keys.check_run(_run("__ASSET_JOB", tags, ["ft_notification_status"]))


@pytest.mark.parametrize(
    ("job", "assets", "tags"),
    [
        ("nightly_retention", None, {partition_keys.PARTITION_TAG: "2016-01-01"}),  # the first partition
        ("nightly_retention", None, {partition_keys.PARTITION_TAG: TODAY.isoformat()}),  # tonight's run
        ("__ASSET_JOB", ["ft_monthly_usage"], {partition_keys.PARTITION_TAG: TODAY.strftime("%Y-%m")}),
        ("__ASSET_JOB", ["ft_billing"], dict(zip(partition_keys.RANGE_TAGS, ("2021-06-01", "2021-06-03")))),
        ("nightly_retention", None, {}),  # not a partitioned launch
        ("a_job_built_by_a_test", None, {partition_keys.PARTITION_TAG: "anything"}),  # not the code location's
    ],
)
def test_valid_keys_and_unknown_jobs_pass(job, assets, tags):
    partition_keys.check_run(_run(job, tags, assets))


def test_keys_are_read_from_every_cli_form():
    argv = ["dagster", "job", "execute", "--tags", '{"dagster/partition": "A"}', "--partition", "B",
            "--partition-range", "C...D", "--tags", "not json"]
    assert partition_keys.keys_in_argv(argv) == ["A", "B", "C", "D"]


def _cli(*command: str, env: dict, home: Path) -> subprocess.CompletedProcess:
    home.mkdir()  # an instance each: four processes creating one SQLite instance's tables at once collide
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return subprocess.run([str(BIN / command[0]), *command[1:]], cwd=ROOT, env={**env, "DAGSTER_HOME": str(home)},
                          capture_output=True, text=True, timeout=300)


@pytest.mark.timeout(600)
def test_bad_keys_from_the_real_clis_fail_before_any_op_in_one_line(database_url, tmp_path):
    env = {**os.environ, "NOTIFY_DATABASE_URL": database_url}
    module = ("-m", "notify_pipelines.definitions")
    commands = {
        # Dagster refuses these itself, before any run exists: its traceback becomes our line.
        "materialize": ("dagster", "asset", "materialize", *module, "--select", "ft_processing_time",
                        "--partition", "2026-13-45"),
        "dg launch": ("dg", "launch", "--assets", "ft_processing_time", "--partition", "2010-01-01"),
        "asset job": ("dagster", "job", "execute", *module, "-j", "ft_processing_time_job",
                      "--tags", '{"dagster/partition": "2026-13-45"}'),
        # An op job's run starts; NotifyDatabase's set-up fails it before any op's body.
        "op job": ("dagster", "job", "execute", *module, "-j", "nightly_retention",
                   "--tags", '{"dagster/partition": "2099-01-01"}'),
    }
    with ThreadPoolExecutor(len(commands)) as pool:
        results = dict(zip(commands, pool.map(
            lambda named: _cli(*named[1], env=env, home=tmp_path / named[0].replace(" ", "_")), commands.items())))

    expected = {"materialize": "'2026-13-45'", "dg launch": "'2010-01-01'", "asset job": "'2026-13-45'",
                "op job": "'2099-01-01'"}
    for name, result in results.items():
        assert result.returncode != 0, (name, result.stderr[-2000:])
        assert "Traceback" not in result.stderr, (name, result.stderr[-4000:])
        last = result.stderr.strip().splitlines()[-1]
        assert re.match(f"notify-pipelines: partition {expected[name]} of this command is not a London day "
                        f"YYYY-MM-DD from {_day_range()}", last), (name, result.stderr[-2000:])
    op_job = results["op job"].stderr
    assert "RUN_FAILURE" in op_job and "STEP_SUCCESS" not in op_job and "retention for the night" not in op_job
    assert "partition '2099-01-01' of nightly_retention is not a London day" in op_job


def test_every_first_op_of_every_partitioned_job_requires_the_resource_that_checks_the_key():
    """The check lives in NotifyDatabase's set-up: a partitioned job whose first op (no inputs, so nothing upstream
    must succeed before it runs) does not need the database could run that op on a bad key."""
    unchecked = {
        f"{job.name}: {op.name}"
        for job in defs.resolve_all_job_defs() if job.partitions_def is not None
        for op in job.all_node_defs
        if isinstance(op, dg.OpDefinition) and not op.input_defs and "notify_db" not in op.required_resource_keys
    }
    assert unchecked == set()
