"""ft_billing for one London day: delete the day's rows, then one INSERT ... SELECT with the rates looked up in SQL.

Billable rules (reference §2.3.3): per-type billable statuses; provider `ses` / coalesce(sent_by, 'unknown') / `dvla`;
email has multiplier 0, no units and rate 0; postage 'none' for email and SMS; letters' billable_units are sheets.
Rates (§2.3.4): the look-ups in reporting/rates.py (shared with the letter despatch fact).

Two deliberate differences from the reference:
- Delete-then-insert per day, so a re-run gives exactly the billing of the current data (no stale groups).
- Rows are grouped twice: first with the sheet count (to find each letter's rate), then by exactly the primary key,
  so letter groups with different sheet counts but the same rate are summed into one row instead of hitting
  ft_billing_pkey twice (§2.3.5, last bullet). Their billable_units is then the total of sheets, which is what it
  always meant.
A group with no rate raises MissingRateError inside the statement, so the transaction (and its delete) rolls back.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from notify_pipelines.core.calendar import day_window
from notify_pipelines.core.vocabulary import (
    BILLABLE_STATUSES,
    EMAIL,
    LETTER,
    REPORTED_KEY_TYPES,
    SMS,
    sql_literals,
)
from notify_pipelines.db import schema
from notify_pipelines.reporting import rates
from notify_pipelines.reporting.fact_build import FactBuild, counts_by_type
from notify_pipelines.reporting.rates import (  # noqa: F401  (re-exported: callers and tests import them from here)
    MISSING_RATE,
    MissingRateError,
    create_missing_rate_function,
)

fact = schema.ft_billing

# The billable rows of a table with notification_type and notification_status (also ft_notification_status).
BILLABLE_CONDITION_SQL = " OR ".join(
    f"(notification_type = '{ntype}' AND notification_status IN ({sql_literals(statuses)}))"
    for ntype, statuses in BILLABLE_STATUSES.items()
)


def _billable_branch(table: str) -> str:
    return f"""
    SELECT service_id, template_id, notification_type::text AS notification_type, sent_by, rate_multiplier,
           international, billable_units, postage
    FROM {table}
    WHERE created_at >= :start AND created_at < :end
      AND key_type IN ({sql_literals(REPORTED_KEY_TYPES)})
      AND ({BILLABLE_CONDITION_SQL})"""


_RATE = rates.or_missing(
    f"""CASE g.notification_type
                   WHEN '{EMAIL}' THEN 0
                   WHEN '{SMS}' THEN {rates.SMS_RATE_SQL}
                   WHEN '{LETTER}' THEN {rates.letter_rate_sql("g.postage", "g.sheets")}
               END""",
    "g.notification_type",
    "g.postage",
    "g.sheets",
)

INSERT_SQL = f"""
WITH billable AS ({_billable_branch("notifications")}
    UNION ALL{_billable_branch("notification_history")}
),
groups AS (
    SELECT service_id, template_id, notification_type,
           CASE notification_type WHEN '{EMAIL}' THEN 'ses' WHEN '{SMS}' THEN coalesce(sent_by, 'unknown') ELSE 'dvla' END
               AS provider,
           CASE WHEN notification_type = '{EMAIL}' THEN 0 ELSE coalesce(rate_multiplier, 1)::integer END AS rate_multiplier,
           CASE WHEN notification_type = '{EMAIL}' THEN false ELSE coalesce(international, false) END AS international,
           CASE WHEN notification_type = '{LETTER}' THEN coalesce(postage, 'none') ELSE 'none' END AS postage,
           CASE WHEN notification_type = '{LETTER}' THEN billable_units END AS sheets,
           sum(CASE WHEN notification_type = '{EMAIL}' THEN 0 ELSE billable_units END) AS billable_units,
           count(*) AS notifications_sent
    FROM billable
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
),
priced AS (
    SELECT g.*,
           {_RATE} AS rate
    FROM groups g
)
INSERT INTO ft_billing (bst_date, template_id, service_id, notification_type, provider, rate_multiplier,
                        international, rate, postage, billable_units, notifications_sent)
SELECT :day, template_id, service_id, notification_type, provider, rate_multiplier, international, rate, postage,
       sum(billable_units), sum(notifications_sent)
FROM priced
GROUP BY template_id, service_id, notification_type, provider, rate_multiplier, international, rate, postage
"""


def insert_params(day: dt.date) -> dict:
    start, end = day_window(day)
    return {"day": day, "start": start, "end": end, "midnight": start}


def insert_billing(conn: sa.Connection, day: dt.date) -> int:
    """The one INSERT ... SELECT for the day (no delete, no lock): what the benchmark times as the bare statement."""
    return rates.insert_priced(conn, INSERT_SQL, insert_params(day))



BUILD = FactBuild(fact, fact.c.bst_date, insert_billing, counts_by_type("notifications_sent"))
