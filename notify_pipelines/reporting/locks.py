"""Transaction-level advisory locks that serialise two rebuilds of the same (fact table, day)."""

from __future__ import annotations

import datetime as dt
import zlib

import sqlalchemy as sa


def table_lock_key(table_name: str) -> int:
    """A stable int4 per table name (crc32, so the key is the same in every process and release)."""
    return zlib.crc32(table_name.encode()) & 0x7FFFFFFF


def lock_day(conn: sa.Connection, table_name: str, day: dt.date) -> None:
    """Wait for any other transaction rebuilding this table's day; released at commit or rollback."""
    conn.execute(
        sa.text("SELECT pg_advisory_xact_lock(:table_key, :day_number)"),
        {"table_key": table_lock_key(table_name), "day_number": day.toordinal()},
    )
