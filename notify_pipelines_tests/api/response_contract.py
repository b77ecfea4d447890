"""Every JSON body the API sends in the tests, checked against what its route declares: a 2xx against the route's
response_model, an error against the route's declared model for that status (the SMS callbacks' legacy 400) or the
v2 ErrorResponse. A body passes when it validates AND re-serialises to itself, so a key the model does not declare, a
missing one or a value of another type (a number sent as a string) is a violation, not silently coerced.

The API runs in a server thread: violations are collected here and the api conftest fails the test that caused them.
"""

from __future__ import annotations

import functools

import orjson
from fastapi.routing import APIRoute
from pydantic import TypeAdapter, ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from notify_pipelines.api.errors import ErrorResponse

VIOLATIONS: list[str] = []


@functools.cache
def _adapter(model) -> TypeAdapter:
    return TypeAdapter(model)


def _route(scope: Scope) -> APIRoute | None:
    route = scope.get("route")  # the route FastAPI matched (set in the shared scope while routing)
    return route if isinstance(route, APIRoute) else None


def declared_model(scope: Scope, status: int):
    """The model the route declares for this status, or None where it declares none (not JSON, or not an API route)."""
    route = _route(scope)
    if status < 400:
        return route.response_model if route is not None else None
    declared = (route.responses.get(status) or {}).get("model") if route is not None else None
    return declared or ErrorResponse


def violation(model, body: bytes, exclude_unset: bool) -> str | None:
    try:
        sent = orjson.loads(body)
    except orjson.JSONDecodeError:
        return "the body is not JSON"
    adapter = _adapter(model)
    try:
        value = adapter.validate_python(sent)
    except ValidationError as exc:
        return f"the body does not validate against {getattr(model, '__name__', model)}: {exc}"
    again = adapter.dump_python(value, mode="json", exclude_unset=exclude_unset)
    if again != sent:
        return f"the body is not exactly {getattr(model, '__name__', model)}: sent {sent!r}, the model gives {again!r}"
    return None


class ResponseContract:
    """ASGI middleware (outermost): buffers each JSON response and records any body its route does not declare."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: dict = {}
        chunks: list[bytes] = []

        async def checking_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    self._check(scope, start, b"".join(chunks))
            await send(message)

        await self.app(scope, receive, checking_send)

    def _check(self, scope: Scope, start: dict, body: bytes) -> None:
        headers = dict(start.get("headers", []))
        status = start.get("status", 0)
        if not headers.get(b"content-type", b"").startswith(b"application/json") or scope["path"] == "/openapi.json":
            return
        where = f"{scope['method']} {scope['path']} -> {status}"
        model = declared_model(scope, status)
        if model is None:
            VIOLATIONS.append(f"{where}: a JSON response from a route that declares no response model")
            return
        route = _route(scope)
        exclude_unset = bool(route and status < 400 and route.response_model_exclude_unset)
        problem = violation(model, body, exclude_unset)
        if problem:
            VIOLATIONS.append(f"{where}: {problem}")
