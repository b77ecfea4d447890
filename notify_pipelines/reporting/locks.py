"""How a day rebuild starts its transaction: an advisory lock per (fact table, day), and enough memory to aggregate.

The lock is transaction-scoped (pg_advisory_xact_lock), taken in the transaction that deletes and re-inserts the day:
if the connection drops, the lock, the delete and the insert roll back together (docs/locks-and-fencing.md)."""

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


# A 1M-notification day makes about 45k groups (about 10 MB of hash table): PostgreSQL's default 4MB work_mem spilled
# the aggregate to disk in 5 batches. SET LOCAL: only this transaction.
WORK_MEM = "64MB"


def set_work_mem(conn: sa.Connection) -> None:
    conn.execute(sa.text(f"SET LOCAL work_mem = '{WORK_MEM}'"))


def begin_day(conn: sa.Connection, table_name: str, day: dt.date) -> None:
    """Serialise with other rebuilds of the day, and size the aggregate's memory, for this transaction."""
    lock_day(conn, table_name, day)
    set_work_mem(conn)


def clear_day(conn: sa.Connection, fact: sa.Table, key: sa.Column, day: dt.date, *where) -> int:
    """Begin a rebuild of `fact`'s rows where `key` is `day` (and `where`): lock, size the memory, delete them; the
    rows deleted. The caller's one INSERT ... SELECT then writes the day again, in the same transaction."""
    begin_day(conn, fact.name, day)
    return conn.execute(sa.delete(fact).where(key == day, *where)).rowcount
