"""Group commit on the event loop: many requests' rows in one INSERT, which is one transaction and one fsync.

A request puts its row on the queue and waits for *its batch's* statement to return (PostgreSQL has then
committed it: the writer's connections are psycopg2 asynchronous connections, which autocommit each statement),
so nothing is acknowledged before it is durable. While one batch commits, the next fills up, so under load a
batch is as big as the requests that arrived meanwhile (up to `max_batch`) and nobody waits for a timer.
Two connections take turns, so one batch is written while the previous one waits for its fsync.
If a batch fails, its rows are retried one by one, so one bad row cannot fail the requests around it.

Why not a thread: a writer thread fights the event loop for the GIL, and every handoff cost the requests time.
"""

from __future__ import annotations

import asyncio
import logging

import psycopg2
import psycopg2.extensions as pgext
import sqlalchemy as sa

from notify_pipelines.notifications import store

log = logging.getLogger("notify_pipelines.api.writer")


class GroupCommitWriter:
    def __init__(self, database_url: str, max_batch: int = 500, connections: int = 2):
        url = sa.make_url(database_url)
        _, self._connect_kwargs = url.get_dialect()().create_connect_args(url)
        self._connect_kwargs.update(connect_timeout=5, options="-c statement_timeout=60000")
        self.max_batch = max_batch
        self.connections = connections
        self._queue: asyncio.Queue | None = None
        self._tasks: list[asyncio.Task] = []

    async def insert(self, row: dict) -> None:
        """Returns once the row is committed; raises the database error if it could not be."""
        if self._queue is None:
            self._start()
        done = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((row, done))
        await done

    def _start(self) -> None:
        self._queue = asyncio.Queue()
        self._tasks = [asyncio.get_running_loop().create_task(self._run()) for _ in range(self.connections)]

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()

    async def _run(self) -> None:
        connection = None
        try:
            while True:
                batch = [await self._queue.get()]
                while len(batch) < self.max_batch and not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                try:
                    if connection is None or connection.closed:
                        connection = await self._connect()
                    await self._insert(connection, [row for row, _ in batch])
                    outcomes = [None] * len(batch)
                except Exception:
                    outcomes = []
                    for row, _ in batch:
                        try:
                            if connection is None or connection.closed:
                                connection = await self._connect()
                            await self._insert(connection, [row])
                            outcomes.append(None)
                        except Exception as exc:  # handed to the waiting request, which answers and logs for it
                            log.debug("could not store notification: %s", type(exc).__name__)
                            outcomes.append(exc)
                for (_, done), error in zip(batch, outcomes):
                    if done.done():  # the client went away; the row is stored regardless
                        continue
                    done.set_result(None) if error is None else done.set_exception(error)
        finally:
            if connection is not None:
                connection.close()

    async def _connect(self):
        connection = psycopg2.connect(async_=True, **self._connect_kwargs)
        await _wait(connection)
        return connection

    async def _insert(self, connection, rows: list[dict]) -> None:
        cursor = connection.cursor()
        try:
            cursor.execute(store.INSERT_NOTIFICATIONS_FROM_JSON, (store.notifications_json(rows),))
            await _wait(connection)
        except Exception:
            connection.close()  # a failed asynchronous connection is not reused
            raise
        finally:
            if not cursor.closed:
                cursor.close()


async def _wait(connection) -> None:
    """Drive an asynchronous psycopg2 connection on the event loop until its current operation is done."""
    loop = asyncio.get_running_loop()
    while True:
        state = connection.poll()
        if state == pgext.POLL_OK:
            return
        ready = loop.create_future()
        fd = connection.fileno()

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)

        if state == pgext.POLL_READ:
            loop.add_reader(fd, wake)
            try:
                await ready
            finally:
                loop.remove_reader(fd)
        elif state == pgext.POLL_WRITE:
            loop.add_writer(fd, wake)
            try:
                await ready
            finally:
                loop.remove_writer(fd)
        else:
            raise psycopg2.OperationalError(f"bad poll state {state}")
