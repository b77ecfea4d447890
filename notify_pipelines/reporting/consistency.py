"""The SQL behind the reporting asset checks: each returns what disagrees (empty = the check passes)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

from notify_pipelines.core.calendar import day_window
from notify_pipelines.core.vocabulary import EMAIL, KEY_TYPE_TEST, LONDON_TZ, SMS
from notify_pipelines.db import schema
from notify_pipelines.reporting import monthly_usage, processing_time, status_facts
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
        rows = status_facts.day_rows(day)
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


def test_key_rows(conn: sa.Connection, first: dt.date, last: dt.date) -> dict[dt.date, int]:
    """Test-key rows per day that has any (days without are absent)."""
    rows = conn.execute(
        sa.select(status.c.bst_date, sa.func.count())
        .where(status.c.bst_date.between(first, last), status.c.key_type == KEY_TYPE_TEST).group_by(status.c.bst_date)
    )
    return {day: int(n) for day, n in rows}


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


def days_with_status_rows(conn: sa.Connection, first: dt.date, last: dt.date) -> set[dt.date]:
    return set(conn.execute(
        sa.select(status.c.bst_date).distinct().where(status.c.bst_date.between(first, last))
    ).scalars())


# ---- the other facts against their sources: one set-based statement per check -------------------------------------


@dataclass(frozen=True)
class Mismatch:
    day: dt.date  # the month's first day for ft_monthly_usage
    what: str  # the group or the measure that disagrees
    expected: int | float  # what the source says
    found: int | float | None  # what the fact says (None: the fact has no row for it)


PROCESSING_TIME_VS_SOURCE_SQL = sa.text(
    f"""
WITH api_messages AS ({processing_time._branch("notifications")}
    UNION ALL{processing_time._branch("notification_history")}
),
counted AS (
    SELECT (created_at AT TIME ZONE 'UTC' AT TIME ZONE '{LONDON_TZ}')::date AS day, count(*) AS total,
           count(*) FILTER (WHERE sent_at - created_at <= :within) AS within
    FROM api_messages GROUP BY 1
),
checked AS (SELECT unnest(CAST(:days AS date[])) AS day)
SELECT d.day, coalesce(c.total, 0) AS expected_total, coalesce(c.within, 0) AS expected_within,
       f.messages_total, f.messages_within_10_secs
FROM checked d
LEFT JOIN counted c USING (day)
LEFT JOIN ft_processing_time f ON f.bst_date = d.day
WHERE f.bst_date IS NULL OR f.messages_total <> coalesce(c.total, 0)
   OR f.messages_within_10_secs <> coalesce(c.within, 0)
ORDER BY 1
"""
)


def processing_time_vs_source(conn: sa.Connection, days: list[dt.date]) -> list[Mismatch]:
    """Per day: the fact's messages_total and messages_within_10_secs vs the API messages in notifications + history.
    A day with no fact row disagrees (the fact has a row for every day it was built, zeros included)."""
    if not days:
        return []
    start, end = day_window(min(days))[0], day_window(max(days))[1]
    rows = conn.execute(PROCESSING_TIME_VS_SOURCE_SQL, {"days": days, "start": start, "end": end,
                                                        "within": processing_time.WITHIN})
    out = []
    for r in rows:
        if r.messages_total is None or r.messages_total != r.expected_total:
            out.append(Mismatch(r.day, "messages_total", int(r.expected_total), r.messages_total))
        if r.messages_within_10_secs is None or r.messages_within_10_secs != r.expected_within:
            out.append(Mismatch(r.day, "messages_within_10_secs", int(r.expected_within), r.messages_within_10_secs))
    return out


def _despatched(table: str) -> str:
    # Each table joined on its own primary key, as the fact's build does (a join to a UNION scans both).
    return f"""
    SELECT d.despatched_on AS day, coalesce(n.postage, 'none') AS postage, n.billable_units AS sheets,
           d.cost_threshold::text AS cost_threshold
    FROM notifications_letter_despatch d JOIN {table} n ON n.id = d.notification_id
    WHERE d.despatched_on BETWEEN :first AND :last"""


DESPATCH_VS_SOURCE_SQL = sa.text(
    f"""
WITH source AS (
    SELECT day, postage, sheets, cost_threshold, count(*) AS n
    FROM ({_despatched("notifications")}
        UNION ALL{_despatched("notification_history")}
    ) AS despatched
    GROUP BY 1, 2, 3, 4
),
fact AS (
    SELECT bst_date AS day, postage, billable_units AS sheets, cost_threshold::text AS cost_threshold,
           sum(notifications_sent) AS n
    FROM ft_billing_letter_despatch WHERE bst_date BETWEEN :first AND :last
    GROUP BY 1, 2, 3, 4
)
SELECT day, postage, sheets, cost_threshold, coalesce(s.n, 0) AS expected, f.n AS found
FROM source s FULL JOIN fact f USING (day, postage, sheets, cost_threshold)
WHERE coalesce(s.n, 0) <> coalesce(f.n, 0)
ORDER BY 1, 2, 3, 4
"""
)


def despatch_vs_source(conn: sa.Connection, first: dt.date, last: dt.date) -> list[Mismatch]:
    """Per (day, postage, sheets, cost threshold): letters in ft_billing_letter_despatch vs the letters
    notifications_letter_despatch records as despatched that day (found in notifications or the history)."""
    rows = conn.execute(DESPATCH_VS_SOURCE_SQL, {"first": first, "last": last})
    return [Mismatch(r.day, f"{r.postage}, {r.sheets} sheet(s), {r.cost_threshold}", int(r.expected),
                     None if r.found is None else int(r.found)) for r in rows]


MONTHLY_USAGE_VS_BILLING_SQL = sa.text(
    f"""
WITH billed AS (
    SELECT service_id, notification_type::text AS notification_type, rate, postage,
           sum(notifications_sent) AS sent, sum({monthly_usage.CHARGEABLE_UNITS_SQL}) AS units
    FROM ft_billing b WHERE bst_date >= :month AND bst_date < :month_end
    GROUP BY 1, 2, 3, 4
),
usage AS (
    SELECT service_id, notification_type::text AS notification_type, rate, postage, notifications_sent AS sent,
           chargeable_units AS units, free_allowance_used, charged_units, cost
    FROM ft_monthly_usage WHERE month = :month
),
sms_year AS (  -- chargeable SMS units per service: the year up to the month, and up to its end
    SELECT service_id,
           sum({monthly_usage.CHARGEABLE_UNITS_SQL}) FILTER (WHERE bst_date < :month) AS before_month,
           sum({monthly_usage.CHARGEABLE_UNITS_SQL}) AS to_month_end
    FROM ft_billing b
    WHERE bst_date >= :year_start AND bst_date < :month_end AND notification_type = '{SMS}'
    GROUP BY 1
),
allowance_used AS (  -- what the allowance must have covered in the month: it is used up in date order
    SELECT y.service_id,
           least(y.to_month_end, a.allowance) - least(coalesce(y.before_month, 0), a.allowance) AS expected
    FROM sms_year y
    CROSS JOIN LATERAL (
        SELECT coalesce((SELECT free_sms_fragment_limit FROM annual_billing ab
                         WHERE ab.service_id = y.service_id AND ab.financial_year_start = :financial_year),
                        :default_allowance) AS allowance) a
)
SELECT 'units' AS kind, service_id, notification_type, rate, postage,
       coalesce(b.sent, 0) AS expected, u.sent AS found, coalesce(b.units, 0) AS expected_units, u.units AS found_units
FROM billed b FULL JOIN usage u USING (service_id, notification_type, rate, postage)
WHERE coalesce(b.sent, 0) <> coalesce(u.sent, 0) OR coalesce(b.units, 0) <> coalesce(u.units, 0)
UNION ALL
SELECT 'charged', service_id, notification_type, rate, postage,
       units - free_allowance_used, charged_units, NULL, NULL
FROM usage WHERE charged_units <> units - free_allowance_used OR free_allowance_used < 0
UNION ALL
SELECT 'cost', service_id, notification_type, rate, postage,
       CASE WHEN notification_type = '{EMAIL}' THEN 0 ELSE charged_units * rate END, cost, NULL, NULL
FROM usage WHERE cost <> CASE WHEN notification_type = '{EMAIL}' THEN 0 ELSE charged_units * rate END
UNION ALL
SELECT 'free allowance', a.service_id, '{SMS}', NULL, NULL, a.expected, coalesce(u.used, 0), NULL, NULL
FROM allowance_used a
LEFT JOIN (SELECT service_id, sum(free_allowance_used) AS used FROM usage WHERE notification_type = '{SMS}' GROUP BY 1) u
    USING (service_id)
WHERE a.expected <> coalesce(u.used, 0)
ORDER BY 1, 2, 3, 4, 5
"""
)


def monthly_usage_vs_billing(conn: sa.Connection, month: dt.date) -> list[Mismatch]:
    """For the month, per (service, type, rate, postage): notifications_sent and chargeable_units vs ft_billing;
    charged_units = chargeable_units - free_allowance_used; cost = charged_units x rate (0 for email); and per
    service, the free SMS allowance the month used = what was left of the year's allowance, up to its units."""
    params = monthly_usage.insert_params(month)
    out = []
    for r in conn.execute(MONTHLY_USAGE_VS_BILLING_SQL, params):
        group = f"service {r.service_id} {r.notification_type}"
        if r.rate is not None:
            group += f" rate {r.rate} {r.postage}"
        if r.kind == "units":
            if r.expected != (r.found or 0) or r.found is None:
                out.append(Mismatch(params["month"], f"{group}: notifications_sent", int(r.expected), r.found))
            if r.expected_units != (r.found_units or 0) or r.found_units is None:
                out.append(Mismatch(params["month"], f"{group}: chargeable_units", int(r.expected_units),
                                    r.found_units))
        else:
            out.append(Mismatch(params["month"], f"{group}: {r.kind}", float(r.expected), float(r.found)))
    return out
