"""On-demand diagnostics: a request for one agent about one deployment object, and its collected result."""

from __future__ import annotations

import enum
from datetime import datetime
from uuid import UUID

import attrs


class DiagnosticStatus(enum.StrEnum):
    PENDING = "pending"
    CLAIMED = "claimed"
    COMPLETED = "completed"
    FAILED = "failed"
    EXPIRED = "expired"


@attrs.frozen(kw_only=True)
class DiagnosticRequest:
    id: UUID
    agent_id: UUID
    deployment_object_id: UUID
    status: DiagnosticStatus = DiagnosticStatus.PENDING
    requested_by: str | None = None
    created_at: datetime
    claimed_at: datetime | None = None
    completed_at: datetime | None = None
    expires_at: datetime


@attrs.frozen(kw_only=True)
class DiagnosticResult:
    """Collected data, each a JSON document as text (the wire format keeps them as strings)."""

    id: UUID
    request_id: UUID
    pod_statuses: str
    events: str
    log_tails: str | None = None
    collected_at: datetime
    created_at: datetime
