"""What starts the timetable's slots, in order: a schedule for a slot at a fixed time (`timetable_schedule`), the
`night_plan` sensor for a slot that follows others (`follower`), and what both read from the run records: how a
slot's night went (`night_state`).

Every run a slot launches carries its slot and night (SLOT_TAG, NIGHT_TAG) and its maximum runtime; a run that starts
more than START_SLACK after its time because the daemon was not running also carries CATCH_UP_TAG, which
`missed_nights` reports once. A run launched by hand (no slot tag) after a night's tick counts for that night.

Catch-up: when the daemon comes back, Dagster's scheduler evaluates each schedule's latest missed tick once (never
the ticks before it: these schedules have no partition set); `night_plan` looks at each follower's latest night
only. A run older than its slot's `lateness` is not caught up (missed_nights reports the night).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Callable

import dagster as dg

from notify_pipelines.core.calendar import financial_year
from notify_pipelines.core.vocabulary import utc_now_aware
from notify_pipelines.orchestration.run_limits import MAX_RUNTIME_TAG
from notify_pipelines.orchestration.timetable import TIMETABLE, Partitions, Slot, Starts, slot

SLOT_TAG = "notify/slot"
NIGHT_TAG = "notify/night"
CATCH_UP_TAG = "notify/caught_up_from"  # the slot time that was missed, ISO
# A run tagged so is a backfill, never the night's run of its slot (`dev`'s build of its demo window sets it).
BACKFILL_TAG = "notify/backfill"
# A run without these was launched by hand, and counts as its slot's run for the night it was launched in.
LAUNCHER_TAGS = {SLOT_TAG, "dagster/schedule_name", "dagster/sensor_name", "dagster/backfill", BACKFILL_TAG}
WILL_RETRY_TAG = "dagster/will_retry"  # set by Dagster on a failed run that run retries will re-run
START_SLACK = dt.timedelta(minutes=15)  # queue and process start; a start later than this after it was due is a catch-up
NIGHT_SLACK = dt.timedelta(hours=1)  # a run by hand this long before the tick still counts (clock changes)
NIGHT_PLAN = "night_plan"
IN_PROGRESS = (dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
               dg.DagsterRunStatus.STARTED)

Request = Callable[[dt.datetime], dg.RunRequest]  # the slot's tick (aware) -> the run to launch


def utc_now() -> dt.datetime:
    """Now for the schedules and night_plan (a test pins it here)."""
    return utc_now_aware()


def default_request(s: Slot) -> Request:
    def request(tick: dt.datetime) -> dg.RunRequest:
        night = s.night_of(tick).isoformat()
        if s.partitions in (Partitions.TONIGHT, Partitions.TODAY):
            return dg.RunRequest(run_key=night, partition_key=night)
        if s.partitions is Partitions.FINANCIAL_YEAR:
            year = str(financial_year(s.night_of(tick)))
            return dg.RunRequest(run_key=year, partition_key=year)
        return dg.RunRequest(run_key=night)
    return request


def slot_tags(s: Slot, tick: dt.datetime, late: bool) -> dict[str, str]:
    tags = {SLOT_TAG: s.name, NIGHT_TAG: s.night_of(tick).isoformat(),
            MAX_RUNTIME_TAG: str(int(s.max_runtime.total_seconds()))}
    if late:
        tags[CATCH_UP_TAG] = tick.isoformat()
    return tags


def _tagged(request: dg.RunRequest, s: Slot, tick: dt.datetime, late: bool) -> dg.RunRequest:
    return request.with_replaced_attrs(tags={**request.tags, **slot_tags(s, tick, late)})


def _beyond_lateness(s: Slot, tick: dt.datetime, now: dt.datetime) -> bool:
    return s.lateness is not None and now - tick > s.lateness


# ---- schedules ------------------------------------------------------------------------------------------------------


def timetable_schedule(name: str, job, request: Request | None = None) -> dg.ScheduleDefinition:
    """The schedule of the slot `name`: its cron and zone, tonight's request tagged with its slot and night."""
    s = slot(name)
    assert s.starts is Starts.SCHEDULE and s.target == job.name, f"{name}: not a schedule slot for {job.name}"
    make = request or default_request(s)

    @dg.schedule(name=name, job=job, cron_schedule=s.cron, execution_timezone=s.zone, description=s.why,
                 default_status=dg.DefaultScheduleStatus.RUNNING)  # the night's work is not opt-in
    def _schedule(context: dg.ScheduleEvaluationContext):
        tick, now = context.scheduled_execution_time, utc_now()
        if _beyond_lateness(s, tick, now):
            return dg.SkipReason(f"{s.name}'s {tick.isoformat()} start was missed by more than its catch-up "
                                 f"lateness ({s.lateness}); missed_nights reports it")
        return _tagged(make(tick), s, tick, late=now - tick > START_SLACK)

    return _schedule


# ---- how a slot's night went ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NightState:
    slot: Slot
    night: dt.date
    status: str  # "succeeded", "failed", "running" or "not started"
    run_id: str | None = None
    ended: dt.datetime | None = None  # when the successful run ended

    def describe(self) -> str:
        run = f" (run {self.run_id[:8]})" if self.run_id else ""
        return f"{self.slot.name} {self.status} for the night of {self.night}{run}"


def night_runs(instance: dg.DagsterInstance, s: Slot, night: dt.date) -> list:
    """The slot's runs for `night`, newest first: tagged with it, or launched by hand (no slot, schedule or
    sensor tag) between its tick and the next."""
    tagged = instance.get_run_records(
        filters=dg.RunsFilter(job_name=s.target, tags={SLOT_TAG: s.name, NIGHT_TAG: night.isoformat()}), limit=20)
    by_hand = [r for r in instance.get_run_records(
        filters=dg.RunsFilter(job_name=s.target, created_after=s.tick(night) - NIGHT_SLACK,
                              created_before=s.tick(night + dt.timedelta(days=1)) - NIGHT_SLACK), limit=50)
        if not LAUNCHER_TAGS & set(r.dagster_run.tags)]
    return sorted([*tagged, *by_hand], key=lambda r: r.create_timestamp, reverse=True)


def night_state(instance: dg.DagsterInstance, s: Slot, night: dt.date) -> NightState:
    records = night_runs(instance, s, night)
    for r in records:
        if r.dagster_run.status == dg.DagsterRunStatus.SUCCESS:
            ended = dt.datetime.fromtimestamp(r.end_time, dt.UTC) if r.end_time else r.update_timestamp
            return NightState(s, night, "succeeded", r.dagster_run.run_id, ended)
    for r in records:
        run = r.dagster_run
        if run.status in IN_PROGRESS or run.tags.get(WILL_RETRY_TAG) == "true":
            return NightState(s, night, "running", run.run_id)
    if records:
        return NightState(s, night, "failed", records[0].dagster_run.run_id)
    return NightState(s, night, "not started")


# ---- followers: the night_plan sensor -------------------------------------------------------------------------------

_FOLLOWERS: dict[str, tuple[dg.JobDefinition, Request]] = {}


def follower(name: str, job, request: Request | None = None) -> None:
    """Declare how the follower slot `name` launches its job; the night_plan sensor does the launching."""
    s = slot(name)
    assert s.starts is Starts.FOLLOWER and s.target == job.name, f"{name}: not a follower slot for {job.name}"
    _FOLLOWERS[name] = (job, request or default_request(s))


def follower_request(name: str, tick: dt.datetime, late: bool = False,
                     launchers: dict[str, tuple[dg.JobDefinition, Request]] | None = None) -> dg.RunRequest:
    """The run night_plan requests for the follower `name` at its `tick`: one per slot and night (its run key)."""
    s = slot(name)
    job, make = (launchers or _FOLLOWERS)[name]
    request = _tagged(make(tick), s, tick, late=late)
    return request.with_replaced_attrs(run_key=f"{name}:{s.night_of(tick)}", job_name=job.name)


def plan(instance: dg.DagsterInstance, now: dt.datetime, launchers: dict[str, tuple[dg.JobDefinition, Request]],
         evaluated_before: dt.datetime | None = None) -> tuple[list[dg.RunRequest], list[str]]:
    """The follower runs due at `now` and, for the others, why not. A follower is due on its latest night once its
    time has come, all its predecessors have succeeded for that night, it has no run for that night yet, and the
    night is within its catch-up lateness. It is a catch-up when the sensor did not run between the follower's time
    and START_SLACK ago (`evaluated_before`: its previous evaluation; None: it never ran), i.e. the daemon was down."""
    requests, notes = [], []
    for s in TIMETABLE:
        if s.starts is not Starts.FOLLOWER:
            continue
        tick = s.latest_tick(now)
        night = s.night_of(tick)
        own = night_state(instance, s, night)
        if own.status != "not started":
            notes.append(own.describe())
            continue
        if _beyond_lateness(s, tick, now):
            notes.append(f"{s.name} not started for the night of {night}: past its catch-up lateness "
                         f"({s.lateness}); missed_nights reports it")
            continue
        before = [night_state(instance, slot(p), night) for p in s.follows]
        waiting = [b for b in before if b.status != "succeeded"]
        if waiting:
            notes.append(f"{s.name} held for the night of {night}: " + "; ".join(b.describe() for b in waiting))
            continue
        missed = now - tick > START_SLACK and (evaluated_before is None or evaluated_before < tick)
        requests.append(follower_request(s.name, tick, late=missed, launchers=launchers))
        notes.append(f"{s.name} started for the night of {night}")
    return requests, notes


def night_plan_sensor() -> dg.SensorDefinition:
    """The sensor that starts every follower slot; built once the domains have declared their followers."""
    missing = {s.name for s in TIMETABLE if s.starts is Starts.FOLLOWER} - set(_FOLLOWERS)
    assert not missing, f"follower slots with no job declared: {sorted(missing)}"
    launchers = dict(_FOLLOWERS)

    @dg.sensor(name=NIGHT_PLAN, jobs=[job for job, _ in launchers.values()], minimum_interval_seconds=30,
               default_status=dg.DefaultSensorStatus.RUNNING,
               description="Starts the timetable's slots that follow others (docs/timetable.md) once their time has "
               "come and their predecessors have succeeded for that night; catches up a missed night within its "
               "lateness.")
    def night_plan(context: dg.SensorEvaluationContext):
        now = utc_now()
        before = dt.datetime.fromisoformat(context.cursor) if context.cursor else None
        requests, notes = plan(context.instance, now, launchers, evaluated_before=before)
        context.update_cursor(now.isoformat())  # when it last looked: a gap since means the daemon was down
        if not requests:
            return dg.SkipReason("; ".join(notes))
        return dg.SensorResult(run_requests=requests)

    return night_plan

