"""Request ids: taken from `X-Request-Id` (when sane) or made, returned, and put on every log line of the request."""

from __future__ import annotations

import contextvars
import itertools
import logging
import re
import uuid

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")  # never echo arbitrary header text into logs
LOG_FORMAT = "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"


# Made ids: a random prefix per process and a counter, so they are unique without a random draw per request.
_PREFIX = uuid.uuid4().hex[:16]
_counter = itertools.count(1)


def new_request_id(incoming: str | None) -> str:
    if incoming and _SANE_REQUEST_ID.match(incoming):
        return incoming
    return f"{_PREFIX}{next(_counter):016x}"


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def escape_for_log(text: str, limit: int = 512) -> str:
    """Control characters (a decoded %0A, ESC sequences) shown escaped, so a value cannot forge or hide log lines."""
    text = text[:limit]
    return _CONTROL.sub(lambda m: m.group(0).encode("unicode_escape").decode("ascii"), text)


def install_request_id_on_records() -> None:
    """Every LogRecord made in this process gets `request_id` from the context (idempotent).

    A record factory rather than a handler filter, so that every handler (uvicorn's, pytest's) sees the id.
    """
    current = logging.getLogRecordFactory()
    if getattr(current, "_adds_request_id", False):
        return

    def factory(*args, **kwargs):
        record = current(*args, **kwargs)
        record.request_id = request_id_var.get()
        return record

    factory._adds_request_id = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


def configure_logging(level: int = logging.INFO) -> None:
    """For the server process: one stream handler on the root logger whose lines carry the request id."""
    install_request_id_on_records()
    logging.basicConfig(level=level, format=LOG_FORMAT)
