"""`dev`'s demo data is a healthy platform: every sensor of the code location, ticked at each daily check's time on
seeded data, raises nothing (so a first start is green at any hour); the plain seed, with its stuck letters, does."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest

from notify_pipelines.core import settings
from notify_pipelines.definitions import defs
from notify_pipelines.monitoring.sensor_state import MonitoringClock
from notify_pipelines.orchestration.timetable import TIMETABLE, Starts
from notify_pipelines.tooling import seed
from notify_pipelines_tests.conftest import environment

NIGHT = dt.date(2021, 6, 15)  # a Tuesday: every check but the Monday one runs on it
SEEDED_AT = dt.datetime(2021, 6, 15, 6, 0)  # `dev` seeds data ending yesterday, here at 06:00 UTC


def check_times() -> dict[str, dt.datetime]:
    """Five minutes after each daily check's time (naive UTC), on NIGHT or, for a Monday check, the day before."""
    times = {}
    for slot in TIMETABLE:
        if slot.starts is Starts.CHECK:
            night = next(NIGHT - dt.timedelta(days=d) for d in range(7) if slot.runs_on(NIGHT - dt.timedelta(days=d)))
            tick = slot.tick(night).astimezone(dt.timezone.utc).replace(tzinfo=None)
            times[slot.name] = tick + dt.timedelta(minutes=5)
    return times


def alerts_at_check_times(resources: dict, database_url: str, checks: set[str] | None = None,
                          sensors: set[str] | None = None) -> dict[str, set[str]]:
    """{check time's slot: the sensors whose tick failed}: each sensor (of `sensors`, or all) ticked once on a fresh
    instance at each check's time (of `checks`, or all)."""
    repository = defs.get_repository_def()
    failed = {}
    with environment(NOTIFY_DATABASE_URL=database_url):
        for name, moment in check_times().items():
            if checks is not None and name not in checks:
                continue
            with dg.instance_for_test() as instance:
                bound = {**defs.resources, **resources, "monitoring_clock": MonitoringClock(fixed_utc=moment.isoformat())}
                for sensor in repository.sensor_defs:
                    if sensors is not None and sensor.name not in sensors:
                        continue
                    with dg.build_sensor_context(instance=instance, resources=bound, repository_def=repository) as context:
                        try:
                            sensor.evaluate_tick(context)
                        except Exception:  # noqa: BLE001 - an alert is a failing tick: any exception counts
                            failed.setdefault(name, set()).add(sensor.name)
    return failed


@pytest.fixture
def quiet_buckets(s3_client):
    """The buckets the sensors read that the test fixtures do not make (the printer's acknowledgements)."""
    s3_client.create_bucket(Bucket=settings.print_ack_bucket(),
                            CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})


def test_settled_demo_data_raises_no_alert_at_any_check_time(engine, database_url, resources, quiet_buckets):
    seed.generate(engine, days=30, per_day=500, services=3, seed=1, start=NIGHT - dt.timedelta(days=30),
                  settled_at=SEEDED_AT)
    # Every sensor at the first check's time; the daily checks, the only ones that read the clock's hour, at each.
    first, *later = check_times()
    assert alerts_at_check_times(resources, database_url, checks={first}) == {}
    assert alerts_at_check_times(resources, database_url, checks=set(later), sensors=set(later)) == {}


def test_the_plain_seed_has_stuck_letters_the_checks_report(engine, database_url, resources, quiet_buckets):
    seed.generate(engine, days=30, per_day=500, services=3, seed=1, start=NIGHT - dt.timedelta(days=30))
    letter_checks = {"letters_still_in_created", "letters_in_technical_failure", "letters_still_sending"}
    failed = alerts_at_check_times(resources, database_url, checks=letter_checks, sensors=letter_checks)
    assert failed == {"letters_still_in_created": {"letters_still_in_created", "letters_in_technical_failure"},
                      "letters_in_technical_failure": {"letters_still_in_created", "letters_in_technical_failure"},
                      "letters_still_sending": letter_checks}
