"""The one error tree of Brokkr.

Every port translates its library's exceptions into these, so no third-party exception crosses a port, and the
broker maps them to HTTP in exactly one place. ``code`` is the machine-readable snake_case code of the JSON error
body; ``details`` carries structured context (the offending field, the missing labels, ...).
"""

from __future__ import annotations

from collections.abc import Mapping


class BrokkrError(Exception):
    """Base of every domain error."""

    code: str = "internal_error"

    def __init__(
        self, message: str, *, code: str | None = None, details: Mapping[str, object] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details: dict[str, object] = dict(details or {})


class ValidationError(BrokkrError):
    """Bad input that can be fixed by the caller (HTTP 400)."""

    code = "invalid_request"


class UnprocessableError(BrokkrError):
    """Well-formed input that cannot be processed in the current state (HTTP 422)."""

    code = "unprocessable"


class NotFoundError(BrokkrError):
    """The addressed resource does not exist or is not visible (HTTP 404)."""

    code = "not_found"


class ConflictError(BrokkrError):
    """The request conflicts with current state, e.g. a duplicate name (HTTP 409)."""

    code = "conflict"


class ForbiddenError(BrokkrError):
    """The caller is authenticated but not allowed to do this (HTTP 403)."""

    code = "forbidden"


class UnauthorizedError(BrokkrError):
    """The caller could not be authenticated (HTTP 401)."""

    code = "unauthorized"


class TransientError(BrokkrError):
    """A dependency is temporarily unavailable; retrying later may succeed (HTTP 503)."""

    code = "service_unavailable"


__all__ = [
    "BrokkrError",
    "ConflictError",
    "ForbiddenError",
    "NotFoundError",
    "TransientError",
    "UnauthorizedError",
    "UnprocessableError",
    "ValidationError",
]
