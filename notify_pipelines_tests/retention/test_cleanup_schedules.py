"""The clean-up jobs' schedules (01:40 and 04:00 London) and their place in the code location."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest
from dagster._utils.schedules import (
    cron_string_iterator,  # the iterator the daemon uses for a schedule's ticks
)

from notify_pipelines.core.calendar import LONDON
from notify_pipelines.orchestration.resources import base_resources
from notify_pipelines.retention.cleanup_jobs import (
    delete_inbound_sms,
    remove_old_job_files,
)
from notify_pipelines.retention.definitions import defs as retention_defs
from notify_pipelines.retention.job import RETENTION_TAGS
from notify_pipelines.retention.schedules import (
    delete_inbound_sms_schedule,
    remove_old_job_files_schedule,
)

UTC = dt.timezone.utc


def _request(schedule: dg.ScheduleDefinition, tick: dt.datetime) -> dg.RunRequest:
    repository = dg.Definitions.merge(retention_defs, dg.Definitions(resources=base_resources())).get_repository_def()
    context = dg.build_schedule_context(scheduled_execution_time=tick, repository_def=repository)
    [request] = schedule.evaluate_tick(context).run_requests
    return request


@pytest.mark.parametrize("schedule, utc_tick, partition", [
    (delete_inbound_sms_schedule, dt.datetime(2021, 6, 5, 0, 40), "2021-06-05"),  # 01:40 BST
    (delete_inbound_sms_schedule, dt.datetime(2021, 12, 1, 1, 40), "2021-12-01"),  # 01:40 GMT
    # 01:40 does not exist on 2021-03-28: Dagster ticks at 02:00 BST (01:00 UTC)
    (delete_inbound_sms_schedule, dt.datetime(2021, 3, 28, 1, 0), "2021-03-28"),
    # 01:40 happens twice on 2021-10-31 (00:40 and 01:40 UTC): either is that day
    (delete_inbound_sms_schedule, dt.datetime(2021, 10, 31, 0, 40), "2021-10-31"),
    (delete_inbound_sms_schedule, dt.datetime(2021, 10, 31, 1, 40), "2021-10-31"),
    (remove_old_job_files_schedule, dt.datetime(2021, 6, 5, 3, 0), "2021-06-05"),  # 04:00 BST
    (remove_old_job_files_schedule, dt.datetime(2021, 3, 28, 3, 0), "2021-03-28"),  # 04:00 BST on the 23-hour day
    (remove_old_job_files_schedule, dt.datetime(2021, 10, 31, 4, 0), "2021-10-31"),  # 04:00 GMT on the 25-hour day
])
def test_each_tick_launches_tonights_partition(schedule, utc_tick, partition):
    request = _request(schedule, utc_tick.replace(tzinfo=UTC))
    assert request.partition_key == partition and request.run_key == partition


@pytest.mark.parametrize("schedule, cron", [(delete_inbound_sms_schedule, "40 1 * * *"),
                                            (remove_old_job_files_schedule, "0 4 * * *")])
@pytest.mark.parametrize("first_day", [dt.date(2021, 3, 25), dt.date(2021, 10, 28)])
def test_one_tick_per_london_day_across_the_clock_changes(schedule, cron, first_day):
    assert schedule.cron_schedule == cron and schedule.execution_timezone == "Europe/London"
    start = dt.datetime.combine(first_day, dt.time(), tzinfo=LONDON).timestamp()
    ticks = [tick for tick, _ in zip(cron_string_iterator(start, cron, "Europe/London"), range(7))]
    partitions = [_request(schedule, tick).partition_key for tick in ticks]
    assert partitions == [(first_day + dt.timedelta(days=i)).isoformat() for i in range(7)]


def test_schedules_run_by_default_and_jobs_share_retentions_queue_lane():
    for schedule in (delete_inbound_sms_schedule, remove_old_job_files_schedule):
        assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    for job in (delete_inbound_sms, remove_old_job_files):
        assert job.tags["notify/domain"] == RETENTION_TAGS["notify/domain"]
        assert job.executor_def.name == "in_process"
        assert job.partitions_def is not None


def test_the_code_location_has_the_jobs_schedules_and_the_csv_bucket(database_url, monkeypatch):
    from notify_pipelines.definitions import defs

    repository = defs.get_repository_def()
    for name in ("remove_old_job_files", "delete_inbound_sms", "nightly_retention"):
        assert repository.has_job(name)
    assert {"remove_old_job_files_schedule", "delete_inbound_sms_schedule"} <= {s.name for s in repository.schedule_defs}
    assert "delete_old_events" in repository.get_job("nightly_retention").graph.node_dict
    monkeypatch.delenv("NOTIFY_CSV_UPLOAD_BUCKET", raising=False)
    assert base_resources()["csv_upload_bucket"].name == "development-csv-upload"
    monkeypatch.setenv("NOTIFY_CSV_UPLOAD_BUCKET", "live-csv-upload")
    assert base_resources()["csv_upload_bucket"].name == dg.EnvVar("NOTIFY_CSV_UPLOAD_BUCKET")
