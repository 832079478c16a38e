"""Domain errors → HTTP, in one place. Every error response is ``{"code", "message", "details"?}``."""

from __future__ import annotations

import logging
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from brokkr_domain.errors import (
    BrokkrError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    TransientError,
    UnauthorizedError,
    UnprocessableError,
    ValidationError,
)

log = logging.getLogger("brokkr.broker")

STATUS_BY_ERROR: tuple[tuple[type[BrokkrError], int], ...] = (
    (UnauthorizedError, 401),
    (ForbiddenError, 403),
    (NotFoundError, 404),
    (ConflictError, 409),
    (UnprocessableError, 422),
    (ValidationError, 400),
    (TransientError, 503),
)

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "too_many_requests",
    500: "internal_error",
    503: "service_unavailable",
}


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if details:
        body["details"] = details
    return body


def error_response(
    status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(error_body(code, message, details), status_code=status, headers=headers)


def status_of(exc: BrokkrError) -> int:
    for cls, status in STATUS_BY_ERROR:
        if isinstance(exc, cls):
            return status
    return 500


# What a client is told about a server-side failure: the code says what happened, the specifics (hosts, ports,
# SQL, driver messages) stay in the broker's log.
PUBLIC_5XX_MESSAGES = {
    "database_unavailable": "The database is unavailable right now; try again shortly",
}


def public_message(exc: BrokkrError, status: int) -> str:
    """The message a client gets: the error's own below 500, a fixed sentence for server-side failures."""
    if status < 500:
        return exc.message
    if exc.code in PUBLIC_5XX_MESSAGES:
        return PUBLIC_5XX_MESSAGES[exc.code]
    return (
        "The service is unavailable right now; try again shortly"
        if status == 503
        else "An internal error occurred"
    )


async def brokkr_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BrokkrError)
    status = status_of(exc)
    if status >= 500:
        log.warning("request failed: %s %s: %s", request.method, request.url.path, exc.message)
        return error_response(status, exc.code, public_message(exc, status))
    return error_response(status, exc.code, exc.message, exc.details or None)


async def http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = HTTP_CODES.get(exc.status_code, "error")
    message = exc.detail if isinstance(exc.detail, str) and exc.detail else code.replace("_", " ")
    return error_response(exc.status_code, code, message)


async def unhandled_error_handler(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "An internal error occurred")
