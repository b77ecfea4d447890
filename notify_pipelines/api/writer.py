"""Group commit: many requests' notification rows go into one INSERT and one COMMIT.

A request hands its row to the writer thread and waits for *its batch's* commit before answering, so nothing is
acknowledged before it is durable. While one batch commits, the next fills up, so under load a batch is as big as
the requests that arrived meanwhile (up to `max_batch`) and nobody waits for a timer.
If a batch fails, its rows are retried one by one, so one bad row cannot fail the requests around it.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading

import sqlalchemy as sa
from psycopg2.extras import execute_values

from notify_pipelines.api import store

log = logging.getLogger("notify_pipelines.api.writer")
_STOP = object()


class GroupCommitWriter:
    def __init__(self, engine: sa.Engine, max_batch: int = 500, threads: int = 2):
        self.engine = engine
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._local = threading.local()
        # Two writers: while one batch waits for its commit's fsync, the next batch is being written by the other.
        self._threads = [
            threading.Thread(target=self._run, name=f"notification-writer-{i}", daemon=True) for i in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    async def insert(self, row: dict) -> None:
        """Returns once the row is committed; raises the database error if it could not be."""
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        self._queue.put((row, loop, done))
        await done

    def close(self) -> None:
        self._queue.put(_STOP)  # each writer puts it back for the next before stopping
        for thread in self._threads:
            thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                self._queue.put(_STOP)
                return
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    self._queue.put(_STOP)
                    break
                batch.append(item)
            self._write(batch)

    def _insert(self, rows: list[dict]) -> None:
        """One INSERT ... VALUES (...), (...) and one COMMIT on the writer's own connection (kept between batches,
        so no pool checkout or ping per batch; replaced after any error)."""
        if getattr(self._local, "connection", None) is None:
            self._local.connection = self.engine.raw_connection()
        try:
            with self._local.connection.cursor() as cursor:
                execute_values(cursor, store.INSERT_NOTIFICATIONS_SQL, [store.notification_values(r) for r in rows],
                               page_size=len(rows))
            self._local.connection.commit()
        except Exception:
            try:
                self._local.connection.rollback()
            except Exception:
                pass
            self._local.connection.invalidate() if hasattr(self._local.connection, "invalidate") else self._local.connection.close()
            self._local.connection = None
            raise

    def _write(self, batch: list) -> None:
        try:
            self._insert([row for row, _, _ in batch])
            outcomes = [None] * len(batch)
        except Exception:
            outcomes = [self._write_one(row) for row, _, _ in batch]
        for (_, loop, done), error in zip(batch, outcomes):
            try:
                loop.call_soon_threadsafe(_settle, done, error)
            except RuntimeError:  # that event loop has closed (server shutting down)
                pass

    def _write_one(self, row: dict) -> Exception | None:
        try:
            self._insert([row])
            return None
        except Exception as exc:  # handed to the waiting request, which answers for it
            log.error("could not store notification: %s", type(exc).__name__)
            return exc


def _settle(done: asyncio.Future, error: Exception | None) -> None:
    if done.done():  # the client went away and the request was cancelled; the row is stored regardless
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)


class DirectWriter:
    """One INSERT and COMMIT per request on a thread-pool thread: the naive path, kept as the benchmark baseline."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine

    async def insert(self, row: dict) -> None:
        from starlette.concurrency import run_in_threadpool

        def write() -> None:
            with self.engine.begin() as conn:
                store.insert_notifications(conn, [row])

        await run_in_threadpool(write)

    def close(self) -> None:
        pass
