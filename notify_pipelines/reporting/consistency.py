"""The SQL behind the reporting asset checks: each returns what disagrees (empty = the check passes)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

from notify_pipelines.core.calendar import day_window
from notify_pipelines.db import schema
from notify_pipelines.reporting import source
from notify_pipelines.reporting.billing_facts import BILLABLE_CONDITION_SQL

status = schema.ft_notification_status


@dataclass(frozen=True)
class Disagreement:
    day: dt.date
    notification_type: str
    expected: int  # what the source (or the status fact) says
    found: int  # what the fact being checked says
    service_id: str | None = None
    template_id: str | None = None


def status_counts_vs_source(conn: sa.Connection, days: list[dt.date]) -> list[Disagreement]:
    """Per day and type: notifications in the status fact vs non-test rows in notifications + history."""
    out = []
    for day in days:
        rows = source.day_rows(day)
        counted = dict(
            conn.execute(
                sa.select(sa.cast(rows.c.notification_type, sa.Text), sa.func.count()).group_by(rows.c.notification_type)
            ).all()
        )
        in_fact = dict(
            conn.execute(
                sa.select(status.c.notification_type, sa.func.sum(status.c.notification_count))
                .where(status.c.bst_date == day)
                .group_by(status.c.notification_type)
            ).all()
        )
        for ntype in sorted(set(counted) | set(in_fact)):
            expected, found = int(counted.get(ntype, 0)), int(in_fact.get(ntype, 0))
            if expected != found:
                out.append(Disagreement(day, ntype, expected, found))
    return out


def closed_days(days: list[dt.date], now_utc: dt.datetime) -> list[dt.date]:
    """Days that have ended: only their source counts are stable (today's keep growing while the check runs)."""
    return [d for d in days if day_window(d)[1] <= now_utc]


def test_key_rows(conn: sa.Connection, first: dt.date, last: dt.date) -> int:
    return conn.execute(
        sa.select(sa.func.count()).where(status.c.bst_date.between(first, last), status.c.key_type == "test")
    ).scalar_one()


BILLING_VS_STATUS_SQL = sa.text(
    f"""
WITH status_billable AS (
    SELECT bst_date, service_id, template_id, notification_type, sum(notification_count) AS n
    FROM ft_notification_status
    WHERE bst_date BETWEEN :first AND :last
      AND ({BILLABLE_CONDITION_SQL})
    GROUP BY 1, 2, 3, 4
),
billed AS (
    SELECT bst_date, service_id, template_id, notification_type, sum(notifications_sent) AS n
    FROM ft_billing WHERE bst_date BETWEEN :first AND :last
    GROUP BY 1, 2, 3, 4
),
status_days AS (SELECT DISTINCT bst_date FROM ft_notification_status WHERE bst_date BETWEEN :first AND :last)
SELECT coalesce(s.bst_date, b.bst_date) AS day, coalesce(s.notification_type, b.notification_type) AS ntype,
       coalesce(s.n, 0) AS expected, coalesce(b.n, 0) AS found,
       coalesce(s.service_id, b.service_id) AS service_id, coalesce(s.template_id, b.template_id) AS template_id
FROM status_billable s
FULL JOIN billed b USING (bst_date, service_id, template_id, notification_type)
WHERE coalesce(s.n, 0) <> coalesce(b.n, 0)
  AND coalesce(s.bst_date, b.bst_date) IN (SELECT bst_date FROM status_days)
ORDER BY 1, 2, 5, 6
"""
)


def billing_vs_status(conn: sa.Connection, first: dt.date, last: dt.date) -> list[Disagreement]:
    """Per (day, service, template, type): ft_billing.notifications_sent vs the status fact's billable statuses.

    Days with no status rows at all are skipped (the status fact has not been built for them yet).
    """
    rows = conn.execute(BILLING_VS_STATUS_SQL, {"first": first, "last": last})
    return [Disagreement(r.day, r.ntype, int(r.expected), int(r.found), str(r.service_id), str(r.template_id)) for r in rows]


def days_with_status_rows(conn: sa.Connection, first: dt.date, last: dt.date) -> int:
    return conn.execute(
        sa.select(sa.func.count(sa.distinct(status.c.bst_date))).where(status.c.bst_date.between(first, last))
    ).scalar_one()
