"""One batch of retention, as set-based SQL on a Connection (reference §3.3, §3.5).

Each function runs inside the caller's transaction; the caller commits one transaction per batch, so a kill at any
moment leaves every row in exactly one of `notifications` and `notification_history`.

Locking and two runs of the same night at once. Email and SMS batches take no explicit row lock: the statement picks
its rows' ctids and DELETE takes each row's lock itself. A row another run deleted first is skipped by our DELETE (it
waits for that run's commit, then finds the row gone), so it is moved once, by one run, and history's ON CONFLICT
guards the rest; ctids are taken in the same order by every run, so they cannot deadlock. FOR UPDATE would add a
write to every row (measured: about 40 % of the statement) and SKIP LOCKED would need it. A row updated under us
(a late status callback) gets a new ctid and is skipped: the batch reports it (moved < selected) and the caller runs
another batch. Letters do take FOR UPDATE (plain, waiting): their PDFs are deleted between choosing and moving the
rows, so the same rows must stay chosen.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import sqlalchemy as sa

from notify_pipelines.db.schema import HISTORY_COLUMNS

# Not final yet: DVLA may still print them or ask for a resend (reference §3.3).
LETTER_STATUSES_KEPT = ("pending-virus-check", "created", "sending")

_COLUMNS = ", ".join(HISTORY_COLUMNS)
_MOVED_COLUMNS = ", ".join(f"n.{c}" for c in HISTORY_COLUMNS)


@dataclass(frozen=True)
class LetterRow:
    """What finding a letter's PDF needs."""

    id: uuid.UUID
    notification_status: str
    key_type: str
    reference: str | None
    created_at: dt.datetime


@dataclass(frozen=True)
class BatchResult:
    selected: int  # rows the batch chose
    moved: int  # of which deleted from notifications by this batch
    inserted: int = 0  # of which newly inserted into history (an existing history row keeps its values)

    def more_may_remain(self, limit: int) -> bool:
        """A full batch, or chosen rows that changed under us (moved elsewhere or updated): look again."""
        return self.selected >= limit or self.moved < self.selected


def _oldest_rows(*, test_keys: bool, letters: bool, select: str, lock: bool = False) -> str:
    """The oldest rows of one service and type before the cutoff (locked if `lock`). Uses
    ix_notifications_service_id_ntype_created_at in created_at order; the other conditions filter that range."""
    key_filter = "key_type = 'test'" if test_keys else "key_type IN ('normal', 'team')"  # IN, not !=: index use
    status_filter = ""
    if letters and not test_keys:
        kept = ", ".join(f"'{s}'" for s in LETTER_STATUSES_KEPT)
        status_filter = f"AND notification_status NOT IN ({kept})"
    return f"""
        SELECT {select} FROM notifications
        WHERE service_id = :service_id
          AND notification_type = CAST(:notification_type AS notification_type)
          AND created_at < :cutoff
          AND {key_filter}
          {status_filter}
        ORDER BY created_at
        LIMIT :limit
        {"FOR UPDATE" if lock else ""}
    """


def _move_to_history(batch_sql: str) -> sa.TextClause:
    """Delete the batch from notifications and insert the same rows (23 named columns) into history, in one
    statement; ON CONFLICT keeps a history row that already exists. The batch is located by ctid (a Tid Scan, no
    join the planner could turn into a scan of the table); a row updated meanwhile has a new ctid and is left for
    the next batch, never half-moved, since DELETE ... RETURNING feeds the INSERT."""
    return sa.text(
        f"""
        WITH batch AS ({batch_sql}),
        moved AS (
            DELETE FROM notifications n WHERE n.ctid = ANY(ARRAY(SELECT ctid FROM batch))
            RETURNING {_MOVED_COLUMNS}
        ),
        archived AS (
            INSERT INTO notification_history ({_COLUMNS})
            SELECT {_COLUMNS} FROM moved
            ON CONFLICT ON CONSTRAINT notification_history_pkey DO NOTHING
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM batch) AS selected, (SELECT count(*) FROM moved) AS moved,
               (SELECT count(*) FROM archived) AS inserted
        """
    )


def _delete(batch_sql: str) -> sa.TextClause:
    return sa.text(
        f"""
        WITH batch AS ({batch_sql}),
        deleted AS (DELETE FROM notifications n WHERE n.ctid = ANY(ARRAY(SELECT ctid FROM batch)) RETURNING 1)
        SELECT (SELECT count(*) FROM batch) AS selected, (SELECT count(*) FROM deleted) AS moved
        """
    )


_BY_IDS = "SELECT ctid FROM notifications WHERE id = ANY(CAST(:ids AS uuid[]))"


def _params(service_id: uuid.UUID, notification_type: str, cutoff: dt.datetime, limit: int) -> dict:
    return {"service_id": service_id, "notification_type": notification_type, "cutoff": cutoff, "limit": limit}


def archive_batch(conn: sa.Connection, service_id: uuid.UUID, notification_type: str, cutoff: dt.datetime,
                  limit: int) -> BatchResult:
    """Move the oldest `limit` real-key rows (letters: final ones only) before `cutoff` to history."""
    batch = _oldest_rows(test_keys=False, letters=notification_type == "letter", select="ctid")
    row = conn.execute(_move_to_history(batch), _params(service_id, notification_type, cutoff, limit)).one()
    return BatchResult(row.selected, row.moved, row.inserted)


def delete_test_batch(conn: sa.Connection, service_id: uuid.UUID, notification_type: str, cutoff: dt.datetime,
                      limit: int) -> BatchResult:
    """Delete the oldest `limit` test-key rows before `cutoff`; they are never archived (reference §3.5)."""
    batch = _oldest_rows(test_keys=True, letters=notification_type == "letter", select="ctid")
    row = conn.execute(_delete(batch), _params(service_id, notification_type, cutoff, limit)).one()
    return BatchResult(row.selected, row.moved)


def lock_letter_batch(conn: sa.Connection, service_id: uuid.UUID, cutoff: dt.datetime, limit: int, *,
                      test_keys: bool) -> list[LetterRow]:
    """Lock the letters the next batch will remove, and return what their PDFs' names need. The caller deletes the
    PDFs, then removes exactly these rows with `archive_letters` / `delete_letters` in the same transaction."""
    batch = _oldest_rows(test_keys=test_keys, letters=True, lock=True,
                         select="id, notification_status, key_type, reference, created_at")
    rows = conn.execute(sa.text(batch), _params(service_id, "letter", cutoff, limit))
    return [LetterRow(*row) for row in rows]


def archive_letters(conn: sa.Connection, ids: list[uuid.UUID]) -> BatchResult:
    row = conn.execute(_move_to_history(_BY_IDS), {"ids": ids}).one()
    return BatchResult(row.selected, row.moved, row.inserted)


def delete_letters(conn: sa.Connection, ids: list[uuid.UUID]) -> BatchResult:
    row = conn.execute(_delete(_BY_IDS), {"ids": ids}).one()
    return BatchResult(row.selected, row.moved)
