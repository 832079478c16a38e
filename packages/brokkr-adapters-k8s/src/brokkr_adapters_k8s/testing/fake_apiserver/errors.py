"""Kubernetes ``Status`` errors.

Clients (the official Python client included) decide what to do from the HTTP code *and* the
``reason`` of a ``Status`` body, so every failure the fake produces goes through :class:`ApiError`,
which renders exactly that shape.
"""

from __future__ import annotations

from typing import Any

JsonDict = dict[str, Any]

_REASON_BY_CODE = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


def reason_for(code: int) -> str:
    """The ``reason`` the real API server uses for a bare HTTP code."""
    return _REASON_BY_CODE.get(code, "Unknown")


class ApiError(Exception):
    """A failure that leaves the server as a ``Status`` object with a given HTTP code."""

    def __init__(self, code: int, message: str, reason: str | None = None, details: JsonDict | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or reason_for(code)
        self.details = details

    def to_status(self) -> JsonDict:
        """The ``Status`` body for this error."""
        status: JsonDict = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        }
        if self.details is not None:
            status["details"] = self.details
        status["code"] = self.code
        return status


def _details(name: str, group: str, plural: str) -> JsonDict:
    details: JsonDict = {"name": name}
    if group:
        details["group"] = group
    details["kind"] = plural
    return details


def _qualified(group: str, plural: str) -> str:
    return f"{plural}.{group}" if group else plural


def not_found(group: str, plural: str, name: str) -> ApiError:
    """``<plural> "<name>" not found`` as the API server words it."""
    return ApiError(
        404, f'{_qualified(group, plural)} "{name}" not found', details=_details(name, group, plural)
    )


def no_such_path() -> ApiError:
    """The answer for a URL that names no resource at all."""
    return ApiError(404, "the server could not find the requested resource", details={})


def already_exists(group: str, plural: str, name: str) -> ApiError:
    return ApiError(
        409,
        f'{_qualified(group, plural)} "{name}" already exists',
        reason="AlreadyExists",
        details=_details(name, group, plural),
    )


def conflict(group: str, plural: str, name: str, message: str) -> ApiError:
    return ApiError(
        409,
        f'Operation cannot be fulfilled on {_qualified(group, plural)} "{name}": {message}',
        details=_details(name, group, plural),
    )


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def method_not_allowed(method: str) -> ApiError:
    return ApiError(
        405, f"the server does not allow this method on the requested resource ({method})", details={}
    )


def unsupported_media_type(content_type: str, accepted: list[str]) -> ApiError:
    return ApiError(
        415,
        f"the body of the request was in an unknown format ({content_type or 'none'}) - accepted media types "
        f"include: {', '.join(accepted)}",
    )


class Cause:
    """One entry of ``details.causes``: which field is wrong and why."""

    def __init__(self, field: str, reason: str, message: str):
        self.field = field
        self.reason = reason
        self.message = message

    def to_json(self) -> JsonDict:
        return {"reason": self.reason, "message": self.message, "field": self.field}


def invalid(kind: str, group: str, name: str, causes: list[Cause]) -> ApiError:
    """422 Invalid: the message joins ``field: message`` for every cause, as the API server does."""
    parts = [f"{c.field}: {c.message}" for c in causes]
    joined = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    details: JsonDict = {"name": name}
    if group:
        details["group"] = group
    details["kind"] = kind
    details["causes"] = [c.to_json() for c in causes]
    qualified = f"{kind}.{group}" if group else kind
    return ApiError(422, f'{qualified} "{name}" is invalid: {joined}', details=details)
