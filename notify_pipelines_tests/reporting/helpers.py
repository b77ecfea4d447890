"""Readers of the fact tables and EXPLAIN, for the reporting tests."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from notify_pipelines.db import schema


def status_rows(engine: sa.Engine, *days: dt.date) -> list[tuple]:
    """ft_notification_status as sorted tuples (created_at/updated_at left out)."""
    f = schema.ft_notification_status
    query = sa.select(
        f.c.bst_date, f.c.template_id, f.c.service_id, f.c.job_id, f.c.notification_type, f.c.key_type,
        f.c.notification_status, f.c.notification_count,
    )
    if days:
        query = query.where(f.c.bst_date.in_(days))
    with engine.connect() as conn:
        return sorted(tuple(r) for r in conn.execute(query))


def billing_rows(engine: sa.Engine, *days: dt.date) -> list[tuple]:
    f = schema.ft_billing
    query = sa.select(
        f.c.bst_date, f.c.template_id, f.c.service_id, f.c.notification_type, f.c.provider, f.c.rate_multiplier,
        f.c.international, f.c.rate, f.c.postage, f.c.billable_units, f.c.notifications_sent,
    )
    if days:
        query = query.where(f.c.bst_date.in_(days))
    with engine.connect() as conn:
        return sorted(tuple(r) for r in conn.execute(query))


def counts_by_date(engine: sa.Engine) -> dict[dt.date, int]:
    f = schema.ft_notification_status
    with engine.connect() as conn:
        rows = conn.execute(sa.select(f.c.bst_date, sa.func.sum(f.c.notification_count)).group_by(f.c.bst_date))
        return {day: int(n) for day, n in rows}


def explain(conn: sa.Connection, statement) -> str:
    """The plan PostgreSQL would use for a Core statement or text, without running it."""
    if isinstance(statement, tuple):  # (text SQL, params)
        sql, params = statement
        return "\n".join(r[0] for r in conn.execute(sa.text("EXPLAIN " + sql), params))
    compiled = statement.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    return "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + compiled.string, compiled.params))
