"""`missed_nights`: fails when a daily slot of the timetable (orchestration/timetable.py) has no successful run for
its last night, or was caught up after the daemon missed its time.

The expectations are the timetable's daily job slots, so a new slot is covered without being listed here. A night
counts as done when a run of the slot's job succeeded for it (orchestration/night.py: tagged with the slot and night,
or launched by hand after that night's time). A night is judged only once the slot has had its maximum runtime plus
START_SLACK to finish; until then the night before is the one looked at. Not reported here, because one alert
already says it: a night whose run failed (the alert forwarder sends each failed run, naming the slots it holds), and
a follower held by a predecessor that is missed or failed (the predecessor's report names it).

A catch-up (a run tagged notify/caught_up_from) is reported by one failing tick, the first this sensor sees of it, and
the next tick passes: the forwarder (alerts.py) turns that into one alert and one recovery message. Nights before
the sensor first ran on an instance are not judged (a new instance has no history); the cursor keeps that moment.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

import dagster as dg

from notify_pipelines.monitoring.sensor_state import load_state, save_state
from notify_pipelines.orchestration.night import CATCH_UP_TAG, NIGHT_TAG, NightState, SLOT_TAG, START_SLACK, night_state
from notify_pipelines.orchestration.run_limits import MAX_RUNTIME_TAG
from notify_pipelines.orchestration.timetable import Slot, TIMETABLE

SENSOR = "missed_nights"


@dataclass(frozen=True)
class Nightly:
    slot: Slot
    grace: dt.timedelta
    partitioned: bool

    @property
    def schedule(self) -> str:
        return self.slot.name

    @property
    def job(self) -> str:
        return self.slot.target

    def last_night(self, now: dt.datetime) -> dt.datetime:
        """The latest tick whose grace period is over by `now` (aware datetimes)."""
        return self.slot.latest_tick(now - self.grace)


@dataclass(frozen=True)
class Missed:
    nightly: Nightly
    tick: dt.datetime
    latest: str  # the latest run of the job for the night, or that there was none
    failed: bool = False  # its latest run failed: the forwarder has alerted that run

    def describe(self) -> str:
        n = self.nightly
        rerun = f"dagster job execute -m notify_pipelines.definitions -j {n.job}" + (
            f" --tags '{{\"dagster/partition\": \"{self.tick.date()}\"}}'" if n.partitioned else "")
        return (f"{n.job} (slot {n.schedule}, {n.slot.when()}): no successful run for the night of "
                f"{self.tick.date()} ({self.latest}); re-run: {rerun}")


def nightly_schedules(repository: dg.RepositoryDefinition, timetable: tuple[Slot, ...] = TIMETABLE) -> list[Nightly]:
    """The timetable's daily job slots, each with its grace period (max runtime plus START_SLACK)."""
    return sorted(
        (Nightly(slot=s, grace=s.max_runtime + START_SLACK,
                 partitioned=repository.get_job(s.target).partitions_def is not None)
         for s in timetable if s.is_daily_job),
        key=lambda n: n.schedule,
    )


def _latest(state: NightState) -> str:
    return f"latest run {state.run_id[:8]}: {state.status}" if state.run_id else "no run since its tick"


def missed_nights(
    instance: dg.DagsterInstance, schedules: list[Nightly], now: dt.datetime, watching_since: dt.datetime
) -> list[Missed]:
    """The slots whose last judged night has no successful run (nights before `watching_since` are skipped), but not
    a follower of an unfinished slot (the slot it waits for is the one to report)."""
    missed, unfinished = [], set()
    for nightly in schedules:
        tick = nightly.last_night(now)
        if tick < watching_since:
            continue
        state = night_state(instance, nightly.slot, nightly.slot.night_of(tick))
        if state.status == "succeeded":
            continue
        unfinished.add(nightly.schedule)
        missed.append(Missed(nightly, tick, _latest(state), failed=state.status == "failed"))
    return [m for m in missed if not (set(m.nightly.slot.follows) & unfinished)]


def caught_up_runs(instance: dg.DagsterInstance, since: dt.datetime) -> list:
    """Runs launched late for a daily slot (catch-ups), oldest first."""
    records = instance.get_run_records(filters=dg.RunsFilter(created_after=since), limit=500)
    daily = {s.name for s in TIMETABLE if s.is_daily_job}
    runs = [r.dagster_run for r in records if CATCH_UP_TAG in r.dagster_run.tags
            and r.dagster_run.tags.get(SLOT_TAG) in daily]
    return sorted(runs, key=lambda run: run.tags[CATCH_UP_TAG])


def catch_up_message(runs: list) -> str:
    return "\n".join(
        f"{run.tags[SLOT_TAG]} did not start at {run.tags[CATCH_UP_TAG]} for the night of {run.tags[NIGHT_TAG]} "
        f"(the daemon was not running); caught up by run {run.run_id[:8]} ({run.status.value})"
        for run in runs)


def missed_nights_sensor_for(timetable: tuple[Slot, ...]) -> dg.SensorDefinition:
    @dg.sensor(
        name=SENSOR,
        minimum_interval_seconds=600,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Fails when a daily slot of the timetable has no successful run for its last night once its "
        "maximum runtime has passed, or once when a missed night was caught up; the alert forwarder sends it.",
    )
    def missed_nights_sensor(context: dg.SensorEvaluationContext):
        now = dt.datetime.fromtimestamp(time.time(), dt.UTC)
        state = load_state(context, SENSOR)
        if "watching_since" not in state:
            state["watching_since"] = now.isoformat()
            save_state(context, SENSOR, state)
        watching_since = dt.datetime.fromisoformat(state["watching_since"])
        reported = set(state.get("caught_up_reported", []))
        new_catch_ups = [run for run in caught_up_runs(context.instance, watching_since - START_SLACK)
                         if run.run_id not in reported]
        if new_catch_ups:  # remembered before failing: each catch-up fails one tick, the alert
            state["caught_up_reported"] = sorted(reported | {run.run_id for run in new_catch_ups})[-200:]
            save_state(context, SENSOR, state)
        schedules = nightly_schedules(context.repository_def, timetable)
        unfinished = missed_nights(context.instance, schedules, now, watching_since)
        missed = [m for m in unfinished if not m.failed]  # a failed run was alerted once, naming what it holds
        problems = []
        if missed:
            problems.append(
                f"{len(missed)} nightly job(s) have no successful run for their last night: "
                + ", ".join(m.nightly.job for m in missed) + "\n" + "\n".join(m.describe() for m in missed))
        if new_catch_ups:
            problems.append(f"{len(new_catch_ups)} missed night(s) caught up:\n" + catch_up_message(new_catch_ups))
        if problems:
            raise RuntimeError("\n\n".join(problems))
        failed = [m for m in unfinished if m.failed]
        if failed:
            return dg.SkipReason("failed (each alerted as a failed run): " + "; ".join(m.describe() for m in failed))
        return dg.SkipReason(f"all {len(schedules)} daily slots' last nights succeeded (or are not due yet)")

    return missed_nights_sensor


missed_nights_sensor = missed_nights_sensor_for(TIMETABLE)
