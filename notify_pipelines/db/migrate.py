"""Alembic, driven from Python so `notify-pipelines db`, `dev` and the tests share one path.

The revisions in migrations/versions are frozen: each states what it changes and none reads the live schema module,
so a database at any revision upgrades to head. `check` compares a migrated database with db/schema.py, so the two
cannot drift apart unnoticed (the test suite runs it).

A downgrade refuses to drop data unless told to: it is first rehearsed inside a savepoint (PostgreSQL's DDL is
transactional), the tables and columns the rehearsal removed are found by comparing the catalogue before and after,
and the rows they hold are counted once the rehearsal is rolled back. So whatever a revision's downgrade does (drop a
table, drop a column, drop and re-create either) is seen without a list kept by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from notify_pipelines.core.settings import normalise_database_url
from notify_pipelines.db import schema

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Tables whose rows are not data: Alembic's own, and the lookup and reference values the revisions insert.
NOT_DATA_TABLES = frozenset({"alembic_version", *(table.name for table in schema.LOOKUP_VALUES)})

# Every column of every table in the current schema, keyed by identity: a table dropped and re-created gets a new oid,
# a column dropped and re-added a new attnum, so neither passes for the one it replaced; a rename keeps both.
COLUMNS_SQL = sa.text("""
SELECT c.oid AS table_oid, c.relname AS table_name, a.attnum, a.attname AS column_name
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
""")


@dataclass(frozen=True)
class DroppedData:
    """A table (column None) or a column a downgrade drops, and how many rows it holds (non-null values for a
    column)."""

    table: str
    column: str | None
    rows: int

    def __str__(self) -> str:
        rows = f"{self.rows:,} row{'' if self.rows == 1 else 's'}"
        return f"{self.table} ({rows})" if self.column is None else f"{self.table}.{self.column} ({rows} with a value)"


class DowngradeWouldDropData(RuntimeError):
    """A downgrade would drop tables or columns that hold rows, and was not told it may."""

    def __init__(self, revision: str, dropped: list[DroppedData]):
        self.revision, self.dropped = revision, dropped
        super().__init__(
            f"refusing to downgrade to {revision}: it would drop {', '.join(map(str, dropped))}; "
            "pass --yes to drop them"
        )


def alembic_config(url: str, connection: sa.Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", normalise_database_url(url).replace("%", "%%"))
    if connection is not None:  # env.py then runs the revisions inside this connection's transaction
        config.attributes["connection"] = connection
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str, *, allow_data_loss: bool = False) -> None:
    """Downgrade to `revision` in one transaction. Unless `allow_data_loss`, raise DowngradeWouldDropData (changing
    nothing) if it would drop a table or column holding rows, lookup tables aside."""
    engine = sa.create_engine(normalise_database_url(url), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn, conn.begin():
            if not allow_data_loss and (dropped := _data_dropped_by(conn, url, revision)):
                raise DowngradeWouldDropData(revision, dropped)
            command.downgrade(alembic_config(url, conn), revision)
    finally:
        engine.dispose()


def _data_dropped_by(conn: sa.Connection, url: str, revision: str) -> list[DroppedData]:
    before = conn.execute(COLUMNS_SQL).all()
    rehearsal = conn.begin_nested()
    try:
        command.downgrade(alembic_config(url, conn), revision)
        after = {(row.table_oid, row.attnum) for row in conn.execute(COLUMNS_SQL)}
    finally:
        rehearsal.rollback()
    tables_after = {oid for oid, _ in after}
    dropped_tables = sorted({row.table_name for row in before if row.table_oid not in tables_after})
    dropped_columns = sorted(
        (row.table_name, row.column_name) for row in before
        if row.table_oid in tables_after and (row.table_oid, row.attnum) not in after
    )
    quote = conn.dialect.identifier_preparer.quote
    counted = [
        DroppedData(table, None, conn.execute(sa.text(f"SELECT count(*) FROM {quote(table)}")).scalar_one())
        for table in dropped_tables if table not in NOT_DATA_TABLES
    ] + [
        DroppedData(table, column, conn.execute(
            sa.text(f"SELECT count({quote(column)}) FROM {quote(table)}")).scalar_one())
        for table, column in dropped_columns if table not in NOT_DATA_TABLES
    ]
    return [d for d in counted if d.rows]


def check(url: str) -> None:
    """Raise alembic.util.exc.AutogenerateDiffsDetected if the database at head differs from db/schema.py."""
    command.check(alembic_config(url))
