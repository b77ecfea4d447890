"""One way to add a daily fact: its SQL module (a `rebuild(engine, day)` that replaces one London day in one
transaction) plus one `DailyFact` declaration, from which `daily_fact_asset` makes the partitioned asset and
`freshness.py` its freshness check. The nightly schedules sit together in schedules.py.

A range of partitions (a backfill, the nightly look-back) is one run: the days are rebuilt one after another, each in
its own transaction, so a failure keeps the days already done and a long backfill never holds one huge transaction.
"""

# No `from __future__ import annotations`: Dagster reads the config and context annotations at runtime.

import datetime as dt
from dataclasses import dataclass
from typing import Callable

import dagster as dg
import sqlalchemy as sa

from notify_pipelines.partitions import daily_partitions, partition_key, window_days
from notify_pipelines.reporting import metadata
from notify_pipelines.reporting.results import DayBuild
from notify_pipelines.reporting.sources import source_key
from notify_pipelines.resources import NotifyDatabase


@dataclass(frozen=True)
class DailyFact:
    table: sa.Table
    rebuild: Callable[..., DayBuild]  # (engine, day), or (engine, day, config) when config_type is set
    description: str
    reads: tuple[sa.Table, ...]  # source tables: the asset's deps in the lineage graph
    preview_sql: sa.TextClause
    count_label: str  # what DayBuild.notifications counts, as a metadata key
    deadline: dt.time  # London time by which yesterday's partition must exist (freshness check)
    per_type_labels: tuple[str, ...] = ("email", "sms", "letter")
    config_type: type | None = None  # a dg.Config class the rebuild takes

    @property
    def name(self) -> str:
        return self.table.name

    @property
    def key(self) -> dg.AssetKey:
        return dg.AssetKey(self.name)


def rebuild_window(
    context: dg.AssetExecutionContext, fact: DailyFact, engine: sa.Engine, rebuild: Callable[[dt.date], DayBuild]
) -> dg.MaterializeResult:
    days = window_days(context.partition_time_window)
    context.log.info(f"rebuilding {fact.name} for {days[0]} to {days[-1]} ({len(days)} days)")
    for day in days:
        build = rebuild(day)
        with engine.connect() as conn:
            preview = metadata.preview(conn, fact.preview_sql, build)
        context.add_asset_metadata(
            {
                **metadata.standard_metadata(fact.table, build.row_count),
                **metadata.day_metadata(build, preview, fact.count_label, fact.per_type_labels),
            },
            partition_key=partition_key(day),
        )
        context.log.info(
            f"{day}: replaced {build.deleted} rows with {build.inserted} ({build.notifications} {fact.count_label}) "
            f"in {build.seconds:.2f} s"
        )
    return dg.MaterializeResult()


def daily_fact_asset(fact: DailyFact) -> dg.AssetsDefinition:
    """The London-day partitioned asset for a declaration (single-run backfills, deps on its source tables)."""
    if fact.config_type is None:

        def compute(context: dg.AssetExecutionContext, notify_db: NotifyDatabase) -> dg.MaterializeResult:
            engine = notify_db.engine
            return rebuild_window(context, fact, engine, lambda day: fact.rebuild(engine, day))

    else:

        def compute(context: dg.AssetExecutionContext, notify_db: NotifyDatabase, config) -> dg.MaterializeResult:
            engine = notify_db.engine
            return rebuild_window(context, fact, engine, lambda day: fact.rebuild(engine, day, config))

        compute.__annotations__["config"] = fact.config_type

    return dg.asset(
        name=fact.name,
        partitions_def=daily_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        group_name="reporting",
        kinds={"postgres"},
        description=fact.description,
        deps=[source_key(table) for table in fact.reads],
        metadata=metadata.table_metadata(fact.table),
    )(compute)
