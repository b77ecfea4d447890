"""The rate look-ups in SQL (reference §2.3.4), shared by ft_billing and ft_billing_letter_despatch.

SMS: the latest `rates` row for 'sms' with valid_from <= London midnight of the day (`:midnight`). Letters: the latest
`letter_rates` row for the post class and sheet count, crown treated as true, start_date <= that midnight (end_date
ignored), and 0 sheets -> 0. A group with no rate calls `pg_temp.notify_missing_rate`, which raises inside the
statement, so the transaction (and the day's delete) rolls back: `insert_priced` turns that into MissingRateError.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from notify_pipelines.core.vocabulary import SMS

MISSING_RATE = "missing billing rate"

# A temporary function: it needs no migration and disappears with the session.
_CREATE_MISSING_RATE_FUNCTION = sa.text(
    """
CREATE OR REPLACE FUNCTION pg_temp.notify_missing_rate(day date, ntype text, postage text, sheets integer)
RETURNS numeric LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '%: no % rate for % (postage %, sheets %)',
    'missing billing rate', ntype, day, postage, coalesce(sheets::text, 'n/a')
    USING ERRCODE = 'P0001';
END $$
"""
)

SMS_RATE_SQL = f"""(
    SELECT r.rate FROM rates r
    WHERE r.notification_type = '{SMS}' AND r.valid_from <= :midnight
    ORDER BY r.valid_from DESC LIMIT 1)"""


class MissingRateError(RuntimeError):
    """No rate applies to a billable group: the day's fact is not written."""


def letter_rate_sql(postage: str, sheets: str) -> str:
    """The letter rate for the SQL expressions `postage` and `sheets` (uses ix_letter_rates_lookup)."""
    return f"""CASE WHEN {sheets} = 0 THEN 0 ELSE (
    SELECT lr.rate FROM letter_rates lr
    WHERE lr.post_class = {postage} AND lr.sheet_count = {sheets} AND lr.crown
      AND lr.start_date <= :midnight
    ORDER BY lr.start_date DESC LIMIT 1) END"""


def or_missing(rate_sql: str, ntype: str, postage: str, sheets: str) -> str:
    """`rate_sql`, or fail the statement naming the day (`:day`), type, postage and sheets."""
    return f"coalesce({rate_sql}, pg_temp.notify_missing_rate(:day, {ntype}, {postage}, {sheets}))"


def create_missing_rate_function(conn: sa.Connection) -> None:
    conn.execute(_CREATE_MISSING_RATE_FUNCTION)


def insert_priced(conn: sa.Connection, sql: str, params: dict) -> int:
    """Run an INSERT ... SELECT that prices its groups with `or_missing`; MissingRateError when a rate is missing."""
    create_missing_rate_function(conn)
    try:
        return conn.execute(sa.text(sql), params).rowcount
    except DBAPIError as exc:
        diag = getattr(exc.orig, "diag", None)
        message = (diag.message_primary if diag else None) or str(exc.orig)
        if MISSING_RATE in message:
            raise MissingRateError(message.strip()) from None
        raise
