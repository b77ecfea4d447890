"""Order by dependency: the status facts start only once that night's timeouts have succeeded, right after a late
one, and a failed timeouts run holds them and says so in one alert. Real jobs on the test database, a
PostgreSQL-backed Dagster instance, the night_plan sensor ticked by the test at a pinned time."""

# No `from __future__ import annotations`: Dagster reads annotations at runtime.

import datetime as dt

import dagster as dg
import sqlalchemy as sa

from notify_pipelines.core.vocabulary import LONDON
from notify_pipelines.orchestration.night import BACKFILL_TAG, CATCH_UP_TAG, NIGHT_SLACK, slot_tags
from notify_pipelines.orchestration.resources import NotifyDatabase
from notify_pipelines.orchestration.timetable import slot

NIGHT = dt.date(2021, 6, 5)
TIMEOUTS = slot("timeout_sending_notifications_schedule")
STATUS = slot("nightly_ft_notification_status")


def london(hour: int, minute: int, day: dt.date = NIGHT) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=LONDON).astimezone(dt.UTC)


def run_timeouts(repository, instance, *, database_url: str | None = None) -> dg.ExecuteInProcessResult:
    """The night's timeouts run, as its schedule launches it; on `database_url` when given (a broken one fails it)."""
    job = repository.get_job("timeout_sending_notifications")
    resources = {"notify_db": NotifyDatabase(url=database_url)} if database_url else None
    return job.execute_in_process(instance=instance, tags=slot_tags(TIMEOUTS, TIMEOUTS.tick(NIGHT), late=False),
                                  resources=resources, raise_on_error=False)


def status_requests(result) -> list[dg.RunRequest]:
    return [r for r in result.run_requests if r.job_name == "ft_notification_status_job"]


def test_the_status_facts_wait_for_the_nights_timeouts_and_start_right_after_a_late_one(
        instance, repository, clock, tick_night_plan):
    clock.at(london(0, 31))  # the facts' time has come; the timeouts have not run
    waiting = tick_night_plan()
    assert status_requests(waiting) == []
    assert (f"nightly_ft_notification_status held for the night of {NIGHT}: "
            f"timeout_sending_notifications_schedule not started for the night of {NIGHT}") in waiting.skip_message

    assert run_timeouts(repository, instance).success  # late: it finished after 00:30
    clock.at(london(0, 52))
    (request,) = status_requests(tick_night_plan())
    assert request.run_key == f"nightly_ft_notification_status:{NIGHT}"
    assert request.tags["notify/night"] == NIGHT.isoformat() and CATCH_UP_TAG not in request.tags
    assert (request.tags["dagster/asset_partition_range_start"], request.tags["dagster/asset_partition_range_end"]) == (
        "2021-05-26", "2021-06-04")

    facts = repository.get_job("ft_notification_status_job").execute_in_process(
        instance=instance, run_config=request.run_config, tags=request.tags)
    assert facts.success
    again = tick_night_plan()  # once per night: its run exists
    assert status_requests(again) == []
    assert f"nightly_ft_notification_status succeeded for the night of {NIGHT}" in again.skip_message


def test_timeouts_that_succeeded_before_the_facts_time_start_them_at_their_time_not_before(
        instance, repository, clock, tick_night_plan):
    assert run_timeouts(repository, instance).success
    clock.at(london(0, 29))  # the night's timeouts have succeeded, but it is not 00:30 yet
    assert status_requests(tick_night_plan()) == []
    clock.at(london(0, 30))
    assert [r.run_key for r in status_requests(tick_night_plan())] == [f"nightly_ft_notification_status:{NIGHT}"]


def test_a_failed_timeouts_run_holds_the_facts_and_raises_one_alert(
        instance, repository, clock, tick_night_plan, forward, database_url):
    broken = sa.make_url(database_url).set(database="no_such_database").render_as_string(hide_password=False)
    failed = run_timeouts(repository, instance, database_url=broken)
    assert not failed.success

    for minute in (31, 45, 59):  # held at every tick; a hold is not a failure of night_plan
        clock.at(london(0, minute))
        held = tick_night_plan()
        assert status_requests(held) == [] and held.skip_message
        assert (f"timeout_sending_notifications_schedule failed for the night of {NIGHT} (run {failed.run_id[:8]})"
                in held.skip_message)
        alerts = forward()

    assert len(alerts) == 1, alerts
    (alert,) = alerts
    assert alert["kind"] == "run" and alert["name"].startswith("timeout_sending_notifications")
    assert alert["message"].startswith("step time_out_notifications: ") and "no_such_database" in alert["message"]
    assert (f"Held until timeout_sending_notifications_schedule succeeds for the night of {NIGHT}: "
            f"nightly_ft_notification_status (ft_notification_status_job), nightly_retention (nightly_retention)"
            in alert["message"])

    assert run_timeouts(repository, instance).success  # re-run by hand: the facts start at the next tick
    clock.at(london(1, 5))
    assert [r.run_key for r in status_requests(tick_night_plan())] == [f"nightly_ft_notification_status:{NIGHT}"]
    assert len(forward()) == 1


def test_a_backfill_in_the_night_is_not_the_nights_run_but_a_run_by_hand_is(
        instance, repository, clock, tick_night_plan):
    """`dev`'s build of its demo window (a backfill) must not count as the night's timeouts; a re-run by hand does.
    The runs are created now, so the night is the one a run by hand now counts for (NIGHT_SLACK before each tick).
    night_plan is evaluated just after that night's status tick, whatever the time now: later in the day (after
    20:30, the status slot's 20 h lateness) it would say "past its catch-up lateness" instead."""
    night = TIMEOUTS.night_of(TIMEOUTS.latest_tick(dt.datetime.now(dt.UTC) + NIGHT_SLACK))  # night_runs' window
    job = repository.get_job("timeout_sending_notifications")
    assert job.execute_in_process(instance=instance, tags={BACKFILL_TAG: "demo window"}).success
    clock.at(london(0, 31, night))
    held = tick_night_plan()
    assert status_requests(held) == []
    assert f"timeout_sending_notifications_schedule not started for the night of {night}" in held.skip_message

    assert job.execute_in_process(instance=instance).success  # by hand
    assert [r.run_key for r in status_requests(tick_night_plan())] == [f"nightly_ft_notification_status:{night}"]


def test_look_backs_start_no_earlier_than_the_first_partition():
    """A deployment (or `dev`) whose NOTIFY_PARTITIONS_START is recent: the night's ranges begin at its first
    partition, not at keys that do not exist (the run would be refused)."""
    from notify_pipelines.orchestration.partitions import daily_partitions
    from notify_pipelines.reporting.schedules import billing_lookback_request, usage_request
    from notify_pipelines.reporting.usage_asset import monthly_partitions

    first_day = daily_partitions.start.date()
    billing = billing_lookback_request(first_day + dt.timedelta(days=2))
    assert (billing.tags["dagster/asset_partition_range_start"], billing.tags["dagster/asset_partition_range_end"]) == (
        first_day.isoformat(), (first_day + dt.timedelta(days=1)).isoformat())
    usage = usage_request(first_day + dt.timedelta(days=2))
    assert usage.tags["dagster/asset_partition_range_start"] == monthly_partitions.start.strftime("%Y-%m")
