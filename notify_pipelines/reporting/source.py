"""What both facts read: one London day of non-test notifications from the live table and the archive together.

A row is in exactly one of the two tables (retention moves rows in one transaction), so UNION ALL counts each once.
Each branch filters its own `created_at` window so both tables' `created_at` indexes are used.
"""

from __future__ import annotations

import datetime as dt
from typing import Iterable

import sqlalchemy as sa

from notify_pipelines.core.calendar import day_window
from notify_pipelines.core.vocabulary import NOTIFICATION_TYPES, REPORTED_KEY_TYPES
from notify_pipelines.db import schema

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


def check_types(types: Iterable[str]) -> tuple[str, ...]:
    types = tuple(types)
    unknown = sorted(set(types) - set(NOTIFICATION_TYPES))
    if unknown or not types:
        raise ValueError(f"notification types must be a non-empty subset of {NOTIFICATION_TYPES}, got {types}")
    return types
