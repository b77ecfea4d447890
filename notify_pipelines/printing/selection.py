"""Which letters go to print for a day, and how many (reference §5.3): ONE definition of the selection, used both
for the letters themselves and for the DVLA volumes per postage.

A letter is printed in the run of day D when it was created strictly before 17:30 London time on D, is still
`created`, was sent with a normal key and has been rendered, sanitised and validated (`billable_units > 0`: a
letter not yet rendered would be counted for DVLA and never reach it). The range is one index range on
ix_notifications_notification_type_composite (notification_type, notification_status, created_at); the rows are
sorted by service, postage and created_at on the server.

The letters are read through a server-side WITH HOLD cursor: the result is computed once in one short transaction
and kept by PostgreSQL; the client then fetches it `batch_size` rows at a time with no transaction open, so neither
memory nor a snapshot is held while S3 is called.
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from dataclasses import dataclass
from typing import Iterator

import psycopg2
import sqlalchemy as sa

from notify_pipelines.core.vocabulary import KEY_TYPE_NORMAL, LETTER, STATUS_CREATED
from notify_pipelines.db.schema import notifications, services

FETCH_SIZE = 10_000  # rows per fetch from the cursor (the reference's yield_per)
_CURSOR_NAME = "letters_to_print"


class SelectionInterrupted(RuntimeError):
    """The letters' cursor lost its database session mid-read (a cut connection, a failover): one line saying so.
    Nothing was sent for the letters not yet read; a re-run of the day picks them up."""

_counter = itertools.count()


def print_conditions(deadline: dt.datetime) -> list[sa.ColumnElement[bool]]:
    """The letters due in the print run whose deadline (naive UTC) is `deadline`: both §5.3 queries' filter."""
    n = notifications.c
    return [
        n.notification_type == LETTER,
        n.notification_status == STATUS_CREATED,
        n.created_at < deadline,
        n.key_type == KEY_TYPE_NORMAL,
        n.billable_units > 0,
    ]


def select_letters_to_print(deadline: dt.datetime) -> sa.Select:
    """Each letter due, with its service's organisation (for the print file name), ordered by service, postage,
    created_at and id, so that each (service, postage) group arrives whole and in a stable order."""
    n = notifications.c
    return (
        sa.select(n.id, n.reference, n.created_at, n.postage, n.billable_units.label("sheets"), n.service_id,
                  services.c.organisation_id)
        .select_from(notifications.join(services, services.c.id == n.service_id))
        .where(*print_conditions(deadline))
        .order_by(n.service_id, n.postage, n.created_at, n.id)
    )


def select_volumes_by_postage(deadline: dt.datetime) -> sa.Select:
    """Letters and sheets per postage among the letters due (dao_get_letters_and_sheets_volume_by_postage)."""
    n = notifications.c
    return (
        sa.select(n.postage, sa.func.count().label("letters"), sa.func.coalesce(sa.func.sum(n.billable_units), 0).label("sheets"))
        .where(*print_conditions(deadline))
        .group_by(n.postage)
        .order_by(n.postage)
    )


@dataclass(frozen=True)
class LetterToPrint:
    id: uuid.UUID
    reference: str
    created_at: dt.datetime
    postage: str | None
    sheets: int
    service_id: uuid.UUID
    organisation_id: uuid.UUID | None


def volumes_by_postage(conn: sa.Connection, deadline: dt.datetime) -> dict[str, dict[str, int]]:
    return {
        str(row.postage): {"letters": int(row.letters), "sheets": int(row.sheets)}
        for row in conn.execute(select_volumes_by_postage(deadline))
    }


def stream_letters_to_print(engine: sa.Engine, deadline: dt.datetime, *, fetch_size: int = FETCH_SIZE) -> Iterator[LetterToPrint]:
    """Every letter due, in select_letters_to_print's order, `fetch_size` rows in memory at a time.

    The query runs in one transaction into a WITH HOLD cursor, which PostgreSQL keeps (in its own temporary storage)
    after that transaction commits; the fetches that follow hold no transaction, no lock and no snapshot."""
    compiled = select_letters_to_print(deadline).compile(dialect=engine.dialect)
    name = f"{_CURSOR_NAME}_{next(_counter)}"
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        cursor = raw.cursor(name=name, withhold=True)
        read = 0
        try:
            cursor.itersize = fetch_size
            try:
                cursor.execute(compiled.string, compiled.params)
                raw.commit()  # the result is materialised; from here on no transaction is open
            except psycopg2.OperationalError as error:
                raise _interrupted(error, read) from None
            while True:
                try:
                    rows = cursor.fetchmany(fetch_size)
                    raw.commit()  # each FETCH runs in a transaction of its own, ended before the rows are used
                except psycopg2.OperationalError as error:
                    raise _interrupted(error, read) from None
                if not rows:
                    break
                for row in rows:
                    read += 1
                    yield LetterToPrint(*row)
        finally:
            try:
                cursor.close()  # CLOSE of a WITH HOLD cursor frees what the server kept
                raw.commit()
            except Exception:  # the connection is gone: the server dropped the cursor with the session
                pass


def _interrupted(error: psycopg2.OperationalError, read: int) -> SelectionInterrupted:
    reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return SelectionInterrupted(f"reading the letters to print stopped after {read}: the database session was lost "
                                f"({reason}); the letters not yet read were not sent: re-run the day")


def explain(conn: sa.Connection, query: sa.Select) -> str:
    compiled = query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
    return "\n".join(row[0] for row in conn.execute(sa.text(f"EXPLAIN {compiled}")))
