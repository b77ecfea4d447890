"""Deleting a table's old rows in batches: one statement, and one transaction, per batch.

The batch is a `SELECT ctid ... LIMIT n` on an index range, and the DELETE finds its rows by ctid (a Tid Scan), so a
batch touches only the rows it chose. A kill at any moment leaves each batch either committed or rolled back, and a
re-run deletes whatever is left by the same rule. A row another run deleted first is skipped (our DELETE waits for
that run's commit and finds it gone): the batch then reports fewer deleted than selected and the loop looks again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import sqlalchemy as sa


@dataclass(frozen=True)
class Batch:
    selected: int  # rows the batch chose
    deleted: int  # of which this batch deleted

    def more_may_remain(self, limit: int) -> bool:
        """A full batch, or chosen rows that went from under us: look again."""
        return self.selected >= limit or self.deleted < self.selected


def delete_statement(table: str, select_ctids: str) -> sa.TextClause:
    """One batch: `select_ctids` chooses the rows (`SELECT ctid FROM <table> ... LIMIT :limit`), this deletes them."""
    return sa.text(
        f"""
        WITH batch AS ({select_ctids}),
        deleted AS (DELETE FROM {table} t WHERE t.ctid = ANY(ARRAY(SELECT ctid FROM batch)) RETURNING 1)
        SELECT (SELECT count(*) FROM batch) AS selected, (SELECT count(*) FROM deleted) AS deleted
        """
    )


def delete_batch(conn: sa.Connection, statement: sa.TextClause, params: dict) -> Batch:
    row = conn.execute(statement, params).one()
    return Batch(row.selected, row.deleted)


def delete_until_done(engine: sa.Engine, statement: sa.TextClause, params: dict, limit: int,
                      on_batch: Callable[[Batch], None] | None = None) -> tuple[int, int]:
    """Run batches of at most `limit` rows, each in its own transaction, until none may remain: (deleted, batches)."""
    if limit < 1:
        raise ValueError(f"batch size must be at least 1, got {limit}")
    deleted = batches = 0
    while True:
        with engine.begin() as conn:
            batch = delete_batch(conn, statement, {**params, "limit": limit})
        deleted += batch.deleted
        batches += 1
        if on_batch:
            on_batch(batch)
        if not batch.more_may_remain(limit):
            return deleted, batches
