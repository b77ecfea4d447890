"""The schedules ask for the right partitions, in London time, across the clock changes."""

from __future__ import annotations

import datetime as dt
import warnings
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from notify_pipelines.definitions import defs
from notify_pipelines.orchestration import night
from notify_pipelines.orchestration.partitions import daily_partitions
from notify_pipelines.orchestration.timetable import TIMETABLE, slot
from notify_pipelines.reporting import schedules

warnings.filterwarnings("ignore", category=dg.BetaWarning)
LONDON = ZoneInfo("Europe/London")


def evaluate(schedule, london_wall_clock: dt.datetime) -> dg.RunRequest:
    """The run a schedule asks for at a London wall-clock time, or (given a follower slot's name) the run the
    night_plan sensor asks for once that follower is due at that time."""
    if isinstance(schedule, str):
        return night.follower_request(schedule, london_wall_clock.replace(tzinfo=LONDON))
    context = dg.build_schedule_context(
        scheduled_execution_time=london_wall_clock.replace(tzinfo=LONDON), repository_def=defs.get_repository_def()
    )
    requests = schedule.evaluate_tick(context).run_requests
    assert len(requests) == 1
    return requests[0]


@pytest.mark.parametrize(
    "at, first, last, letters_only_before",
    [
        (dt.datetime(2021, 3, 28, 0, 30), "2021-03-18", "2021-03-27", "2021-03-24"),  # 23-hour day, still GMT
        (dt.datetime(2021, 3, 29, 0, 30), "2021-03-19", "2021-03-28", "2021-03-25"),  # 00:30 BST = 23:30 UTC the day before
        (dt.datetime(2021, 11, 1, 0, 30), "2021-10-22", "2021-10-31", "2021-10-28"),
    ],
)
def test_nightly_status_is_one_run_of_ten_days_with_email_and_sms_for_four(at, first, last, letters_only_before):
    request = evaluate("nightly_ft_notification_status", at)
    assert request.tags["dagster/asset_partition_range_start"] == first
    assert request.tags["dagster/asset_partition_range_end"] == last
    assert request.run_config["ops"]["ft_notification_status"]["config"] == {"letters_only_before": letters_only_before}


def test_nightly_billing_is_one_run_of_ten_days_ending_yesterday():
    request = evaluate(schedules.nightly_ft_billing, dt.datetime(2021, 3, 29, 0, 15))
    assert (request.tags["dagster/asset_partition_range_start"], request.tags["dagster/asset_partition_range_end"]) == (
        "2021-03-19", "2021-03-28",
    )


@pytest.mark.parametrize(
    "at, today",
    [
        (dt.datetime(2021, 10, 31, 0, 0), "2021-10-31"),  # London midnight = 23:00 UTC on the 30th
        (dt.datetime(2021, 10, 31, 23, 0), "2021-10-31"),
        (dt.datetime(2021, 3, 28, 0, 0), "2021-03-28"),
    ],
)
def test_hourly_billing_rebuilds_london_today(at, today):
    assert evaluate(schedules.hourly_ft_billing_today, at).partition_key == today


def test_the_facts_run_in_london_time_in_the_agreed_order():
    """Schedules for the slots at a fixed time, the night_plan sensor for those that follow another slot."""
    expected = {
        "nightly_ft_billing": (dt.time(0, 15), ()),
        "nightly_ft_notification_status": (dt.time(0, 30), ("timeout_sending_notifications_schedule",)),
        "hourly_ft_billing_today": (dt.time(0, 0), ()),
        "nightly_ft_processing_time": (dt.time(0, 45), ()),
        "nightly_ft_billing_letter_despatch": (dt.time(1, 0), ()),
        "nightly_ft_monthly_usage": (dt.time(1, 30), ("nightly_ft_billing",)),
    }
    assert {name: (slot(name).at, slot(name).follows) for name in expected} == expected
    crons = {s.name: (s.cron_schedule, s.execution_timezone) for s in schedules.reporting_schedules}
    assert crons == {name: (slot(name).cron, "Europe/London") for name, (_, follows) in expected.items() if not follows}
    assert crons["hourly_ft_billing_today"][0] == "0 * * * *" and crons["nightly_ft_billing"][0] == "15 0 * * *"


def test_every_nightly_daily_fact_runs_before_its_freshness_deadline():
    from notify_pipelines.reporting.assets import DAILY_FACTS

    runs_at = {"ft_billing": dt.time(0, 15), "ft_notification_status": dt.time(0, 30),
               "ft_processing_time": dt.time(0, 45), "ft_billing_letter_despatch": dt.time(1, 0)}
    by_job = {s.target: s.at for s in TIMETABLE if s.name.startswith("nightly_")}
    for fact in DAILY_FACTS:
        assert by_job[f"{fact.name}_job"] == runs_at[fact.name] < fact.deadline


@pytest.mark.parametrize(
    "at, first, last",
    [
        (dt.datetime(2021, 3, 29, 0, 45), "2021-03-28", "2021-03-28"),  # after the 23-hour day
        (dt.datetime(2021, 11, 1, 0, 45), "2021-10-31", "2021-10-31"),
    ],
)
def test_nightly_processing_time_is_london_yesterday(at, first, last):
    request = evaluate(schedules.nightly_ft_processing_time, at)
    assert (request.tags["dagster/asset_partition_range_start"], request.tags["dagster/asset_partition_range_end"]) == (
        first, last,
    )


def test_nightly_despatch_looks_back_ten_days():
    request = evaluate(schedules.nightly_ft_billing_letter_despatch, dt.datetime(2021, 3, 29, 1, 0))
    assert (request.tags["dagster/asset_partition_range_start"], request.tags["dagster/asset_partition_range_end"]) == (
        "2021-03-19", "2021-03-28",
    )


@pytest.mark.parametrize(
    "at, first, last",
    [
        (dt.datetime(2021, 6, 20, 1, 30), "2021-06", "2021-06"),  # the current month only
        (dt.datetime(2021, 6, 5, 1, 30), "2021-05", "2021-06"),  # billing's look-back still reaches May
        (dt.datetime(2021, 4, 1, 1, 30), "2021-03", "2021-04"),  # the first night of a financial year
    ],
)
def test_nightly_usage_rebuilds_the_current_month_and_the_month_billing_still_changes(at, first, last):
    request = evaluate("nightly_ft_monthly_usage", at)
    assert (request.tags["dagster/asset_partition_range_start"], request.tags["dagster/asset_partition_range_end"]) == (
        first, last,
    )


def test_todays_partition_is_open_for_the_hourly_billing():
    assert daily_partitions.get_last_partition_key() == dt.datetime.now(LONDON).date().isoformat()
    assert daily_partitions.get_first_partition_key() == "2016-01-01"


def test_the_nightly_status_request_runs_as_one_job_run_over_ten_partitions(engine):
    from notify_pipelines_tests import factories as f

    with engine.begin() as conn:
        letter = f.create_template(conn, f.create_service(conn), "letter")
        f.create_notification(conn, letter, created_at=dt.datetime(2021, 3, 18, 12), status="sending")
    request = evaluate("nightly_ft_notification_status", dt.datetime(2021, 3, 28, 0, 30))

    result = defs.resolve_job_def("ft_notification_status_job").execute_in_process(
        run_config=request.run_config, tags=request.tags, instance=dg.DagsterInstance.ephemeral()
    )

    assert result.success
    partitions = sorted(e.partition for e in result.get_asset_materialization_events())
    assert partitions == [f"2021-03-{d}" for d in range(18, 28)]
    assert all(e.passed for e in result.get_asset_check_evaluations())
