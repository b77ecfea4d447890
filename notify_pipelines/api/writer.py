"""The naive writer, kept as the benchmark's baseline: one INSERT and COMMIT per request on a thread-pool thread.

The real path is async_writer.GroupCommitWriter.
"""

from __future__ import annotations

import sqlalchemy as sa
from starlette.concurrency import run_in_threadpool

from notify_pipelines.notifications import store


class DirectWriter:
    """One INSERT and COMMIT per request on a thread-pool thread: the naive path, kept as the benchmark baseline."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine

    async def insert(self, row: dict) -> None:
        def write() -> None:
            with self.engine.begin() as conn:
                store.insert_notifications(conn, [row])

        await run_in_threadpool(write)

    def close(self) -> None:
        pass
