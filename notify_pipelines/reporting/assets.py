"""The two reporting facts as daily-partitioned Dagster assets: thin loops over the day builders.

A range of partitions (a backfill, the nightly look-back) is one run: the days are rebuilt one after another, each in
its own transaction, so a failure keeps the days already done and a long backfill never holds one huge transaction.
"""

# No `from __future__ import annotations`: Dagster reads the config and context annotations at runtime.

import datetime as dt
from typing import Callable

import dagster as dg
import sqlalchemy as sa

from notify_pipelines.partitions import daily_partitions, partition_key, window_days
from notify_pipelines.reporting import billing_facts, metadata, status_facts
from notify_pipelines.reporting.results import DayBuild
from notify_pipelines.resources import NotifyDatabase

EMAIL_SMS = ("email", "sms")
ALL_TYPES = ("email", "sms", "letter")


class StatusBuildConfig(dg.Config):
    letters_only_before: str | None = None
    """YYYY-MM-DD: days before this date rebuild only their letter rows (the nightly look-back sets it; email and
    SMS statuses are final after the 3-day timeout, letters can change for 10 days). Unset: every type, every day."""


def status_types(day: dt.date, letters_only_before: str | None) -> tuple[str, ...]:
    if letters_only_before is None:
        return ALL_TYPES
    try:
        boundary = dt.date.fromisoformat(letters_only_before)
    except ValueError as exc:
        raise dg.Failure(f"letters_only_before must be YYYY-MM-DD, got {letters_only_before!r}") from exc
    return ("letter",) if day < boundary else ALL_TYPES


def _rebuild_window(
    context: dg.AssetExecutionContext,
    engine: sa.Engine,
    rebuild: Callable[[dt.date], DayBuild],
    preview_sql: sa.TextClause,
    count_label: str,
) -> dg.MaterializeResult:
    days = window_days(context.partition_time_window)
    context.log.info(f"rebuilding {context.asset_key.to_user_string()} for {days[0]} to {days[-1]} ({len(days)} days)")
    for day in days:
        build = rebuild(day)
        with engine.connect() as conn:
            preview = metadata.preview(conn, preview_sql, build)
        context.add_asset_metadata(metadata.day_metadata(build, preview, count_label), partition_key=partition_key(day))
        context.log.info(
            f"{day}: replaced {build.deleted} rows with {build.inserted} ({build.notifications} {count_label}) "
            f"in {build.seconds:.2f} s"
        )
    return dg.MaterializeResult()


@dg.asset(
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="reporting",
    kinds={"postgres"},
    description="Notifications per London day, template, service, job, type, key type and status (test keys out).",
)
def ft_notification_status(
    context: dg.AssetExecutionContext, config: StatusBuildConfig, notify_db: NotifyDatabase
) -> dg.MaterializeResult:
    engine = notify_db.engine

    def rebuild(day: dt.date) -> DayBuild:
        return status_facts.rebuild_status_day(engine, day, status_types(day, config.letters_only_before))

    return _rebuild_window(context, engine, rebuild, metadata.STATUS_PREVIEW_SQL, "notifications")


@dg.asset(
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="reporting",
    kinds={"postgres"},
    description="Billable notifications per London day, service, template, type, provider, rate and postage.",
)
def ft_billing(context: dg.AssetExecutionContext, notify_db: NotifyDatabase) -> dg.MaterializeResult:
    engine = notify_db.engine
    return _rebuild_window(
        context,
        engine,
        lambda day: billing_facts.rebuild_billing_day(engine, day),
        metadata.BILLING_PREVIEW_SQL,
        "notifications_sent",
    )
