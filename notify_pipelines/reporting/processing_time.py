"""ft_processing_time for one London day (reference §3.7): how many API messages went out within 10 seconds.

Counted: email and SMS (no letters) sent through the API (`api_key_id` set, so CSV jobs are out) with a normal or team
key (test keys out), created in the London day, from `notifications` and `notification_history`. Within 10 s means
`sent_at - created_at <= 10 s`; a message never sent counts in the total only. One row per day, zeros included.

Unlike the reference (which took the UTC date of "yesterday", §8 quirk 1) the day is the London day, as every other
fact. Each branch filters its own `created_at` window so both tables' `created_at` indexes are used.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from notify_pipelines.core.calendar import day_window
from notify_pipelines.core.vocabulary import EMAIL, REPORTED_KEY_TYPES, SMS, sql_literals
from notify_pipelines.db import schema
from notify_pipelines.reporting.fact_build import FactBuild

fact = schema.ft_processing_time
WITHIN = dt.timedelta(seconds=10)


def _branch(table: str) -> str:
    return f"""
    SELECT created_at, sent_at FROM {table}
    WHERE created_at >= :start AND created_at < :end
      AND api_key_id IS NOT NULL
      AND key_type IN ({sql_literals(REPORTED_KEY_TYPES)})
      AND notification_type IN ('{EMAIL}', '{SMS}')"""


INSERT_SQL = f"""
INSERT INTO ft_processing_time (bst_date, messages_total, messages_within_10_secs)
SELECT :day, count(*), count(*) FILTER (WHERE sent_at - created_at <= :within)
FROM ({_branch("notifications")}
    UNION ALL{_branch("notification_history")}
) AS api_messages
"""


def insert_params(day: dt.date) -> dict:
    start, end = day_window(day)
    return {"day": day, "start": start, "end": end, "within": WITHIN}


def insert_processing_time(conn: sa.Connection, day: dt.date) -> int:
    """The one INSERT ... SELECT for the day (no delete, no lock): the benchmark's bare statement."""
    return conn.execute(sa.text(INSERT_SQL), insert_params(day)).rowcount



def summary(conn: sa.Connection, build: FactBuild, day: dt.date, inserted: int) -> dict:
    """The day's one row: every message counted, and those sent within 10 s."""
    total, within = conn.execute(
        sa.select(fact.c.messages_total, fact.c.messages_within_10_secs).where(fact.c.bst_date == day)
    ).one()
    return {"rows": inserted, "counted": total, "extra": {"messages_within_10_secs": within}}


BUILD = FactBuild(fact, fact.c.bst_date, insert_processing_time, summary)
