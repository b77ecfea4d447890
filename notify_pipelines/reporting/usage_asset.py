"""ft_monthly_usage as a monthly-partitioned asset (London months, keys YYYY-MM, the current month included),
downstream of ft_billing: each month depends on its days (TimeWindowPartitionMapping), so the UI shows the lineage and
which months are stale after a day of billing is rebuilt. A month's rebuild also reads the earlier months of its
financial year from ft_billing (monthly_usage.py); the mapping shows only the month's own days."""

# No `from __future__ import annotations`: Dagster reads the context annotations at runtime.

import datetime as dt

import dagster as dg

from notify_pipelines.core import settings
from notify_pipelines.core.vocabulary import LONDON_TZ
from notify_pipelines.db import schema
from notify_pipelines.orchestration.resources import NotifyDatabase
from notify_pipelines.orchestration.retries import TRANSIENT_FAULTS
from notify_pipelines.reporting import metadata, monthly_usage
from notify_pipelines.reporting.assets import ft_billing
from notify_pipelines.reporting.daily_fact import range_refused
from notify_pipelines.reporting.sources import source_key

MONTH_KEY_FORMAT = "%Y-%m"

monthly_partitions = dg.MonthlyPartitionsDefinition(
    start_date=dt.datetime.combine(dt.date.fromisoformat(settings.partitions_start()).replace(day=1), dt.time()),
    timezone=LONDON_TZ,
    fmt=MONTH_KEY_FORMAT,
    end_offset=1,  # the current, still open month: rebuilt nightly
)


def month_key(month: dt.date) -> str:
    return month.strftime(MONTH_KEY_FORMAT)


def window_months(window: dg.TimeWindow) -> list[dt.date]:
    """First days of the London months in a partition time window (start inclusive, end exclusive)."""
    months, month = [], window.start.date()
    while month < window.end.date():
        months.append(month)
        month = monthly_usage.next_month(month)
    return months


@dg.asset(
    partitions_def=monthly_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    retry_policy=TRANSIENT_FAULTS,
    group_name="reporting",
    kinds={"postgres"},
    description="Per London month, service, type, rate and postage: units, the free SMS allowance used (in date "
    "order through the April-March financial year), charged units and cost.",
    deps=[
        dg.AssetDep(ft_billing, partition_mapping=dg.TimeWindowPartitionMapping()),
        source_key(schema.annual_billing),
    ],
    metadata=metadata.table_metadata(schema.ft_monthly_usage),
)
def ft_monthly_usage(context: dg.AssetExecutionContext, notify_db: NotifyDatabase) -> dg.MaterializeResult:
    engine = notify_db.engine
    months = window_months(context.partition_time_window)
    if not months:
        raise range_refused("ft_monthly_usage", context, "months")
    context.log.info(f"rebuilding ft_monthly_usage for {month_key(months[0])} to {month_key(months[-1])}")
    for month in months:
        build = monthly_usage.rebuild_usage_month(engine, month)
        context.add_asset_metadata(
            {
                **metadata.standard_metadata(schema.ft_monthly_usage, build.row_count),
                **metadata.day_metadata(build, "", "notifications_sent"),
            },
            partition_key=month_key(month),
        )
        context.log.info(f"{month_key(month)}: replaced {build.deleted} rows with {build.inserted} in {build.seconds:.2f} s")
    return dg.MaterializeResult()
