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

from notify_pipelines.api import store

log = logging.getLogger("notify_pipelines.api.writer")
_STOP = object()


class GroupCommitWriter:
    def __init__(self, engine: sa.Engine, max_batch: int = 500):
        self.engine = engine
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="notification-writer", daemon=True)
        self._thread.start()

    async def insert(self, row: dict) -> None:
        """Returns once the row is committed; raises the database error if it could not be."""
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        self._queue.put((row, loop, done))
        await done

    def close(self) -> None:
        self._queue.put(_STOP)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
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

    def _write(self, batch: list) -> None:
        try:
            with self.engine.begin() as conn:
                store.insert_notifications(conn, [row for row, _, _ in batch])
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
            with self.engine.begin() as conn:
                store.insert_notifications(conn, [row])
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
