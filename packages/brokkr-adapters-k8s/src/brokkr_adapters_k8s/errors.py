"""Kubernetes failures as Brokkr domain errors.

The API server explains every refusal in a ``Status`` body (``message``, ``reason``, ``details.causes``).
That text is what a person needs to fix a manifest, so it is kept verbatim in the domain error's message and
the structured parts go to ``details``. The mapping is by HTTP code, as the port promises:

====================  =====================================================
400 BadRequest         ``ValidationError`` (malformed object, bad selector)
401, 403               ``ForbiddenError`` (the agent's credentials or RBAC)
404 NotFound           ``NotFoundError`` (call sites turn it into None/False)
405, 415, 422, other   ``ValidationError`` (the object cannot be written so)
409 Conflict           ``ConflictError``
5xx not retried        ``TransientError``
====================  =====================================================
"""

from __future__ import annotations

import json
from typing import Any

from brokkr_domain.errors import (
    BrokkrError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    TransientError,
    ValidationError,
)


class StatusReport:
    """What a non-2xx answer said: HTTP code, ``reason``, message and details of the ``Status`` body."""

    __slots__ = ("code", "details", "message", "reason")

    def __init__(self, code: int, reason: str | None, message: str, details: dict[str, Any]) -> None:
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    @classmethod
    def parse(cls, code: int, body: bytes, http_reason: str | None = None) -> StatusReport:
        """Read a ``Status`` body; anything else (a proxy's HTML page, nothing) is kept as text."""
        text = body.decode("utf-8", "replace").strip()
        try:
            doc = json.loads(text) if text else None
        except ValueError:
            doc = None
        if isinstance(doc, dict) and doc.get("kind") == "Status":
            message = str(doc.get("message") or "").strip()
            reason = doc.get("reason") if isinstance(doc.get("reason"), str) else None
            raw_details = doc.get("details")
            details: dict[str, Any] = raw_details if isinstance(raw_details, dict) else {}
            return cls(code, reason, message or f"HTTP {code} {reason or http_reason or ''}".strip(), details)
        snippet = " ".join(text.split())[:300]
        return cls(code, http_reason, snippet or f"HTTP {code} {http_reason or ''}".strip(), {})

    @property
    def causes(self) -> list[dict[str, Any]]:
        causes = self.details.get("causes")
        return [c for c in causes if isinstance(c, dict)] if isinstance(causes, list) else []

    @property
    def names_a_resource_type_only(self) -> bool:
        """A 404 about the URL itself (no such resource type), not about a named object or namespace.

        The API server answers ``the server could not find the requested resource`` with empty details when
        a kind is no longer served, e.g. after its CRD was deleted while discovery was cached.
        """
        return self.code == 404 and not self.details.get("name")

    def full_message(self) -> str:
        """The server's message, plus any cause it did not already spell out."""
        extra = [
            f"{c.get('field')}: {c.get('message')}" if c.get("field") else str(c.get("message"))
            for c in self.causes
            if c.get("message") and str(c.get("message")) not in self.message
        ]
        return self.message if not extra else f"{self.message} ({'; '.join(extra)})"

    def domain_details(self) -> dict[str, object]:
        details: dict[str, object] = {"status": self.code}
        if self.reason:
            details["reason"] = self.reason
        for key in ("name", "group", "kind"):
            if isinstance(self.details.get(key), str):
                details[key] = self.details[key]
        if self.causes:
            details["causes"] = self.causes
        return details


def domain_error(report: StatusReport, what: str) -> BrokkrError:
    """The domain error for a final (not retried) failure of ``what`` (e.g. ``apply ConfigMap/default/x``)."""
    message = report.full_message()
    details = dict(report.domain_details(), operation=what)
    code = report.code
    if code in (401, 403):
        verb = "is not authenticated" if code == 401 else "is forbidden"
        return ForbiddenError(f"{what} {verb} by the Kubernetes API server: {message}", details=details)
    if code == 404:
        return NotFoundError(message, details=details)
    if code == 409:
        return ConflictError(message, details=details)
    if code >= 500:
        return TransientError(f"{what}: the Kubernetes API server failed: {message}", details=details)
    return ValidationError(message, details=details)


__all__ = ["StatusReport", "domain_error"]
