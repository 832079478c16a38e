"""The agent's view of the broker: every agent-side operation of the REST contract."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol
from uuid import UUID

import attrs

from brokkr_domain.model import (
    Actor,
    Agent,
    AgentEvent,
    DeliveryOutcome,
    DeploymentObject,
    DiagnosticRequest,
    DiagnosticResult,
    HealthStatus,
    HealthSummary,
    PendingWebhookDelivery,
    WorkOrder,
    WorkOrderLog,
)


@attrs.frozen(kw_only=True)
class EventReport:
    deployment_object_id: UUID
    event_type: str
    status: str  # SUCCESS | FAILURE
    message: str | None = None


@attrs.frozen(kw_only=True)
class HealthReport:
    deployment_object_id: UUID
    status: HealthStatus
    summary: HealthSummary | None
    checked_at: datetime


@attrs.frozen(kw_only=True)
class DiagnosticReport:
    pod_statuses: str
    events: str
    log_tails: str | None
    collected_at: datetime


@attrs.frozen(kw_only=True)
class RetryScheduled:
    """The broker's answer when a failed work order will run again later (HTTP 202)."""


WorkOrderCompletion = WorkOrderLog | RetryScheduled


class BrokerGateway(Protocol):
    """Errors: ``UnauthorizedError`` (bad PAK), ``ForbiddenError``, ``NotFoundError``, ``ConflictError`` as the
    broker answers; ``TransientError`` when the broker is unreachable or overloaded after the gateway's retries."""

    def is_ready(self) -> bool: ...
    def whoami(self) -> Actor: ...
    def find_agent(self, name: str, cluster_name: str) -> Agent: ...
    def get_agent(self, agent_id: UUID) -> Agent: ...
    def heartbeat(self, agent_id: UUID) -> None: ...
    def target_state(self, agent_id: UUID, *, full: bool = True) -> list[DeploymentObject]: ...
    def report_event(self, agent_id: UUID, report: EventReport) -> AgentEvent: ...
    def report_health(self, agent_id: UUID, reports: Sequence[HealthReport]) -> None: ...
    def pending_work_orders(self, agent_id: UUID, *, work_type: str | None = None) -> list[WorkOrder]: ...
    def claim_work_order(self, order_id: UUID, agent_id: UUID) -> WorkOrder: ...
    def complete_work_order(
        self, order_id: UUID, *, success: bool, message: str | None, retryable: bool = True
    ) -> WorkOrderCompletion: ...
    def pending_diagnostics(self, agent_id: UUID) -> list[DiagnosticRequest]: ...
    def claim_diagnostic(self, request_id: UUID) -> DiagnosticRequest: ...
    def submit_diagnostic(self, request_id: UUID, report: DiagnosticReport) -> DiagnosticResult: ...
    def pending_webhooks(self, agent_id: UUID) -> list[PendingWebhookDelivery]: ...
    def report_webhook(self, delivery_id: UUID, outcome: DeliveryOutcome) -> None: ...
