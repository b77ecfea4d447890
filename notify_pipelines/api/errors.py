"""Errors in the reference's v2 shape: {"status_code": n, "errors": [{"error": ClassName, "message": text}]}.

Every error the API returns goes through here, including FastAPI's own (validation, 404, 405), so clients see one
shape. Messages name the field and the problem, never the value (values may be recipients or secrets).
"""

from __future__ import annotations

import logging

import psycopg2
import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from limits.errors import StorageError
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from notify_pipelines.api.request_context import escape_for_log
from notify_pipelines.api.responses import JsonResponse
from notify_pipelines.notifications.errors import (
    AuthMissing,
    AuthRefused,
    DailyLimitReached,
    DomainError,
    NotFound,
    NotPermitted,
    PdfNotReady,
    RateLimited,
    Refused,
    Unavailable,
    ValidationFailed,
)

log = logging.getLogger("notify_pipelines.api.errors")


# The one place a domain error becomes HTTP: its status code and the reference's error class name.
DOMAIN_ERRORS: dict[type[DomainError], tuple[int, str]] = {
    Refused: (400, "BadRequestError"),
    ValidationFailed: (400, "ValidationError"),
    PdfNotReady: (400, "PDFNotReadyError"),
    AuthMissing: (401, "AuthError"),
    AuthRefused: (403, "AuthError"),
    NotPermitted: (403, "BadRequestError"),
    NotFound: (404, "NoResultFound"),
    RateLimited: (429, "RateLimitError"),
    DailyLimitReached: (429, "TooManyRequestsError"),
    Unavailable: (503, "ServiceUnavailableError"),
}


class ErrorEntry(BaseModel):
    error: str
    message: str


class ErrorResponse(BaseModel):
    status_code: int
    errors: list[ErrorEntry]


class LegacyErrorResponse(BaseModel):
    """The reference's older format, kept by the SMS provider callbacks: {"result": "error", "message": [...]}."""

    result: str
    message: list[str] | dict[str, list[str]]


class LegacyCallbackError(Exception):
    def __init__(self, messages: list[str]):
        super().__init__(messages)
        self.messages = messages


def error_body(status_code: int, error: str, messages: list[str]) -> dict:
    return {"status_code": status_code, "errors": [{"error": error, "message": m} for m in messages]}


def error_response(status_code: int, error: str, messages: list[str], headers: dict | None = None) -> JsonResponse:
    return JsonResponse(error_body(status_code, error, messages), status_code=status_code, headers=headers)


def _location(loc: tuple) -> str:
    # ("body", "personalisation", "name") -> "personalisation.name"; the "body"/"query"/"path" prefix says nothing
    parts = [str(p) for p in loc[1:]] if loc and loc[0] in ("body", "query", "path", "header") else [str(p) for p in loc]
    return ".".join(parts)


def validation_messages(errors) -> list[str]:
    """One message per problem, field first, as the reference's JSON-schema errors read."""
    messages = []
    for err in errors:
        kind = err.get("type")
        field = _location(tuple(err.get("loc", ())))
        if kind == "missing":
            messages.append(f"{field} is a required property")
        elif kind == "extra_forbidden":
            parent, _, name = field.rpartition(".")
            where = f"{parent} " if parent else ""
            messages.append(f"{where}Additional properties are not allowed ({name} was unexpected)")
        elif kind in ("json_invalid", "json_type") or (kind == "model_attributes_type" and not field):
            messages.append("Request body is not valid JSON: send a JSON object")
        else:
            text = str(err.get("msg", "is not valid"))
            text = text.removeprefix("Value error, ")
            # FastAPI validates the parsed JSON (python mode): say it in JSON's terms, as the v2 schema errors do.
            text = text.replace("a valid dictionary", "an object").replace("a valid list", "an array")
            messages.append(f"{field} {text}" if field else text)
    return messages or ["Request is not valid"]


def _unavailable(request: Request, exc: Exception, what: str) -> JsonResponse:
    """503 in the v2 shape and one log line naming the class (no traceback: an outage is not a bug, and it would
    otherwise log one traceback per request); nothing acknowledged is lost, since a row is acknowledged only once
    committed."""
    log.error("%s unavailable (%s) while serving %s %s", what, type(exc).__name__, request.method,
              escape_for_log(request.url.path))
    return error_response(503, "ServiceUnavailableError", [f"The {what} is unavailable: try again shortly"],
                          headers={"Retry-After": "5"})


CONTENT_TYPE_MESSAGE = "Content-Type header must be application/json: send the body as JSON with that header"

_HTTP_ERROR_NAMES = {404: "NoResultFound", 405: "MethodNotAllowed", 413: "RequestTooLarge", 431: "RequestTooLarge"}


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain_error(request: Request, exc: DomainError):
        status_code, name = DOMAIN_ERRORS[type(exc)]
        return error_response(status_code, name, exc.messages)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        if isinstance(exc.body, bytes) and exc.body:
            # FastAPI hands the body over unparsed only when the Content-Type is not JSON: say so, not "not JSON".
            return error_response(400, "ValidationError", [CONTENT_TYPE_MESSAGE])
        return error_response(400, "ValidationError", validation_messages(exc.errors()))

    @app.exception_handler(LegacyCallbackError)
    async def _legacy(request: Request, exc: LegacyCallbackError):
        return JsonResponse({"result": "error", "message": exc.messages}, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 404:
            messages = ["Resource not found"]
        elif exc.status_code == 405:
            messages = ["The method is not allowed for the requested URL"]
        else:
            messages = [str(exc.detail)]
        name = _HTTP_ERROR_NAMES.get(exc.status_code, "HTTPError")
        return error_response(exc.status_code, name, messages, headers=getattr(exc, "headers", None))

    @app.exception_handler(sa.exc.IntegrityError)
    async def _conflict(request: Request, exc: sa.exc.IntegrityError):
        # A concurrent write won a uniqueness race, or a reference points nowhere: the transaction wrote nothing.
        return error_response(400, "BadRequestError", ["The change conflicts with existing data; nothing was written"])

    @app.exception_handler(sa.exc.DBAPIError)
    async def _database_unavailable(request: Request, exc: sa.exc.DBAPIError):
        return _unavailable(request, exc, "database")

    @app.exception_handler(psycopg2.Error)  # the group-commit writer's own connections
    async def _writer_unavailable(request: Request, exc: psycopg2.Error):
        return _unavailable(request, exc, "database")

    @app.exception_handler(StorageError)  # Redis, for the limits
    async def _limits_unavailable(request: Request, exc: StorageError):
        return _unavailable(request, exc, "limits store")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        # Last resort: log the class only (the message may carry values), answer generically.
        log.error("unexpected error %s while serving %s %s", type(exc).__name__, request.method,
                  escape_for_log(request.url.path))
        return error_response(500, "InternalServerError", ["Internal server error"])
