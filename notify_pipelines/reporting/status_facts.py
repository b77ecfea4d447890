"""ft_notification_status for one London day: the day's notifications per template, service, job, type, key type and
status, from the live table and the archive together; `BUILD` declares it (fact_build.py runs it).

A row is in exactly one of the two source tables (retention moves rows in one transaction), so UNION ALL counts each
once. Each branch filters its own `created_at` window so both tables' `created_at` indexes are used.
"""

from __future__ import annotations

import datetime as dt
from typing import Iterable

import sqlalchemy as sa

from notify_pipelines.core.calendar import day_window
from notify_pipelines.core.vocabulary import NO_JOB_ID, NOTIFICATION_TYPES, REPORTED_KEY_TYPES
from notify_pipelines.db import schema
from notify_pipelines.reporting.fact_build import FactBuild, check_types, counts_by_type

fact = schema.ft_notification_status
# The columns the INSERT ... SELECT fills, in table order (created_at/updated_at keep their defaults).
FACT_COLUMNS = tuple(c.name for c in fact.columns if c.name not in ("created_at", "updated_at"))
SOURCE_COLUMNS = (
    "service_id",
    "template_id",
    "job_id",
    "notification_type",
    "key_type",
    "notification_status",
    "sent_by",
    "rate_multiplier",
    "international",
    "billable_units",
    "postage",
)


def day_rows(day: dt.date, types: Iterable[str] = NOTIFICATION_TYPES, *, name: str = "source") -> sa.Subquery:
    """`notifications UNION ALL notification_history` for the London day, test keys out, only `types`."""
    start, end = day_window(day)
    types = tuple(types)
    branches = []
    for table in schema.SOURCE_TABLES:
        branch = sa.select(*(table.c[c] for c in SOURCE_COLUMNS)).where(
            table.c.created_at >= start,
            table.c.created_at < end,
            table.c.key_type.in_(REPORTED_KEY_TYPES),
        )
        if set(types) != set(NOTIFICATION_TYPES):
            branch = branch.where(table.c.notification_type.in_(types))
        branches.append(branch)
    return sa.union_all(*branches).subquery(name)


def insert_statement(day: dt.date, types: Iterable[str] = NOTIFICATION_TYPES) -> sa.Insert:
    """The one INSERT ... SELECT; the day is injected into the select list as a literal (the reference's from_select)."""
    rows = day_rows(day, check_types(types))
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


def insert_status(conn: sa.Connection, day: dt.date, types: Iterable[str]) -> int:
    return conn.execute(insert_statement(day, types)).rowcount


BUILD = FactBuild(fact, fact.c.bst_date, insert_status, counts_by_type("notification_count"), by_type=True)
