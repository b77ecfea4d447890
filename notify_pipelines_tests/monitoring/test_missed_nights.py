"""missed_nights: fails when a daily timetable slot's job has no successful run for its last night, passes again once
one succeeds; reports a caught-up night once; runs are recorded by executing a job in process on a real (ephemeral)
Dagster instance."""

# No `from __future__ import annotations`: Dagster reads the op config annotation at runtime.

import datetime as dt
import json
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from notify_pipelines.monitoring.missed_nights import (
    missed_nights,
    missed_nights_sensor_for,
    nightly_schedules,
)
from notify_pipelines.orchestration.night import slot_tags
from notify_pipelines.orchestration.run_limits import max_runtime
from notify_pipelines.orchestration.timetable import Days, Slot

LONDON = ZoneInfo("Europe/London")


class WorkConfig(dg.Config):
    fail: bool = False


@dg.op
def work(config: WorkConfig):
    if config.fail:
        raise dg.Failure("failed on purpose")


@dg.job(tags=max_runtime(hours=1))
def nightly_thing():
    work()


def timetable(tick: dt.datetime) -> tuple[Slot, ...]:
    """One daily slot at `tick`'s London time and one hourly slot on the same job."""
    local = tick.astimezone(LONDON).time().replace(second=0, microsecond=0)
    return (Slot("nightly_thing_schedule", "nightly_thing", local, max_runtime=dt.timedelta(hours=1)),
            Slot("hourly_thing", "nightly_thing", dt.time(0, 0), days=Days.HOURLY, max_runtime=dt.timedelta(hours=1)))


def definitions(tick: dt.datetime) -> dg.Definitions:
    return dg.Definitions(jobs=[nightly_thing], sensors=[missed_nights_sensor_for(timetable(tick))])


def tick_sensor(instance, defs, watching_since: dt.datetime | None):
    cursor = json.dumps({"watching_since": watching_since.isoformat()}) if watching_since else None
    context = dg.build_sensor_context(instance=instance, repository_def=defs.get_repository_def(), cursor=cursor)
    return defs.get_repository_def().get_sensor_def("missed_nights")(context)


def test_the_real_code_locations_nightly_jobs_are_covered_and_hourly_ones_not():
    from notify_pipelines.definitions import defs

    nightly = {n.schedule: n for n in nightly_schedules(defs.get_repository_def())}
    assert nightly["nightly_retention"].grace == dt.timedelta(hours=4, minutes=15)  # the timetable's, not a default
    assert {n.job for n in nightly.values()} >= {
        "timeout_sending_notifications", "nightly_retention", "remove_old_job_files", "delete_inbound_sms",
        "ft_billing_job", "collate_letters_for_print",
    }
    assert "hourly_ft_billing_today" not in nightly
    assert nightly["timeout_sending_notifications_schedule"].grace == dt.timedelta(hours=1, minutes=15)


def test_fails_with_no_run_for_last_night_and_recovers_after_a_successful_run():
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    tick = now - dt.timedelta(hours=3)  # past the job's 1 h max runtime and the 15 min slack
    defs = definitions(tick)
    with dg.DagsterInstance.ephemeral() as instance:
        # A new instance: nights before the sensor first ran are not judged.
        assert isinstance(tick_sensor(instance, defs, None), dg.SkipReason)

        with pytest.raises(RuntimeError) as failed:
            tick_sensor(instance, defs, watching_since=now - dt.timedelta(days=2))
        first_line, detail = str(failed.value).split("\n", 1)
        assert first_line == "1 nightly job(s) have no successful run for their last night: nightly_thing"
        assert f"no successful run for the night of {tick.astimezone(LONDON).date()} (no run since its tick)" in detail

        # The hourly schedule's run is not the night's; a failed run is not a success.
        nightly_thing.execute_in_process(instance=instance, tags={"dagster/schedule_name": "hourly_thing"})
        with pytest.raises(RuntimeError, match="no run since its tick"):
            tick_sensor(instance, defs, watching_since=now - dt.timedelta(days=2))
        # A failed run is not a success, but the forwarder alerts it (once, naming what it holds): not again here.
        failed_run = nightly_thing.execute_in_process(
            instance=instance, run_config={"ops": {"work": {"config": {"fail": True}}}}, raise_on_error=False)
        assert not failed_run.success
        result = tick_sensor(instance, defs, watching_since=now - dt.timedelta(days=2))
        assert isinstance(result, dg.SkipReason)
        assert result.skip_message.startswith("failed (each alerted as a failed run): nightly_thing")

        nightly_thing.execute_in_process(instance=instance, tags=slot_tags(timetable(tick)[0], tick, late=False))
        result = tick_sensor(instance, defs, watching_since=now - dt.timedelta(days=2))
        assert isinstance(result, dg.SkipReason) and "succeeded" in result.skip_message

        # A day later that run belongs to the night before: the new night is missed again.
        schedules = nightly_schedules(defs.get_repository_def(), timetable(tick))
        later = missed_nights(instance, schedules, now + dt.timedelta(days=1), now - dt.timedelta(days=2))
        assert [m.nightly.job for m in later] == ["nightly_thing"]


def test_a_night_still_within_its_grace_period_is_not_judged_yet():
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    defs = definitions(now - dt.timedelta(minutes=30))  # tonight's tick was 30 min ago; the job may run for 1 h
    with dg.DagsterInstance.ephemeral() as instance:
        schedules = nightly_schedules(defs.get_repository_def(), timetable(now - dt.timedelta(minutes=30)))
        (missed,) = missed_nights(instance, schedules, now, now - dt.timedelta(days=2))
        assert missed.tick.date() == (now - dt.timedelta(minutes=30, days=1)).astimezone(LONDON).date()
