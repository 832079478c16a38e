"""Work orders (jobs dispatched to agents) and their log of finished executions."""

from __future__ import annotations

import enum
from datetime import datetime
from uuid import UUID

import attrs


class WorkOrderStatus(enum.StrEnum):
    PENDING = "PENDING"
    CLAIMED = "CLAIMED"
    RETRY_PENDING = "RETRY_PENDING"
    # Only synthesised for orders that have moved to the log.
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


@attrs.frozen(kw_only=True)
class WorkOrderTargeting:
    """Who may run an order: explicit agents ∪ any shared label ∪ any shared exact annotation pair."""

    agent_ids: frozenset[UUID] = frozenset()
    labels: frozenset[str] = frozenset()
    annotations: frozenset[tuple[str, str]] = frozenset()

    @property
    def is_empty(self) -> bool:
        return not (self.agent_ids or self.labels or self.annotations)


@attrs.frozen(kw_only=True)
class WorkOrder:
    id: UUID
    work_type: str
    yaml_content: str
    status: WorkOrderStatus = WorkOrderStatus.PENDING
    claimed_by: UUID | None = None
    claimed_at: datetime | None = None
    claim_timeout_seconds: int = 3600
    max_retries: int = 3
    retry_count: int = 0
    backoff_seconds: int = 60
    next_retry_after: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    targeting: WorkOrderTargeting = WorkOrderTargeting()
    created_at: datetime
    updated_at: datetime


@attrs.frozen(kw_only=True)
class WorkOrderLog:
    """A finished work order; ``id`` is the original order's id."""

    id: UUID
    work_type: str
    created_at: datetime
    claimed_at: datetime | None = None
    completed_at: datetime
    claimed_by: UUID | None = None
    success: bool
    retries_attempted: int = 0
    result_message: str | None = None
    yaml_content: str
