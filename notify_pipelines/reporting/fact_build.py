"""How every fact replaces one period (a London day; a month for ft_monthly_usage), in one place.

A fact module declares a `FactBuild`: its table, the column its periods are keyed by, its one INSERT ... SELECT and
what the written rows count. `rebuild` runs it: one transaction that takes the fact's advisory lock for the period,
sizes work_mem, deletes the period's rows, inserts them again and reads back what was written (a DayBuild, for the
metadata, the logs, the tests and the benchmarks). Any error rolls the whole period back.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Callable, Iterable

import sqlalchemy as sa

from notify_pipelines.core.vocabulary import NOTIFICATION_TYPES
from notify_pipelines.reporting import locks
from notify_pipelines.reporting.results import DayBuild

# What the rows written for a period count, as DayBuild fields: (conn, build, period, rows inserted) -> fields.
Summary = Callable[[sa.Connection, "FactBuild", dt.date, int], dict]


@dataclass(frozen=True)
class FactBuild:
    table: sa.Table
    period_column: sa.Column  # what a rebuild deletes and re-inserts by (bst_date, month)
    # The one INSERT ... SELECT for a period, no delete and no lock (the benchmarks time it bare): (conn, period) ->
    # rows inserted, or (conn, period, types) -> rows inserted when `by_type`.
    insert: Callable[..., int]
    summary: Summary
    by_type: bool = False  # a rebuild may be limited to some notification types (only their rows are replaced)
    period_of: Callable[[dt.date], dt.date] = lambda day: day  # the period a date names (a month: its first day)


def counts_by_type(counted: str) -> Summary:
    """The summary of a fact with a notification_type column: type -> (rows, sum of the `counted` column)."""

    def summary(conn: sa.Connection, build: FactBuild, period: dt.date, inserted: int) -> dict:
        table = build.table
        rows = conn.execute(
            sa.select(table.c.notification_type, sa.func.count(), sa.func.sum(table.c[counted]))
            .where(build.period_column == period)
            .group_by(table.c.notification_type)
        )
        return {"per_type": {ntype: (int(groups), int(total)) for ntype, groups, total in rows}}

    return summary


def check_types(types: Iterable[str]) -> tuple[str, ...]:
    types = tuple(types)
    unknown = sorted(set(types) - set(NOTIFICATION_TYPES))
    if unknown or not types:
        raise ValueError(f"notification types must be a non-empty subset of {NOTIFICATION_TYPES}, got {types}")
    return types


def rebuild(engine: sa.Engine, build: FactBuild, day: dt.date, types: Iterable[str] | None = None) -> DayBuild:
    """Replace the fact's rows for the period holding `day` with what the current data gives: one transaction.
    `types` (facts built by type only): replace only those notification types' rows."""
    if types is not None and not build.by_type:
        raise ValueError(f"{build.table.name} is not built per notification type")
    period = build.period_of(day)
    started = time.perf_counter()
    with engine.begin() as conn:
        if build.by_type:
            types = check_types(NOTIFICATION_TYPES if types is None else types)
            deleted = locks.clear_day(conn, build.table, build.period_column, period,
                                      build.table.c.notification_type.in_(types))
            inserted = build.insert(conn, period, types)
        else:
            deleted = locks.clear_day(conn, build.table, build.period_column, period)
            inserted = build.insert(conn, period)
        summary = build.summary(conn, build, period, inserted)
        seconds = time.perf_counter() - started
    return DayBuild(period, deleted, inserted, seconds=seconds, **summary)
