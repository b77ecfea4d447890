"""One pure-ASGI middleware (cheaper than Starlette's BaseHTTPMiddleware): request id, header and body size limits,
the Prometheus request metrics and the access log.

The metrics are recorded here rather than by prometheus-fastapi-instrumentator's own middleware (which still serves
`/metrics`, see app.py): under the API benchmark that middleware cost about a quarter of a send's CPU, mostly in
matching every request against the route table a second time and building a Response per request to describe it.
Here the route template comes from the match FastAPI has already made (`scope["route"]`), and the metric names and
labels are the instrumentator's defaults (`http_requests_total`, `http_request_duration_seconds`), so dashboards
built for it work unchanged."""

from __future__ import annotations

import logging
import time

import orjson
from prometheus_client import Counter, Histogram

from notify_pipelines.api.errors import error_body
from notify_pipelines.api.request_context import (
    escape_for_log,
    new_request_id,
    request_id_var,
)

log = logging.getLogger("notify_pipelines.api.access")

REQUESTS = Counter("http_requests_total", "Total number of requests by method, status and handler.",
                   ("method", "status", "handler"))
LATENCY = Histogram("http_request_duration_seconds", "Latency with only few buckets by handler.",
                    ("method", "handler"), buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5))
UNMATCHED = "none"  # requests no route template matched (404s): one label value, whatever the path
METRICS_PATH = "/metrics"


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_children: dict[tuple[str, int, str], tuple] = {}  # the labelled series, looked up once each (labels() locks)


def _record(scope, status: int, seconds: float) -> None:
    route = scope.get("route")
    handler = getattr(route, "path", None) or UNMATCHED
    if handler == METRICS_PATH:
        return
    method = scope["method"]
    if method not in _METHODS:
        method = "other"  # the client's text: never a label value of its own
    key = (method, status, handler)
    children = _children.get(key)
    if children is None:
        children = _children[key] = (REQUESTS.labels(method, str(status), handler), LATENCY.labels(method, handler))
    children[0].inc()
    children[1].observe(seconds)


class RequestMiddleware:
    def __init__(self, app, *, max_body_bytes: int, max_header_bytes: int = 16 * 1024, access_log: bool = True):
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_header_bytes = max_header_bytes
        self.access_log = access_log

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        incoming = None
        length = None
        header_bytes = 0
        for name, value in scope["headers"]:
            header_bytes += len(name) + len(value)
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
            elif name == b"content-length":
                length = value
        request_id = new_request_id(incoming)
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status_holder = [0]
        done = [False]
        id_header = (b"x-request-id", request_id.encode())

        def finish() -> None:
            """Metrics and the access line, once per request: just before the last body message goes out (so the
            line is written before the client has the whole response), or at the end if none did."""
            if done[0]:
                return
            done[0] = True
            elapsed = time.perf_counter() - started
            _record(scope, status_holder[0], elapsed)
            if self.access_log:
                # Method, path and status only: query strings and bodies may carry personal data.
                log.info("%s %s %s %.1fms", escape_for_log(scope["method"]), escape_for_log(scope["path"]),
                         status_holder[0], elapsed * 1000)

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                status_holder[0] = message["status"]
                message["headers"] = [*message.get("headers", []), id_header]
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                finish()
            await send(message)

        try:
            too_large = False
            if header_bytes > self.max_header_bytes:  # before anything reads (let alone decodes) them
                await self._refuse(send_with_id, 431, f"Request headers are larger than the limit of "
                                                      f"{self.max_header_bytes} bytes")
                return
            if length is not None:
                try:
                    too_large = int(length) > self.max_body_bytes
                except ValueError:
                    too_large = False  # the HTTP server has already refused a malformed length
            else:
                receive, too_large = await self._buffer_unsized_body(scope, receive)
            if too_large:
                await self._refuse_too_large(send_with_id)
            else:
                await self.app(scope, receive, send_with_id)
        finally:
            finish()
            request_id_var.reset(token)

    async def _buffer_unsized_body(self, scope, receive):
        """A chunked body has no length up front: read it (up to the limit) and replay it to the app."""
        if scope["method"] in ("GET", "HEAD", "DELETE", "OPTIONS"):
            return receive, False
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.max_body_bytes:
                return receive, True
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        sent = False

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay, False

    async def _refuse_too_large(self, send):
        await self._refuse(send, 413, f"Request body is larger than the limit of {self.max_body_bytes} bytes")

    async def _refuse(self, send, status: int, message: str):
        body = orjson.dumps(error_body(status, "RequestTooLarge", [message]))
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")],
            }
        )
        await send({"type": "http.response.body", "body": body})
