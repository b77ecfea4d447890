"""Before serving: the database must answer and be at the schema's head revision, or the API refuses to start
with one line saying which (rather than answering every request with an error)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from notify_pipelines.db import migrate


class DatabaseNotReady(Exception):
    pass


def check_database(database_url: str) -> None:
    engine = sa.create_engine(database_url, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    except sa.exc.DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        raise DatabaseNotReady(f"the database cannot be reached ({reason})") from None
    finally:
        engine.dispose()
    head = ScriptDirectory.from_config(migrate.alembic_config(database_url)).get_current_head()
    if current != head:
        raise DatabaseNotReady(f"the database is at revision {current or 'none'}, not {head}: "
                               f"run `notify-pipelines db upgrade` first")
