"""Usage follows billing: the sensor `ft_monthly_usage_follows_billing` rebuilds the ft_monthly_usage months that a
materialisation of any ft_billing day feeds, whatever made it (the schedules, a backfill, the UI, the CLI).

A day feeds its own month and every later month of its financial year (monthly_usage.months_fed_by: the free SMS
allowance is used up in date order), which a partition mapping cannot say (TimeWindowPartitionMapping maps a day to its
own month only), so a sensor reads ft_billing's materialisations after its cursor (a storage id) and asks for one
ft_monthly_usage run per financial year touched, over the months from the earliest one fed to the year's last (or
the current month). It waits at the first materialisation whose run is still going: a backfill of a month asks for
usage once, when it ends, rather than once per tick while it runs. A failed billing run's committed days count.
"""

# No `from __future__ import annotations`: Dagster reads the context annotations at runtime.

import datetime as dt

import dagster as dg

from notify_pipelines.core.calendar import local_today, to_naive_utc
from notify_pipelines.core.vocabulary import utc_now_aware
from notify_pipelines.orchestration.night import SLOT_TAG
from notify_pipelines.reporting.assets import ft_billing
from notify_pipelines.reporting.monthly_usage import financial_year, months_fed_by
from notify_pipelines.reporting.schedules import ft_monthly_usage_job
from notify_pipelines.reporting.usage_asset import month_key

SENSOR_NAME = "ft_monthly_usage_follows_billing"
# The night's billing run is followed by the timetable's usage slot (night_plan), in the night's order: not again here.
NIGHTLY_BILLING_SLOT = "nightly_ft_billing"
RECORDS_PER_TICK = 1000  # a larger backlog (a first start after years of history) continues on the next tick


def usage_requests(instance: dg.DagsterInstance, cursor: str | None, today: dt.date) -> dg.SensorResult:
    """The usage runs owed for ft_billing materialisations after `cursor`, and the new cursor."""
    after = int(cursor) if cursor else None
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=ft_billing.key, after_storage_id=after), limit=RECORDS_PER_TICK, ascending=True
    ).records
    fed: dict[int, set[dt.date]] = {}
    waiting_for = None
    for record in records:
        run = instance.get_run_by_id(record.run_id) if record.run_id else None
        if run is not None and not run.is_finished:
            waiting_for = run.run_id
            break
        nightly = run is not None and run.tags.get(SLOT_TAG) == NIGHTLY_BILLING_SLOT
        if record.partition_key and not nightly:  # the night's billing is followed by its own timetable slot
            day = dt.date.fromisoformat(record.partition_key)
            fed.setdefault(financial_year(day), set()).update(months_fed_by(day, today))
        after = record.storage_id
    requests = []
    for year, months in sorted(fed.items()):
        if not months:
            continue  # a day after the current month: nothing exists to rebuild yet
        first, last = month_key(min(months)), month_key(max(months))
        requests.append(dg.RunRequest(
            run_key=f"{SENSOR_NAME}:{first}...{last}:{after}",
            tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last},
        ))
    skip = None
    if not requests:
        skip = f"waiting for billing run {waiting_for} to finish" if waiting_for else "no new ft_billing days"
    return dg.SensorResult(run_requests=requests, cursor=str(after) if after is not None else None,
                           skip_reason=skip)


@dg.sensor(
    name=SENSOR_NAME,
    job=ft_monthly_usage_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Rebuilds the ft_monthly_usage months each new ft_billing day feeds (its month and the later months "
    "of its financial year), once the billing run has finished.",
)
def ft_monthly_usage_follows_billing(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    return usage_requests(context.instance, context.cursor, local_today(to_naive_utc(utc_now_aware())))
