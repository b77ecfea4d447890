"""`missed_nights`: fails when a daily scheduled job has no successful run for its last scheduled night.

The schedules come from the code location itself (every schedule whose cron fires once a day, `M H * * *`), so a new
nightly schedule is covered without being listed here. A night counts as done when a run of the schedule's job
succeeded after that night's tick: the schedule's own run, or one launched by hand (no schedule tag), e.g. a re-run of
the partition. A night is judged only once the job has had its maximum runtime (`dagster/max_runtime`,
orchestration/run_limits.py) plus START_SLACK to finish; until then the night before is the one looked at.

A failing tick is the alert: the alert forwarder (alerts.py) sends one alert when this sensor starts failing and a
recovery message at its first tick that passes. Nights before the sensor first ran on an instance are not judged
(a new instance has no history); the cursor keeps that moment.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import dagster as dg

from notify_pipelines.orchestration.run_limits import MAX_RUNTIME_TAG

SENSOR = "missed_nights"
START_SLACK = dt.timedelta(minutes=15)  # from the tick to the run starting (queue, process start)
DEFAULT_MAX_RUNTIME = dt.timedelta(hours=4)  # for a job with no dagster/max_runtime tag of its own
NIGHT_SLACK = dt.timedelta(hours=1)  # a run this long before the tick counts (clock changes move ticks by an hour)
SCHEDULE_TAG = "dagster/schedule_name"
DAILY_CRON = re.compile(r"^(\d{1,2}) (\d{1,2}) \* \* \*$")


@dataclass(frozen=True)
class Nightly:
    schedule: str
    job: str
    at: dt.time
    timezone: str
    grace: dt.timedelta
    partitioned: bool

    def last_night(self, now: dt.datetime) -> dt.datetime:
        """The latest tick whose grace period is over by `now` (aware datetimes)."""
        zone = ZoneInfo(self.timezone)
        local = (now - self.grace).astimezone(zone)
        tick = dt.datetime.combine(local.date(), self.at, tzinfo=zone)
        if tick > local:
            tick = dt.datetime.combine(local.date() - dt.timedelta(days=1), self.at, tzinfo=zone)
        return tick


@dataclass(frozen=True)
class Missed:
    nightly: Nightly
    tick: dt.datetime
    latest: str  # the latest run of the job since the tick, or that there was none

    def describe(self) -> str:
        n = self.nightly
        rerun = f"dagster job execute -m notify_pipelines.definitions -j {n.job}" + (
            f" --tags '{{\"dagster/partition\": \"{self.tick.date()}\"}}'" if n.partitioned else "")
        return (f"{n.job} (schedule {n.schedule}, {n.at:%H:%M} {n.timezone}): no successful run for the night of "
                f"{self.tick.date()} ({self.latest}); re-run: {rerun}")


def nightly_schedules(repository: dg.RepositoryDefinition) -> list[Nightly]:
    """Every schedule of the code location that fires once a day, with its job's grace period."""
    found = []
    for schedule in repository.schedule_defs:
        crons = [schedule.cron_schedule] if isinstance(schedule.cron_schedule, str) else list(schedule.cron_schedule)
        match = DAILY_CRON.match(crons[0].strip()) if len(crons) == 1 else None
        if match is None:
            continue
        job = repository.get_job(schedule.job_name)
        max_runtime = job.tags.get(MAX_RUNTIME_TAG)
        grace = (dt.timedelta(seconds=float(max_runtime)) if max_runtime else DEFAULT_MAX_RUNTIME) + START_SLACK
        found.append(Nightly(
            schedule=schedule.name, job=schedule.job_name, at=dt.time(int(match[2]), int(match[1])),
            timezone=schedule.execution_timezone or "UTC", grace=grace, partitioned=job.partitions_def is not None,
        ))
    return sorted(found, key=lambda n: n.schedule)


def _succeeded_since(instance: dg.DagsterInstance, nightly: Nightly, since: dt.datetime) -> bool:
    records = instance.get_run_records(
        filters=dg.RunsFilter(job_name=nightly.job, statuses=[dg.DagsterRunStatus.SUCCESS], created_after=since),
        limit=50,
    )
    return any(r.dagster_run.tags.get(SCHEDULE_TAG) in (None, nightly.schedule) for r in records)


def _latest_run(instance: dg.DagsterInstance, nightly: Nightly, since: dt.datetime) -> str:
    records = instance.get_run_records(filters=dg.RunsFilter(job_name=nightly.job, created_after=since), limit=1)
    if not records:
        return "no run since its tick"
    run = records[0].dagster_run
    return f"latest run {run.run_id[:8]}: {run.status.value}"


def missed_nights(
    instance: dg.DagsterInstance, schedules: list[Nightly], now: dt.datetime, watching_since: dt.datetime
) -> list[Missed]:
    """The schedules whose last judged night has no successful run (nights before `watching_since` are skipped)."""
    missed = []
    for nightly in schedules:
        tick = nightly.last_night(now)
        if tick < watching_since:
            continue
        since = tick - NIGHT_SLACK
        if not _succeeded_since(instance, nightly, since):
            missed.append(Missed(nightly, tick, _latest_run(instance, nightly, since)))
    return missed


@dg.sensor(
    name=SENSOR,
    minimum_interval_seconds=600,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Fails when a daily scheduled job (every once-a-day schedule in this code location) has no "
    "successful run for its last night, once its maximum runtime has passed; the alert forwarder sends it.",
)
def missed_nights_sensor(context: dg.SensorEvaluationContext):
    now = dt.datetime.fromtimestamp(time.time(), dt.UTC)
    cursor = json.loads(context.cursor) if context.cursor else {}
    if "watching_since" not in cursor:
        cursor["watching_since"] = now.isoformat()
        context.update_cursor(json.dumps(cursor))
    schedules = nightly_schedules(context.repository_def)
    missed = missed_nights(context.instance, schedules, now, dt.datetime.fromisoformat(cursor["watching_since"]))
    if missed:
        raise RuntimeError(
            f"{len(missed)} nightly job(s) have no successful run for their last night: "
            + ", ".join(m.nightly.job for m in missed) + "\n" + "\n".join(m.describe() for m in missed)
        )
    return dg.SkipReason(f"all {len(schedules)} daily schedules' last nights succeeded (or are not due yet)")


