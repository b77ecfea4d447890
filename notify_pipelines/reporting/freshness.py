"""Freshness: each daily fact's yesterday partition must exist by its deadline in London time (DailyFact.deadline:
its timetable slot's `fresh_by`, orchestration/timetable.py).

The check `yesterday_built_by_deadline` on each daily fact looks at the partition owed by the latest deadline passed
(before today's deadline that is the day before yesterday's) and passes when the Dagster instance holds a
materialisation of it. The sensor `reporting_freshness` evaluates every check every 5 minutes without launching a run
and reports an evaluation only when a fact's (owed partition, passed) changes, so the event log gets a couple of
evaluations a day per fact. The alert forwarder (monitoring/alerts.py) turns a failing evaluation into one alert and
the next passing one into a recovery message. The checks can also be run by hand from the UI.
"""

# No `from __future__ import annotations`: Dagster reads the context annotations at runtime.

import datetime as dt
import json

import dagster as dg

from notify_pipelines.core.calendar import london_to_utc, to_naive_utc, utc_to_london
from notify_pipelines.core.vocabulary import utc_now_aware
from notify_pipelines.orchestration.partitions import partition_key
from notify_pipelines.reporting.assets import DAILY_FACTS
from notify_pipelines.reporting.daily_fact import DailyFact

CHECK_NAME = "yesterday_built_by_deadline"
SENSOR_NAME = "reporting_freshness"


def owed_day(now_utc: dt.datetime, deadline: dt.time) -> dt.date:
    """The latest London day whose partition must exist at `now_utc`: yesterday once today's deadline has passed."""
    local = utc_to_london(to_naive_utc(now_utc))
    return local.date() - dt.timedelta(days=1 if local.time() >= deadline else 2)


def partition_built(instance: dg.DagsterInstance, key: dg.AssetKey, day: dt.date) -> bool:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition_key(day)]), limit=1
    ).records
    return bool(records)


def evaluate(instance: dg.DagsterInstance, fact: DailyFact, now_utc: dt.datetime) -> dg.AssetCheckEvaluation:
    day = owed_day(now_utc, fact.deadline)
    due = london_to_utc(dt.datetime.combine(day + dt.timedelta(days=1), fact.deadline))
    built = partition_built(instance, fact.key, day)
    if built:
        description = f"{fact.name} {day} was built (due by {fact.deadline:%H:%M} London on {day + dt.timedelta(days=1)})"
    else:
        late = int((to_naive_utc(now_utc) - due).total_seconds() // 60)
        description = (
            f"{fact.name} partition {day} is not built: it was due by {fact.deadline:%H:%M} London time "
            f"({late} min ago). Look at the nightly run, then materialise the partition."
        )
    return dg.AssetCheckEvaluation(
        asset_key=fact.key,
        check_name=CHECK_NAME,
        passed=built,
        description=description,
        metadata={"partition": partition_key(day), "deadline_london": fact.deadline.strftime("%H:%M")},
    )


def _freshness_check(fact: DailyFact) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=fact.key,
        name=CHECK_NAME,
        description=f"Yesterday's partition exists by {fact.deadline:%H:%M} London time (evaluated by {SENSOR_NAME}).",
    )
    def check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        result = evaluate(context.instance, fact, utc_now_aware())
        return dg.AssetCheckResult(passed=result.passed, description=result.description, metadata=result.metadata)

    return check


freshness_checks = [_freshness_check(fact) for fact in DAILY_FACTS]


def freshness_tick(instance: dg.DagsterInstance, cursor: str | None, now_utc: dt.datetime) -> dg.SensorResult:
    """Evaluations for the facts whose (owed partition, passed) changed since the cursor."""
    last = json.loads(cursor) if cursor else {}
    events = []
    for fact in DAILY_FACTS:
        evaluation = evaluate(instance, fact, now_utc)
        state = f"{evaluation.metadata['partition'].value}:{'pass' if evaluation.passed else 'fail'}"
        if last.get(fact.name) != state:
            events.append(evaluation)
            last[fact.name] = state
    return dg.SensorResult(asset_events=events, cursor=json.dumps(last, sort_keys=True))


@dg.sensor(
    name=SENSOR_NAME,
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Reports each daily fact's freshness check (yesterday's partition built by its London deadline) "
    "when it changes; no runs.",
)
def reporting_freshness(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    return freshness_tick(context.instance, context.cursor, utc_now_aware())
