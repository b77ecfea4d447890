"""One batch of retention, as set-based SQL on a Connection (reference §3.3, §3.5).

Each function runs inside the caller's transaction; the caller commits one transaction per batch, so a kill at any
moment leaves every row in exactly one of `notifications` and `notification_history`.

Locking and two runs of the same night at once. Email and SMS batches take no explicit row lock: the statement picks
its rows' ctids and DELETE takes each row's lock itself. A row another run deleted first is skipped by our DELETE (it
waits for that run's commit, then finds the row gone), so it is moved once, by one run, and history's ON CONFLICT
guards the rest; ctids are taken in the same order by every run, so they cannot deadlock. FOR UPDATE would add a
write to every row (measured: about 40 % of the statement) and SKIP LOCKED would need it. A row updated under us
(a late status callback) gets a new ctid and is skipped: the batch reports it (moved < selected) and the caller runs
another batch.

Letters take no lock either, and no transaction stays open while S3 is called: a batch is chosen by a plain read
(`choose_letters`), the caller deletes the PDFs outside any transaction, then `archive_letters` / `delete_test_letters`
remove, in one short statement, exactly the chosen letters whose PDF is gone and that still meet the batch's
conditions with the status they were chosen with. A letter that changed meanwhile (a late status callback) is left
for a later batch to decide on its new status. Holding FOR UPDATE across S3 calls kept rows locked, idle in
transaction, for as long as S3 took (95 s for 4,466 letters against a local S3), blocking every status callback for
them. With no lock held across statements, a dropped connection releases nothing another run relies on: each
statement re-checks its own conditions (docs/locks-and-fencing.md).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import sqlalchemy as sa

from notify_pipelines.core.vocabulary import (
    KEY_TYPE_TEST,
    LETTER,
    LETTER_STATUSES_KEPT,
    REPORTED_KEY_TYPES,
    sql_literals,
)
from notify_pipelines.db.schema import HISTORY_COLUMNS

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
    postage: str | None = None  # part of the file's name (none: named as second class)


@dataclass(frozen=True)
class BatchResult:
    selected: int  # rows the batch chose
    moved: int  # of which deleted from notifications by this batch
    inserted: int = 0  # of which newly inserted into history (an existing history row keeps its values)

    def more_may_remain(self, limit: int) -> bool:
        """A full batch, or chosen rows that changed under us (moved elsewhere or updated): look again."""
        return self.selected >= limit or self.moved < self.selected


def _batch_conditions(*, test_keys: bool, letters: bool) -> str:
    """What makes a row part of one service and type's batch before the cutoff (parameters service_id,
    notification_type, cutoff)."""
    key_filter = f"key_type = '{KEY_TYPE_TEST}'" if test_keys else f"key_type IN ({sql_literals(REPORTED_KEY_TYPES)})"
    status_filter = ""
    if letters and not test_keys:
        status_filter = f"AND notification_status NOT IN ({sql_literals(LETTER_STATUSES_KEPT)})"
    return f"""service_id = :service_id
          AND notification_type = CAST(:notification_type AS notification_type)
          AND created_at < :cutoff
          AND {key_filter}
          {status_filter}"""


def _oldest_rows(*, test_keys: bool, letters: bool, select: str) -> str:
    """The oldest rows of one service and type before the cutoff. Uses ix_notifications_service_id_ntype_created_at
    in created_at order; the other conditions filter that range."""
    return f"""
        SELECT {select} FROM notifications
        WHERE {_batch_conditions(test_keys=test_keys, letters=letters)}
        ORDER BY created_at
        LIMIT :limit
    """


def _still_chosen(*, test_keys: bool) -> str:
    """The chosen letters (parameters ids, statuses) that still have the status they were chosen with and still meet
    the batch's conditions. Each is found by its primary key: the LIMIT keeps the lateral subquery from being
    flattened into a join, which the planner answered with a scan of the service's whole index range before the
    cutoff (every letter the service has past retention) to hash-join a few thousand ids."""
    return f"""
        SELECT found.ctid FROM unnest(CAST(:ids AS uuid[]), CAST(:statuses AS text[])) AS chosen(id, status)
        CROSS JOIN LATERAL (
            SELECT ctid FROM notifications
            WHERE id = chosen.id AND notification_status = chosen.status
              AND {_batch_conditions(test_keys=test_keys, letters=True)}
            LIMIT 1
        ) AS found
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


def _params(service_id: uuid.UUID, notification_type: str, cutoff: dt.datetime, limit: int) -> dict:
    return {"service_id": service_id, "notification_type": notification_type, "cutoff": cutoff, "limit": limit}


def archive_batch(conn: sa.Connection, service_id: uuid.UUID, notification_type: str, cutoff: dt.datetime,
                  limit: int) -> BatchResult:
    """Move the oldest `limit` real-key rows (letters: final ones only) before `cutoff` to history."""
    batch = _oldest_rows(test_keys=False, letters=notification_type == LETTER, select="ctid")
    row = conn.execute(_move_to_history(batch), _params(service_id, notification_type, cutoff, limit)).one()
    return BatchResult(row.selected, row.moved, row.inserted)


def delete_test_batch(conn: sa.Connection, service_id: uuid.UUID, notification_type: str, cutoff: dt.datetime,
                      limit: int) -> BatchResult:
    """Delete the oldest `limit` test-key rows before `cutoff`; they are never archived (reference §3.5)."""
    batch = _oldest_rows(test_keys=True, letters=notification_type == LETTER, select="ctid")
    row = conn.execute(_delete(batch), _params(service_id, notification_type, cutoff, limit)).one()
    return BatchResult(row.selected, row.moved)


def choose_letters(conn: sa.Connection, service_id: uuid.UUID, cutoff: dt.datetime, limit: int, *,
                   test_keys: bool) -> list[LetterRow]:
    """The letters the next batch will remove, with what their PDFs' names need. A plain read, no lock: the caller
    commits (or closes) before calling S3, and the removal re-checks each letter."""
    batch = _oldest_rows(test_keys=test_keys, letters=True,
                         select="id, notification_status, key_type, reference, created_at, postage")
    rows = conn.execute(sa.text(batch), _params(service_id, LETTER, cutoff, limit))
    return [LetterRow(*row) for row in rows]


def _chosen_params(service_id: uuid.UUID, cutoff: dt.datetime, letters: list[LetterRow]) -> dict:
    return {"service_id": service_id, "notification_type": LETTER, "cutoff": cutoff,
            "ids": [letter.id for letter in letters], "statuses": [letter.notification_status for letter in letters]}


def archive_letters(conn: sa.Connection, service_id: uuid.UUID, cutoff: dt.datetime,
                    letters: list[LetterRow]) -> BatchResult:
    """Move to history those of the chosen real-key `letters` that are unchanged and still past retention.
    `selected` counts the letters given, so `moved < selected` says some changed and another batch should look."""
    params = _chosen_params(service_id, cutoff, letters)
    row = conn.execute(_move_to_history(_still_chosen(test_keys=False)), params).one()
    return BatchResult(len(letters), row.moved, row.inserted)


def delete_test_letters(conn: sa.Connection, service_id: uuid.UUID, cutoff: dt.datetime,
                        letters: list[LetterRow]) -> BatchResult:
    """Delete those of the chosen test-key `letters` that are unchanged and still past retention."""
    row = conn.execute(_delete(_still_chosen(test_keys=True)), _chosen_params(service_id, cutoff, letters)).one()
    return BatchResult(len(letters), row.moved)


def count_letters_past_retention(conn: sa.Connection, service_id: uuid.UUID, cutoff: dt.datetime, *,
                                 test_keys: bool) -> int:
    """How many letters a batch could still choose: what a stopped letter loop leaves for the next night."""
    sql = f"SELECT count(*) FROM notifications WHERE {_batch_conditions(test_keys=test_keys, letters=True)}"
    params = {"service_id": service_id, "notification_type": LETTER, "cutoff": cutoff}
    return conn.execute(sa.text(sql), params).scalar_one()
