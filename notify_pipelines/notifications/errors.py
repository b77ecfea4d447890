"""Errors the notifications domain raises, by what went wrong (no HTTP here: api/errors.py maps each class to its
status code and the reference's v2 error name, in one table).

Messages name the field and the problem, never the value (values may be recipients or secrets).
"""

from __future__ import annotations


class DomainError(Exception):
    """One or more messages, each shown to the caller as one entry of the error body."""

    def __init__(self, message: str | list[str]):
        super().__init__(message)
        self.messages = [message] if isinstance(message, str) else list(message)


class Refused(DomainError):
    """The request is well formed, but a business rule refuses it (template, permission, duplicate, ...)."""


class NotPermitted(DomainError):
    """The caller's key or the service's mode does not allow this at all (letters with a team key, in trial mode)."""


class ValidationFailed(DomainError):
    """A field's value is not valid (the reference's schema errors)."""


class NotFound(DomainError):
    def __init__(self, message: str | list[str] = "No result found"):
        super().__init__(message)


class PdfNotReady(DomainError):
    def __init__(self, message: str | list[str] = "PDF not available yet, try again later"):
        super().__init__(message)


class AuthMissing(DomainError):
    """No usable credentials were sent."""


class AuthRefused(DomainError):
    """Credentials were sent and are not accepted."""


class RateLimited(DomainError):
    """Too many requests in the last minute."""


class DailyLimitReached(DomainError):
    """The service's daily send limit for a type is used up."""


class Unavailable(DomainError):
    """A dependency (database, S3) did not answer: nothing was done, try again."""

    def __init__(self, message: str | list[str] = "The database is unavailable: try again shortly"):
        super().__init__(message)
