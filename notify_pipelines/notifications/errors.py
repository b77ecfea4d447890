"""Errors the domain raises, in the reference's v2 terms: an HTTP status, the error class name and the messages.

The reference's own errors carry their status (InvalidRequest(message, status_code)); the API renders them as
{"status_code": n, "errors": [{"error": ClassName, "message": text}]}. Messages name the field and the problem,
never the value (values may be recipients or secrets).
"""

from __future__ import annotations


class ApiError(Exception):
    def __init__(self, status_code: int, error: str, message: str | list[str]):
        super().__init__(message)
        self.status_code = status_code
        self.error = error
        self.messages = [message] if isinstance(message, str) else list(message)


def bad_request(message: str | list[str]) -> ApiError:
    return ApiError(400, "BadRequestError", message)


def validation_error(message: str | list[str]) -> ApiError:
    return ApiError(400, "ValidationError", message)


def auth_error(status_code: int, message: str) -> ApiError:
    return ApiError(status_code, "AuthError", message)


def not_found(message: str = "No result found") -> ApiError:
    return ApiError(404, "NoResultFound", message)


def unavailable(message: str = "The database is unavailable: try again shortly") -> ApiError:
    return ApiError(503, "ServiceUnavailableError", message)
