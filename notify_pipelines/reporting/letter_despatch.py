"""ft_billing_letter_despatch for one day DVLA despatched letters on (reference §1.7, §2.3.7).

The letters recorded in `notifications_letter_despatch` with `despatched_on = day` (its despatched_on index), joined
by id to `notifications` and to `notification_history` separately (each on its primary key: the reference's view
caused sequential scans), grouped by (postage, sheets, cost_threshold) and priced with the letter rate for that sheet
count and postage at London midnight of the day (reporting/rates.py, the same look-up as ft_billing).

Delete-then-insert per day, so a group that no longer exists disappears (the reference deleted the groups not in
the new set, then upserted: the same result). A group with no rate fails the day and writes nothing.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from notify_pipelines.core.calendar import london_midnight
from notify_pipelines.core.vocabulary import LETTER
from notify_pipelines.db import schema
from notify_pipelines.reporting import rates
from notify_pipelines.reporting.fact_build import FactBuild

fact = schema.ft_billing_letter_despatch


def _branch(table: str) -> str:
    return f"""
    SELECT d.cost_threshold, n.postage, n.billable_units
    FROM notifications_letter_despatch d JOIN {table} n ON n.id = d.notification_id
    WHERE d.despatched_on = :day"""


INSERT_SQL = f"""
WITH groups AS (
    SELECT coalesce(postage, 'none') AS postage, billable_units AS sheets, cost_threshold, count(*) AS letters
    FROM ({_branch("notifications")}
        UNION ALL{_branch("notification_history")}
    ) AS despatched
    GROUP BY 1, 2, 3
)
INSERT INTO ft_billing_letter_despatch (bst_date, postage, rate, billable_units, cost_threshold, notifications_sent)
SELECT :day, g.postage,
       {rates.or_missing(rates.letter_rate_sql("g.postage", "g.sheets"), f"'{LETTER}'", "g.postage", "g.sheets")},
       g.sheets, g.cost_threshold, g.letters
FROM groups g
"""


def insert_params(day: dt.date) -> dict:
    return {"day": day, "midnight": london_midnight(day)}


def insert_despatch(conn: sa.Connection, day: dt.date) -> int:
    """The one INSERT ... SELECT for the day (no delete, no lock): the benchmark's bare statement."""
    return rates.insert_priced(conn, INSERT_SQL, insert_params(day))



def summary(conn: sa.Connection, build: FactBuild, day: dt.date, inserted: int) -> dict:
    """All rows are letters: their groups and the letters in them."""
    letters = conn.execute(
        sa.select(sa.func.coalesce(sa.func.sum(fact.c.notifications_sent), 0)).where(fact.c.bst_date == day)
    ).scalar_one()
    return {"per_type": {LETTER: (inserted, int(letters))} if inserted else {}}


BUILD = FactBuild(fact, fact.c.bst_date, insert_despatch, summary)
