"""London-day partitions, today included: the reporting facts and the retention job share one definition."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from notify_pipelines.core import settings
from notify_pipelines.core.vocabulary import LONDON_TZ

# end_offset=1 adds today's still-open partition: the hourly billing schedule rebuilds it, and retention's partition D
# is the night of D (tonight's run is for today). One definition keeps the assets and the job on the same axis.
daily_partitions = dg.DailyPartitionsDefinition(
    start_date=settings.partitions_start(), timezone=LONDON_TZ, end_offset=1
)


def window_days(window: dg.TimeWindow) -> list[dt.date]:
    """The London dates in a partition time window (start inclusive, end exclusive; both are London midnights)."""
    first, end = window.start.date(), window.end.date()
    return [first + dt.timedelta(days=i) for i in range((end - first).days)]


def partition_key(day: dt.date) -> str:
    return day.isoformat()


def from_first_partition(first: dt.date, partitions: dg.TimeWindowPartitionsDefinition = daily_partitions) -> dt.date:
    """`first`, or the first partition's day where a look-back reaches before NOTIFY_PARTITIONS_START (a deployment,
    or `dev`, whose history starts recently): a run over keys that do not exist would be refused."""
    return max(first, partitions.start.date())
