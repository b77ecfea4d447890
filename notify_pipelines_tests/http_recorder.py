"""A real HTTP server on loopback that records what it receives, standing in for a service's callback endpoint or an
alert webhook. Tests script its answers: a status code per request (then the last one repeats) and an optional delay.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


@dataclass
class HttpRecorder:
    url: str
    requests: list[RecordedRequest] = field(default_factory=list)
    statuses: list[int] = field(default_factory=lambda: [200])
    delay_seconds: float = 0.0

    def respond_with(self, *statuses: int, delay_seconds: float = 0.0) -> None:
        """Answer the next requests with these statuses in turn (the last repeats), after `delay_seconds`."""
        self.statuses = list(statuses)
        self.delay_seconds = delay_seconds

    def _next_status(self) -> int:
        return self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]


def start_recorder() -> tuple[HttpRecorder, ThreadingHTTPServer]:
    recorder: HttpRecorder

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            recorder.requests.append(RecordedRequest(self.command, self.path, dict(self.headers.items()), body))
            status = recorder._next_status()
            if recorder.delay_seconds:
                time.sleep(recorder.delay_seconds)
            payload = b'{"ok": true}'
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout): that is what slow-endpoint tests want

        do_POST = do_GET = do_PUT = _handle

        def log_message(self, *args) -> None:  # keep test output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    recorder = HttpRecorder(url=f"http://127.0.0.1:{server.server_address[1]}")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return recorder, server


@pytest.fixture
def http_recorder():
    recorder, server = start_recorder()
    yield recorder
    server.shutdown()
    server.server_close()
