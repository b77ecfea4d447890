"""A retention night missed because the daemon was down at 03:00 is caught up once when it comes back (within the
slot's lateness, only the latest night, never twice) and missed_nights reports it in one failing tick, then passes
(the alert forwarder's one alert and one recovery). Real jobs, a PostgreSQL-backed instance, sensors ticked by the
test at a pinned time."""

# No `from __future__ import annotations`: Dagster reads annotations at runtime.

import datetime as dt
import json
import time

import dagster as dg
import pytest

from notify_pipelines.orchestration.night import CATCH_UP_TAG, follower_request, slot_tags
from notify_pipelines.orchestration.timetable import slot
from notify_pipelines.core.vocabulary import LONDON

NIGHT = dt.date(2021, 6, 5)
RETENTION = slot("nightly_retention")
FACTS = ("nightly_ft_billing", "nightly_ft_processing_time", "nightly_ft_billing_letter_despatch")


def london(hour: int, minute: int = 0, day: dt.date = NIGHT) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=LONDON).astimezone(dt.UTC)


def run_the_nights_facts(repository, instance, clock) -> None:
    """The night's timeouts, facts and usage, each as its schedule or night_plan asks for it, all succeeded."""
    timeouts = slot("timeout_sending_notifications_schedule")
    assert repository.get_job(timeouts.target).execute_in_process(
        instance=instance, tags=slot_tags(timeouts, timeouts.tick(NIGHT), late=False)).success
    for name in FACTS:
        s = slot(name)
        clock.at(s.tick(NIGHT) + dt.timedelta(seconds=30))
        context = dg.build_schedule_context(instance=instance, scheduled_execution_time=s.tick(NIGHT))
        (request,) = repository.get_schedule_def(name).evaluate_tick(context).run_requests
        assert CATCH_UP_TAG not in request.tags  # on time
        assert repository.get_job(s.target).execute_in_process(
            instance=instance, tags=request.tags, run_config=request.run_config).success
    for name in ("nightly_ft_notification_status", "nightly_ft_monthly_usage"):
        request = follower_request(name, slot(name).tick(NIGHT))
        assert repository.get_job(request.job_name).execute_in_process(
            instance=instance, tags=request.tags, run_config=request.run_config).success


def retention_requests(result) -> list[dg.RunRequest]:
    return [r for r in result.run_requests if r.job_name == "nightly_retention"]


def tick_missed_nights(instance, repository, cursor: str | None):
    sensor = repository.get_sensor_def("missed_nights")
    with dg.build_sensor_context(instance=instance, repository_def=repository, cursor=cursor) as context:
        try:
            return sensor(context), context.cursor
        except RuntimeError as failed:
            return failed, context.cursor


def test_a_missed_retention_night_is_caught_up_once_and_reported_once(
        instance, repository, clock, tick_night_plan, resources):
    run_the_nights_facts(repository, instance, clock)
    watching = json.dumps({"watching_since": dt.datetime.fromtimestamp(time.time(), dt.UTC).isoformat()})

    clock.at(london(2, 40))  # the daemon's last tick before it went down, until 05:10
    assert retention_requests(tick_night_plan()) == []
    clock.at(london(5, 10))
    first = tick_night_plan()
    (request,) = retention_requests(first)  # the latest night only: never two nights of retention
    assert request.partition_key == NIGHT.isoformat() and request.run_key == f"nightly_retention:{NIGHT}"
    assert request.tags[CATCH_UP_TAG] == RETENTION.tick(NIGHT).isoformat()
    assert request.tags["dagster/max_runtime"] == str(4 * 3600)

    caught_up = repository.get_job("nightly_retention").execute_in_process(
        instance=instance, tags=request.tags, partition_key=request.partition_key, resources=resources)
    assert caught_up.success

    for later_by in (1, 20, 80):  # never twice: the night has its run
        clock.at(london(5, 10) + dt.timedelta(minutes=later_by))
        later = tick_night_plan()
        assert retention_requests(later) == []
        assert f"nightly_retention succeeded for the night of {NIGHT}" in later.skip_message

    report, cursor = tick_missed_nights(instance, repository, watching)
    assert isinstance(report, RuntimeError)
    assert str(report) == (
        f"1 missed night(s) caught up:\nnightly_retention did not start at {RETENTION.tick(NIGHT).isoformat()} for "
        f"the night of {NIGHT} (the daemon was not running); caught up by run {caught_up.run_id[:8]} (SUCCESS)")
    for _ in range(2):  # reported once: the next ticks pass (the forwarder's recovery message)
        passed, cursor = tick_missed_nights(instance, repository, cursor)
        assert isinstance(passed, dg.SkipReason), passed


@pytest.mark.parametrize("now, expected", [
    (london(8, 59), [f"nightly_retention:{NIGHT}"]),  # 5 h 59 min late: within its 6 h
    (london(9, 1), []),  # past it: not caught up, missed_nights reports the night
])
def test_a_retention_night_is_caught_up_only_within_its_lateness(
        instance, repository, clock, tick_night_plan, now, expected):
    run_the_nights_facts(repository, instance, clock)
    clock.at(now)
    result = tick_night_plan()
    assert [r.run_key for r in retention_requests(result)] == expected
    if not expected:
        assert f"nightly_retention not started for the night of {NIGHT}: past its catch-up lateness" in \
            result.skip_message


def test_retention_waits_for_all_the_nights_facts(instance, repository, clock, tick_night_plan):
    timeouts = slot("timeout_sending_notifications_schedule")
    assert repository.get_job(timeouts.target).execute_in_process(
        instance=instance, tags=slot_tags(timeouts, timeouts.tick(NIGHT), late=False)).success
    status = follower_request("nightly_ft_notification_status", slot("nightly_ft_notification_status").tick(NIGHT))
    assert repository.get_job(status.job_name).execute_in_process(
        instance=instance, tags=status.tags, run_config=status.run_config).success
    clock.at(london(3, 1))  # the status facts succeeded, billing, processing time and despatch never ran
    held = tick_night_plan()
    assert held.run_requests == []
    assert (f"nightly_retention held for the night of {NIGHT}: nightly_ft_billing not started for the night of "
            f"{NIGHT}; nightly_ft_processing_time not started") in held.skip_message
