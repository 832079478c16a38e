"""Diagnostic requests: creation rules, the pending → claimed → completed machine, expiry, result checks.

A request is short-lived by design (it asks one agent for a snapshot of pods, events and logs), so it
carries an ``expires_at``: a pending request nobody claimed in time expires rather than being answered
about a cluster state that is long gone. A claimed request does not expire; the retention task removes it
with the finished ones.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import NoReturn
from uuid import UUID

import attrs

from brokkr_domain.errors import ConflictError, ValidationError
from brokkr_domain.model import DiagnosticRequest, DiagnosticStatus

DEFAULT_RETENTION_MINUTES = 60
MIN_RETENTION_MINUTES = 1
MAX_RETENTION_MINUTES = 1440  # one day
MAX_REQUESTED_BY_LENGTH = 255  # the column is VARCHAR(255)
MAX_RESULT_BYTES = 4 * 1024 * 1024  # pod statuses + events + log tails together, UTF-8 encoded


def new_diagnostic_request(
    *,
    id: UUID,
    agent_id: UUID,
    deployment_object_id: UUID,
    now: datetime,
    requested_by: str | None = None,
    retention_minutes: int | None = None,
) -> DiagnosticRequest:
    """A pending request that expires ``retention_minutes`` (default 60, 1..1440) from ``now``.

    Raises ``ValidationError`` with code ``invalid_diagnostic_request``. A blank ``requested_by`` is stored
    as None.
    """
    retention = DEFAULT_RETENTION_MINUTES if retention_minutes is None else retention_minutes
    if isinstance(retention, bool) or not MIN_RETENTION_MINUTES <= retention <= MAX_RETENTION_MINUTES:
        raise ValidationError(
            f"retention_minutes must be between {MIN_RETENTION_MINUTES} and {MAX_RETENTION_MINUTES}, "
            f"got {retention!r}",
            code="invalid_diagnostic_request",
            details={"field": "retention_minutes"},
        )
    if requested_by is not None and len(requested_by) > MAX_REQUESTED_BY_LENGTH:
        raise ValidationError(
            f"requested_by must be at most {MAX_REQUESTED_BY_LENGTH} characters",
            code="invalid_diagnostic_request",
            details={"field": "requested_by"},
        )
    return DiagnosticRequest(
        id=id,
        agent_id=agent_id,
        deployment_object_id=deployment_object_id,
        status=DiagnosticStatus.PENDING,
        requested_by=requested_by if requested_by and requested_by.strip() else None,
        created_at=now,
        expires_at=now + timedelta(minutes=retention),
    )


def is_expired(request: DiagnosticRequest, now: datetime) -> bool:
    """A pending request is expired from ``expires_at`` on (the pending list shows ``expires_at > now``)."""
    return request.status == DiagnosticStatus.PENDING and request.expires_at <= now


def claim(request: DiagnosticRequest, now: datetime) -> DiagnosticRequest:
    """pending and unexpired → claimed.

    Anything else raises ``ConflictError`` with code ``diagnostic_already_claimed`` (the wire contract's one
    409 for claims), with the actual status in the details and the message.
    """
    if request.status != DiagnosticStatus.PENDING:
        raise ConflictError(
            f"diagnostic request {request.id} is {request.status}, not pending",
            code="diagnostic_already_claimed",
            details={"status": str(request.status)},
        )
    if is_expired(request, now):
        raise ConflictError(
            f"diagnostic request {request.id} expired at {request.expires_at.isoformat()}",
            code="diagnostic_already_claimed",
            details={"status": str(DiagnosticStatus.EXPIRED)},
        )
    return attrs.evolve(request, status=DiagnosticStatus.CLAIMED, claimed_at=now)


def complete(request: DiagnosticRequest, now: datetime) -> DiagnosticRequest:
    """claimed → completed; anything else raises ``ConflictError`` with code ``diagnostic_not_claimed``."""
    if request.status != DiagnosticStatus.CLAIMED:
        raise ConflictError(
            f"diagnostic request {request.id} is {request.status}, not claimed",
            code="diagnostic_not_claimed",
            details={"status": str(request.status)},
        )
    return attrs.evolve(request, status=DiagnosticStatus.COMPLETED, completed_at=now)


def expire_if_due(request: DiagnosticRequest, now: datetime) -> DiagnosticRequest | None:
    """A pending request past its ``expires_at`` → expired; ``None`` when there is nothing to do."""
    if not is_expired(request, now):
        return None
    return attrs.evolve(request, status=DiagnosticStatus.EXPIRED)


def _bad_result(field: str, problem: str) -> NoReturn:
    raise ValidationError(f"{field} {problem}", code="invalid_diagnostic_result", details={"field": field})


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _utf8_size(field: str, text: str) -> int:
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:  # lone surrogates: no database can store them
        _bad_result(field, "must be valid Unicode text")


def _check_json(field: str, text: str) -> None:
    if not text.strip():
        _bad_result(field, "must not be empty")
    try:
        json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:  # JSONDecodeError and the NaN/Infinity rejection
        _bad_result(field, f"must be valid JSON: {exc}")


def validate_result(pod_statuses: str, events: str, log_tails: str | None) -> None:
    """Check a submitted result: each part non-empty, valid JSON, all together at most 4 MiB of UTF-8.

    The wire carries the parts as JSON *strings* that readers parse again; storing garbage would only
    move the error to whoever reads the diagnostic. ``NaN``/``Infinity`` are rejected: Python's parser
    accepts them, JSON does not. Raises ``ValidationError`` with code ``invalid_diagnostic_result``.
    """
    parts = {"pod_statuses": pod_statuses, "events": events}
    if log_tails is not None:
        parts["log_tails"] = log_tails
    size = sum(_utf8_size(field, text) for field, text in parts.items())
    if size > MAX_RESULT_BYTES:
        _bad_result("result", f"is {size} bytes, more than the {MAX_RESULT_BYTES} allowed")
    for field, text in parts.items():
        _check_json(field, text)


__all__ = [
    "DEFAULT_RETENTION_MINUTES",
    "MAX_REQUESTED_BY_LENGTH",
    "MAX_RESULT_BYTES",
    "MAX_RETENTION_MINUTES",
    "MIN_RETENTION_MINUTES",
    "claim",
    "complete",
    "expire_if_due",
    "is_expired",
    "new_diagnostic_request",
    "validate_result",
]
