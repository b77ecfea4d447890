"""ft_notification_status for one London day: delete the day's rows, then one INSERT ... SELECT, in one transaction.

The caller owns the transaction (pass a Connection inside `engine.begin()`); `rebuild_status_day` does it for you.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Iterable

import sqlalchemy as sa

from notify_pipelines.core.vocabulary import NO_JOB_ID
from notify_pipelines.db import schema
from notify_pipelines.reporting import locks, source
from notify_pipelines.reporting.results import DayBuild

fact = schema.ft_notification_status
# The columns the INSERT ... SELECT fills, in table order (created_at/updated_at keep their defaults).
FACT_COLUMNS = tuple(c.name for c in fact.columns if c.name not in ("created_at", "updated_at"))


def insert_statement(day: dt.date, types: Iterable[str] = source.NOTIFICATION_TYPES) -> sa.Insert:
    """The one INSERT ... SELECT; the day is injected into the select list as a literal (the reference's from_select)."""
    rows = source.day_rows(day, source.check_types(types))
    job_id = sa.func.coalesce(rows.c.job_id, sa.cast(sa.literal(NO_JOB_ID), rows.c.job_id.type))
    notification_type = sa.cast(rows.c.notification_type, sa.Text)
    select = sa.select(
        sa.literal(day, sa.Date).label("bst_date"),
        rows.c.template_id,
        rows.c.service_id,
        job_id.label("job_id"),
        notification_type.label("notification_type"),
        rows.c.key_type,
        rows.c.notification_status,
        sa.func.count().label("notification_count"),
    ).group_by(
        rows.c.template_id, rows.c.service_id, job_id, notification_type, rows.c.key_type, rows.c.notification_status
    )
    return sa.insert(fact).from_select(FACT_COLUMNS, select)


def build_status_day(
    conn: sa.Connection, day: dt.date, types: Iterable[str] = source.NOTIFICATION_TYPES
) -> DayBuild:
    """Replace the day's rows of `types` with the current source data. Run it inside a transaction."""
    started = time.perf_counter()
    types = source.check_types(types)
    deleted = locks.clear_day(conn, fact, fact.c.bst_date, day, fact.c.notification_type.in_(types))
    inserted = conn.execute(insert_statement(day, types)).rowcount
    return DayBuild(day, deleted, inserted, per_type_counts(conn, day), time.perf_counter() - started)


def per_type_counts(conn: sa.Connection, day: dt.date) -> dict[str, tuple[int, int]]:
    """notification_type -> (fact rows, notifications) for the day, read back from the fact (uses its bst_date index)."""
    rows = conn.execute(
        sa.select(fact.c.notification_type, sa.func.count(), sa.func.sum(fact.c.notification_count))
        .where(fact.c.bst_date == day)
        .group_by(fact.c.notification_type)
    )
    return {ntype: (int(groups), int(total)) for ntype, groups, total in rows}


def rebuild_status_day(engine: sa.Engine, day: dt.date, types: Iterable[str] = source.NOTIFICATION_TYPES) -> DayBuild:
    """One day, one transaction."""
    with engine.begin() as conn:
        return build_status_day(conn, day, types)
