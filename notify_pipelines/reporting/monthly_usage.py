"""ft_monthly_usage for one London month: what each service used and owes after its free SMS allowance (§2.3.6).

One row per (month, service, type, rate, postage) from ft_billing:
- chargeable_units: SMS billable units x rate multiplier; letters: letters sent; email: billable units (0 in ft_billing).
- The free allowance is the service's annual_billing.free_sms_fragment_limit for the financial year (April-March,
  `financial_year_start` = the April's year), used up by SMS in bst_date order through the year with a window sum;
  free_allowance_used is what this month's units took from it, charged_units the rest.
- cost: SMS charged_units x rate; letters letters x rate (the rate already reflects sheets and postage); email 0.

A month's rebuild reads ft_billing from the start of its financial year (the PK's bst_date range), never earlier
ft_monthly_usage rows, so it is right whatever order months are rebuilt in. A service with no annual_billing row for
the year (populate_annual_billing adds them each 1 April) gets its organisation type's default_annual_allowance for
the year (annual_billing.py: 'other' for a service without an organisation); only a year before every default row
(before 2016) falls back to DEFAULT_FREE_SMS_FRAGMENT_LIMIT, the reference's FREE_SMS_TIER_FRAGMENT_COUNT (§7). The
build reports how many services had no row (`services_on_default_allowance`) so a missing row is visible.
"""

from __future__ import annotations

import datetime as dt
import time

import sqlalchemy as sa

from notify_pipelines.core.calendar import financial_year
from notify_pipelines.db import schema
from notify_pipelines.reporting import locks
from notify_pipelines.reporting.annual_billing import SERVICE_DEFAULT_ALLOWANCES
from notify_pipelines.reporting.results import DayBuild

fact = schema.ft_monthly_usage
DEFAULT_FREE_SMS_FRAGMENT_LIMIT = 250_000

# An ft_billing row `b`'s chargeable units (also read by the reconciliation check, consistency.py).
CHARGEABLE_UNITS_SQL = (
    "CASE b.notification_type WHEN 'sms' THEN b.billable_units * b.rate_multiplier "
    "WHEN 'letter' THEN b.notifications_sent ELSE b.billable_units END"
)

_YEAR_OF_BILLING = f"""
    SELECT b.bst_date, b.service_id, b.notification_type, b.rate, b.postage,
           sum(b.notifications_sent) AS notifications_sent,
           sum({CHARGEABLE_UNITS_SQL}) AS chargeable_units
    FROM ft_billing b
    WHERE b.bst_date >= :year_start AND b.bst_date < :month_end
    GROUP BY 1, 2, 3, 4, 5"""

INSERT_SQL = f"""
WITH daily AS ({_YEAR_OF_BILLING}
),
used AS (
    SELECT d.*,
           CASE WHEN d.notification_type = 'sms' THEN
               least(d.chargeable_units, greatest(
                   coalesce(ab.free_sms_fragment_limit, dflt.allowance, :default_allowance)
                   - (sum(d.chargeable_units) OVER year_so_far - d.chargeable_units), 0))
           ELSE 0 END AS free_allowance_used
    FROM daily d
    LEFT JOIN annual_billing ab ON ab.service_id = d.service_id AND ab.financial_year_start = :financial_year
    LEFT JOIN ({SERVICE_DEFAULT_ALLOWANCES}) dflt ON dflt.service_id = d.service_id
    WINDOW year_so_far AS (PARTITION BY d.service_id, d.notification_type
                           ORDER BY d.bst_date, d.rate, d.postage ROWS UNBOUNDED PRECEDING)
)
INSERT INTO ft_monthly_usage (month, service_id, notification_type, rate, postage, notifications_sent,
                              chargeable_units, free_allowance_used, charged_units, cost)
SELECT :month, service_id, notification_type, rate, postage,
       sum(notifications_sent), sum(chargeable_units), sum(free_allowance_used),
       sum(chargeable_units - free_allowance_used),
       CASE WHEN notification_type = 'email' THEN 0 ELSE sum((chargeable_units - free_allowance_used) * rate) END
FROM used
WHERE bst_date >= :month
GROUP BY service_id, notification_type, rate, postage
"""

DEFAULTED_SQL = """
SELECT count(DISTINCT u.service_id) FROM ft_monthly_usage u
WHERE u.month = :month AND u.notification_type = 'sms' AND NOT EXISTS (
    SELECT 1 FROM annual_billing ab WHERE ab.service_id = u.service_id AND ab.financial_year_start = :financial_year)
"""


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def next_month(month: dt.date) -> dt.date:
    return (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def insert_params(month: dt.date) -> dict:
    month = month_start(month)
    year = financial_year(month)
    return {
        "month": month, "month_end": next_month(month), "financial_year": year, "year_start": dt.date(year, 4, 1),
        "default_allowance": DEFAULT_FREE_SMS_FRAGMENT_LIMIT,
    }


def insert_usage(conn: sa.Connection, month: dt.date) -> int:
    """The one INSERT ... SELECT for the month (no delete, no lock): the benchmark's bare statement."""
    return conn.execute(sa.text(INSERT_SQL), insert_params(month)).rowcount


def build_usage_month(conn: sa.Connection, month: dt.date) -> DayBuild:
    """Replace the month's rows. Run it inside a transaction. DayBuild.day is the month's first day."""
    started = time.perf_counter()
    params = insert_params(month)
    month = params["month"]
    deleted = locks.clear_day(conn, fact, fact.c.month, month)
    inserted = insert_usage(conn, month)
    per_type = {
        ntype: (int(rows), int(sent))
        for ntype, rows, sent in conn.execute(
            sa.select(fact.c.notification_type, sa.func.count(), sa.func.sum(fact.c.notifications_sent))
            .where(fact.c.month == month).group_by(fact.c.notification_type)
        )
    }
    free, charged = conn.execute(
        sa.select(sa.func.coalesce(sa.func.sum(fact.c.free_allowance_used), 0),
                  sa.func.coalesce(sa.func.sum(fact.c.charged_units), 0)).where(fact.c.month == month)
    ).one()
    defaulted = conn.execute(sa.text(DEFAULTED_SQL), params).scalar_one()
    extra = {"free_allowance_used": int(free), "charged_units": int(charged), "services_on_default_allowance": defaulted}
    return DayBuild(month, deleted, inserted, per_type, time.perf_counter() - started, extra=extra)


def rebuild_usage_month(engine: sa.Engine, month: dt.date) -> DayBuild:
    """One month, one transaction."""
    with engine.begin() as conn:
        return build_usage_month(conn, month)
