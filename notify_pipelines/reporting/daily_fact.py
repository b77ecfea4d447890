"""One way to add a daily fact: its SQL module (a `rebuild(engine, day)` that replaces one London day in one
transaction) plus one `DailyFact` declaration, from which `daily_fact_asset` makes the partitioned asset and
`freshness.py` its freshness check. The nightly schedules sit together in schedules.py.

A range of partitions (a backfill, the nightly look-back) is one run: the days are rebuilt one after another, each in
its own transaction, so a failure keeps the days already done and a long backfill never holds one huge transaction.
When a day fails (or the run is interrupted), the days already committed are recorded as materialised with their
metadata before the run fails, and the error's first line names the asset, the day and what to re-run. (A successful
range run records its days at the end of the step, as Dagster does for a range; logging each day as it commits as
well would record every day twice.) A reversed range or bad config is refused before any day is touched.
"""

# No `from __future__ import annotations`: Dagster reads the config and context annotations at runtime.

import datetime as dt
from dataclasses import dataclass
from typing import Callable

import dagster as dg
import sqlalchemy as sa

from notify_pipelines.orchestration.partitions import daily_partitions, partition_key, window_days
from notify_pipelines.orchestration.resources import NotifyDatabase
from notify_pipelines.orchestration.retries import TRANSIENT_FAULTS, is_transient
from notify_pipelines.reporting import metadata
from notify_pipelines.reporting.results import DayBuild
from notify_pipelines.reporting.sources import source_key


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
    check_config: Callable[[object], None] | None = None  # raises ValueError for config no day can run with

    @property
    def name(self) -> str:
        return self.table.name

    @property
    def key(self) -> dg.AssetKey:
        return dg.AssetKey(self.name)


def range_refused(asset: str, context: dg.AssetExecutionContext, what: str) -> dg.Failure:
    """One readable line for a range the asset cannot run (today: a reversed --partition-range, which Dagster passes
    through as an empty window)."""
    keys = context.partition_key_range
    return dg.Failure(
        f"{asset}: partition range {keys.start}...{keys.end} is reversed, so it holds no {what}: give the earlier "
        f"one first, e.g. --partition-range {keys.end}...{keys.start}",
        allow_retries=False,
    )


def error_summary(exc: BaseException) -> str:
    """The first line of what went wrong: for a database error, the server's message, not the statement and its
    parameters (`param_1`...)."""
    if isinstance(exc, sa.exc.DBAPIError) and exc.orig is not None:
        text = f"database error ({type(exc.orig).__name__}): {str(exc.orig).strip()}"
    else:
        text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0] if text else type(exc).__name__


def rebuild_window(
    context: dg.AssetExecutionContext, fact: DailyFact, engine: sa.Engine, rebuild: Callable[[dt.date], DayBuild]
) -> dg.MaterializeResult:
    days = window_days(context.partition_time_window)
    if not days:
        raise range_refused(fact.name, context, "days")
    context.log.info(f"rebuilding {fact.name} for {days[0]} to {days[-1]} ({len(days)} days)")
    done: list[tuple[dt.date, dict]] = []
    try:
        for day in days:
            try:
                build = rebuild(day)
            except Exception as exc:
                kept = f"; {done[0][0]}...{done[-1][0]} rebuilt and recorded" if done else ""
                raise dg.Failure(
                    f"{fact.name} {day} failed: {error_summary(exc)} (re-run {day}...{days[-1]}{kept})",
                    metadata={"failed_day": day.isoformat(), "days_rebuilt": len(done)},
                    allow_retries=is_transient(exc),  # a missing rate stays missing; a lost connection may not
                ) from exc
            with engine.connect() as conn:
                preview = metadata.preview(conn, fact.preview_sql, build)
            day_metadata = {
                **metadata.standard_metadata(fact.table, build.row_count),
                **metadata.day_metadata(build, preview, fact.count_label, fact.per_type_labels),
            }
            done.append((day, day_metadata))
            context.add_asset_metadata(day_metadata, partition_key=partition_key(day))
            context.log.info(
                f"{day}: replaced {build.deleted} rows with {build.inserted} ({build.notifications} {fact.count_label}) "
                f"in {build.seconds:.2f} s"
            )
    except BaseException:  # a failed day, or the run interrupted: the committed days are materialised all the same
        for day, day_metadata in done:
            context.log_event(dg.AssetMaterialization(asset_key=fact.key, partition=partition_key(day), metadata=day_metadata))
        raise
    return dg.MaterializeResult()


def checked_config(fact: DailyFact, config):
    """Refuse config that no day could run with, in one line, before any day is rebuilt."""
    if fact.check_config is not None:
        try:
            fact.check_config(config)
        except ValueError as exc:
            raise dg.Failure(f"{fact.name}: bad run config: {exc}", allow_retries=False) from None
    return config


def daily_fact_asset(fact: DailyFact) -> dg.AssetsDefinition:
    """The London-day partitioned asset for a declaration (single-run backfills, deps on its source tables)."""
    if fact.config_type is None:

        def compute(context: dg.AssetExecutionContext, notify_db: NotifyDatabase) -> dg.MaterializeResult:
            engine = notify_db.engine
            return rebuild_window(context, fact, engine, lambda day: fact.rebuild(engine, day))

    else:

        def compute(context: dg.AssetExecutionContext, notify_db: NotifyDatabase, config) -> dg.MaterializeResult:
            engine = notify_db.engine
            config = checked_config(fact, config)
            return rebuild_window(context, fact, engine, lambda day: fact.rebuild(engine, day, config))

        compute.__annotations__["config"] = fact.config_type

    return dg.asset(
        name=fact.name,
        partitions_def=daily_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        retry_policy=TRANSIENT_FAULTS,
        group_name="reporting",
        kinds={"postgres"},
        description=fact.description,
        deps=[source_key(table) for table in fact.reads],
        metadata=metadata.table_metadata(fact.table),
    )(compute)
