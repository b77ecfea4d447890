"""The API under load while its database refuses connections: 201 or 503 (the v2 error body) for every request, one
log line per 503 and no traceback, no acknowledged notification lost, and recovery once the database answers again.

The database is PostgreSQL itself behind a TCP proxy this test starts: to refuse, the proxy stops listening (a new
connection gets ECONNREFUSED) and cuts every open connection, as a database restart or a network fault would.
"""

from __future__ import annotations

import asyncio
import logging
import threading

import httpx
import sqlalchemy as sa

from notify_pipelines.db import schema
from notify_pipelines_tests.api.conftest import RunningApi, api_config, token


class RefusingProxy:
    """127.0.0.1:<port> -> the database, on an event loop in a thread of its own; `refuse()` and `accept()`."""

    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server: asyncio.base_events.Server | None = None
        self.port = 0
        self.transports: set[asyncio.Transport] = set()

    def __enter__(self) -> RefusingProxy:
        self.thread.start()
        self.accept()
        return self

    def __exit__(self, *exc) -> None:
        self.refuse()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)

    def _run(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=10)

    def accept(self) -> None:
        async def listen():
            self.server = await asyncio.start_server(self._connection, "127.0.0.1", self.port)
            self.port = self.server.sockets[0].getsockname()[1]

        self._run(listen())

    def refuse(self) -> None:
        async def close():
            if self.server is not None:
                self.server.close()  # no longer listening: new connections are refused
                self.server = None
            for transport in list(self.transports):
                transport.abort()  # open connections cut (RST), mid-query or idle in a pool
            self.transports.clear()

        self._run(close())

    async def _connection(self, client_reader, client_writer) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.transport.abort()
            return
        pair = (client_writer.transport, upstream_writer.transport)
        self.transports.update(pair)

        async def pipe(reader, writer):
            try:
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                for transport in pair:
                    transport.abort()
                    self.transports.discard(transport)

        await asyncio.gather(pipe(client_reader, upstream_writer), pipe(upstream_reader, client_writer))


async def _send_under_load(url: str, service, proxy: RefusingProxy, concurrency: int = 8) -> list[tuple[int, dict]]:
    """SMS sends from `concurrency` clients at once: for a second with the database up, for three seconds while it
    refuses, then with it up again until 100 sends in a row have succeeded. Returns every (status, body)."""
    body = {"phone_number": "07700900123", "template_id": service.templates["sms"], "personalisation": {"name": "Jo"}}
    secret = service.keys["normal"].secret
    results: list[tuple[int, dict]] = []

    async def send(client):
        headers = {"Authorization": f"Bearer {token(service.id, secret)}"}
        response = await client.post("/v2/notifications/sms", json=body, headers=headers)
        results.append((response.status_code, response.json()))

    def recovered() -> bool:
        return len(results) >= 100 and all(status == 201 for status, _ in results[-100:])

    def for_seconds(seconds: float):
        deadline = asyncio.get_running_loop().time() + seconds
        return lambda: asyncio.get_running_loop().time() >= deadline

    async def worker(client, done):
        while not done() and len(results) < 20_000:
            await send(client)

    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        for action, done in ((None, lambda: for_seconds(1.0)), (proxy.refuse, lambda: for_seconds(3.0)),
                             (proxy.accept, lambda: recovered)):
            if action is not None:
                await asyncio.to_thread(action)
            await asyncio.gather(*(worker(client, done()) for _ in range(concurrency)))
    return results


def test_refusing_database_gives_503_loses_no_acknowledged_row_and_recovers(api, service, database_url, s3_endpoint,
                                                                            db, caplog):
    url = sa.make_url(database_url)
    with RefusingProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        # A short cache TTL, so the outage also reaches the credentials load, not only the writer.
        config = api_config(proxied, s3_endpoint, cache_ttl_seconds=0.2, access_log=False)
        with RunningApi(config) as running, caplog.at_level(logging.WARNING):
            results = asyncio.run(_send_under_load(running.url, service, proxy))

    statuses = [status for status, _ in results]
    assert set(statuses) <= {201, 503}, sorted(set(statuses))
    unavailable = [b for status, b in results if status == 503]
    assert unavailable, "the outage was not seen"
    for error_body in unavailable:
        assert error_body["status_code"] == 503
        assert [e["error"] for e in error_body["errors"]] == ["ServiceUnavailableError"]
    # Recovered: once the database answers again, sends succeed (the run ends with 100 in a row).
    assert all(status == 201 for status in statuses[-100:]), statuses[-100:]

    # One log line per 503, naming the class, and no traceback anywhere.
    records = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not [r for r in records if r.exc_info or "Traceback" in r.getMessage()]
    unavailable_lines = [r for r in records if "unavailable" in r.getMessage() and r.name.startswith("notify_pipelines")]
    assert len(unavailable_lines) == len(unavailable), [r.getMessage() for r in records][:20]
    assert not [r for r in records if r not in unavailable_lines], [r.getMessage() for r in records
                                                                    if r not in unavailable_lines][:20]

    # 0 acknowledged rows lost: every 201's id is in the database.
    acknowledged = {b["id"] for status, b in results if status == 201}
    n = schema.notifications
    with db.connect() as conn:
        stored = {str(i) for i in conn.execute(sa.select(n.c.id).where(n.c.service_id == service.id)).scalars()}
    assert acknowledged and not acknowledged - stored
