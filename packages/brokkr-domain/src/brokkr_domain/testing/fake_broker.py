"""An in-memory broker as the agent sees it: the ``BrokerGateway`` port without HTTP or a database.

Tests script it (agents, the target state of each agent, pending work orders, diagnostic requests and
webhook deliveries) and assert on what the agent sent (events, health reports, heartbeats, completions,
results). The state machines are the domain's own rules (``rules.work_orders``, ``rules.diagnostics``), so a
claim of an order that is no longer pending fails as the real broker's would. ``outage = True`` makes every
call raise ``TransientError`` (``is_ready`` answers False), as an unreachable broker does through the HTTP
gateway.
"""

from __future__ import annotations

import functools
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import ParamSpec, TypeVar
from uuid import UUID

import attrs

from brokkr_domain.errors import NotFoundError, TransientError, UnauthorizedError, ValidationError
from brokkr_domain.model import (
    Actor,
    Agent,
    AgentEvent,
    AgentStatus,
    DeliveryOutcome,
    DeploymentObject,
    DiagnosticRequest,
    DiagnosticResult,
    DiagnosticStatus,
    PendingWebhookDelivery,
    WorkOrder,
    WorkOrderLog,
    WorkOrderStatus,
    WorkOrderTargeting,
)
from brokkr_domain.ports.broker_gateway import (
    DiagnosticReport,
    EventReport,
    HealthReport,
    RetryScheduled,
    WorkOrderCompletion,
)
from brokkr_domain.ports.system import Clock, SystemClock
from brokkr_domain.rules import diagnostics as diagnostic_rules
from brokkr_domain.rules import work_orders as work_order_rules

P = ParamSpec("P")
R = TypeVar("R")


@attrs.frozen(kw_only=True)
class CompletionCall:
    """One ``complete_work_order`` call as the agent made it."""

    order_id: UUID
    success: bool
    message: str | None
    retryable: bool


def _broker_call(method: Callable[P, R]) -> Callable[P, R]:
    """Serialise calls and fail them all while ``outage`` is set."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        self = args[0]
        assert isinstance(self, FakeBrokerGateway)
        with self._lock:
            self.calls.append(method.__name__)
            if self.outage:
                raise TransientError("broker unreachable (outage simulated)")
            return method(*args, **kwargs)

    return wrapper


class FakeBrokerGateway:
    """In-memory ``BrokerGateway``; every public attribute below is test-visible state."""

    def __init__(self, clock: Clock | None = None) -> None:
        self._lock = threading.RLock()
        self._clock: Clock = clock if clock is not None else SystemClock()
        self.outage = False
        self.calls: list[str] = []
        self.agents: dict[UUID, Agent] = {}
        self.pak_agent_id: UUID | None = None
        self.targets: dict[UUID, list[DeploymentObject]] = {}
        self.events: list[AgentEvent] = []
        self.health_reports: list[tuple[UUID, HealthReport]] = []
        self.heartbeats: list[tuple[UUID, datetime]] = []
        self.work_orders: dict[UUID, WorkOrder] = {}
        self.work_order_logs: dict[UUID, WorkOrderLog] = {}
        self.completion_calls: list[CompletionCall] = []
        self.diagnostics: dict[UUID, DiagnosticRequest] = {}
        self.diagnostic_results: dict[UUID, DiagnosticResult] = {}
        self.webhook_queue: dict[UUID, list[PendingWebhookDelivery]] = {}
        self.webhook_outcomes: list[tuple[UUID, DeliveryOutcome]] = []

    # ------------------------------------------------------------------------------------------ scripting

    def add_agent(
        self, *, name: str = "agent", cluster_name: str = "cluster", status: str = AgentStatus.ACTIVE.value
    ) -> Agent:
        """Register an agent; the first one is also who ``whoami`` answers for (the PAK's owner)."""
        now = self._clock.now()
        agent = Agent(
            id=uuid.uuid4(),
            name=name,
            cluster_name=cluster_name,
            status=status,
            created_at=now,
            updated_at=now,
        )
        with self._lock:
            self.agents[agent.id] = agent
            self.targets.setdefault(agent.id, [])
            if self.pak_agent_id is None:
                self.pak_agent_id = agent.id
        return agent

    def set_agent_status(self, agent_id: UUID, status: str) -> None:
        with self._lock:
            self.agents[agent_id] = attrs.evolve(self._agent(agent_id), status=status)

    def set_target_state(self, agent_id: UUID, objects: Iterable[DeploymentObject]) -> None:
        """What ``target_state(agent_id, full=True)`` returns from now on (newest first, like the broker)."""
        with self._lock:
            self.targets[agent_id] = sorted(objects, key=lambda obj: obj.sequence_id, reverse=True)

    def add_work_order(
        self,
        work_type: str,
        yaml_content: str,
        *,
        agent_ids: Iterable[UUID],
        max_retries: int | None = None,
        backoff_seconds: int | None = None,
    ) -> WorkOrder:
        order = work_order_rules.new_work_order(
            id=uuid.uuid4(),
            work_type=work_type,
            yaml_content=yaml_content,
            targeting=WorkOrderTargeting(agent_ids=frozenset(agent_ids)),
            now=self._clock.now(),
            max_retries=max_retries,
            backoff_seconds=backoff_seconds,
        )
        with self._lock:
            self.work_orders[order.id] = order
        return order

    def add_diagnostic_request(self, agent_id: UUID, deployment_object_id: UUID) -> DiagnosticRequest:
        request = diagnostic_rules.new_diagnostic_request(
            id=uuid.uuid4(),
            agent_id=agent_id,
            deployment_object_id=deployment_object_id,
            now=self._clock.now(),
        )
        with self._lock:
            self.diagnostics[request.id] = request
        return request

    def add_webhook(self, agent_id: UUID, delivery: PendingWebhookDelivery) -> None:
        with self._lock:
            self.webhook_queue.setdefault(agent_id, []).append(delivery)

    def events_for(self, deployment_object_id: UUID) -> list[AgentEvent]:
        with self._lock:
            return [event for event in self.events if event.deployment_object_id == deployment_object_id]

    # ------------------------------------------------------------------------------------------ the port

    def is_ready(self) -> bool:
        with self._lock:
            return not self.outage

    @_broker_call
    def whoami(self) -> Actor:
        if self.pak_agent_id is None:
            raise UnauthorizedError("no agent PAK configured in the fake broker")
        return Actor.agent(self.pak_agent_id)

    @_broker_call
    def find_agent(self, name: str, cluster_name: str) -> Agent:
        for agent in self.agents.values():
            if agent.name == name and agent.cluster_name == cluster_name:
                return agent
        raise NotFoundError(f"agent {name!r} in cluster {cluster_name!r} not found")

    @_broker_call
    def get_agent(self, agent_id: UUID) -> Agent:
        return self._agent(agent_id)

    @_broker_call
    def heartbeat(self, agent_id: UUID) -> None:
        now = self._clock.now()
        self.agents[agent_id] = attrs.evolve(self._agent(agent_id), last_heartbeat=now)
        self.heartbeats.append((agent_id, now))

    @_broker_call
    def target_state(self, agent_id: UUID, *, full: bool = True) -> list[DeploymentObject]:
        self._agent(agent_id)
        wanted = list(self.targets.get(agent_id, []))
        if full:
            return wanted
        succeeded = {e.deployment_object_id for e in self.events if e.agent_id == agent_id and e.succeeded}
        return [obj for obj in wanted if obj.id not in succeeded]

    @_broker_call
    def report_event(self, agent_id: UUID, report: EventReport) -> AgentEvent:
        self._agent(agent_id)
        if report.status.upper() not in ("SUCCESS", "FAILURE"):
            raise ValidationError(f"event status must be SUCCESS or FAILURE, got {report.status!r}")
        now = self._clock.now()
        event = AgentEvent(
            id=uuid.uuid4(),
            agent_id=agent_id,
            deployment_object_id=report.deployment_object_id,
            event_type=report.event_type,
            status=report.status,
            message=report.message,
            created_at=now,
            updated_at=now,
        )
        self.events.append(event)
        return event

    @_broker_call
    def report_health(self, agent_id: UUID, reports: Sequence[HealthReport]) -> None:
        self._agent(agent_id)
        self.health_reports.extend((agent_id, report) for report in reports)

    @_broker_call
    def pending_work_orders(self, agent_id: UUID, *, work_type: str | None = None) -> list[WorkOrder]:
        self._agent(agent_id)
        now = self._clock.now()
        for order_id, order in list(self.work_orders.items()):
            released = work_order_rules.release_due_retry(order, now)
            if released is not None:
                self.work_orders[order_id] = released
        return sorted(
            (
                order
                for order in self.work_orders.values()
                if order.status == WorkOrderStatus.PENDING
                and agent_id in order.targeting.agent_ids
                and (work_type is None or order.work_type == work_type)
            ),
            key=lambda order: order.created_at,
        )

    @_broker_call
    def claim_work_order(self, order_id: UUID, agent_id: UUID) -> WorkOrder:
        order = self.work_orders.get(order_id)
        if order is None or agent_id not in order.targeting.agent_ids:
            raise NotFoundError(f"work order {order_id} not found or not claimable")
        claimed = work_order_rules.claim(order, agent_id, self._clock.now())
        self.work_orders[order_id] = claimed
        return claimed

    @_broker_call
    def complete_work_order(
        self, order_id: UUID, *, success: bool, message: str | None, retryable: bool = True
    ) -> WorkOrderCompletion:
        self.completion_calls.append(
            CompletionCall(order_id=order_id, success=success, message=message, retryable=retryable)
        )
        order = self.work_orders.get(order_id)
        if order is None:
            raise NotFoundError(f"work order {order_id} not found")
        now = self._clock.now()
        result = (
            work_order_rules.complete_success(order, message, now)
            if success
            else work_order_rules.complete_failure(order, message, retryable, now)
        )
        if isinstance(result, WorkOrder):
            self.work_orders[order_id] = result
            return RetryScheduled()
        del self.work_orders[order_id]
        self.work_order_logs[order_id] = result
        return result

    @_broker_call
    def pending_diagnostics(self, agent_id: UUID) -> list[DiagnosticRequest]:
        now = self._clock.now()
        return [
            request
            for request in self.diagnostics.values()
            if request.agent_id == agent_id
            and request.status == DiagnosticStatus.PENDING
            and not diagnostic_rules.is_expired(request, now)
        ]

    @_broker_call
    def claim_diagnostic(self, request_id: UUID) -> DiagnosticRequest:
        request = self._diagnostic(request_id)
        claimed = diagnostic_rules.claim(request, self._clock.now())
        self.diagnostics[request_id] = claimed
        return claimed

    @_broker_call
    def submit_diagnostic(self, request_id: UUID, report: DiagnosticReport) -> DiagnosticResult:
        request = self._diagnostic(request_id)
        diagnostic_rules.validate_result(report.pod_statuses, report.events, report.log_tails)
        now = self._clock.now()
        self.diagnostics[request_id] = diagnostic_rules.complete(request, now)
        result = DiagnosticResult(
            id=uuid.uuid4(),
            request_id=request_id,
            pod_statuses=report.pod_statuses,
            events=report.events,
            log_tails=report.log_tails,
            collected_at=report.collected_at,
            created_at=now,
        )
        self.diagnostic_results[request_id] = result
        return result

    @_broker_call
    def pending_webhooks(self, agent_id: UUID) -> list[PendingWebhookDelivery]:
        """Hand out (and so claim) at most ten queued deliveries, as the broker does."""
        queue = self.webhook_queue.get(agent_id, [])
        handed, self.webhook_queue[agent_id] = queue[:10], queue[10:]
        return handed

    @_broker_call
    def report_webhook(self, delivery_id: UUID, outcome: DeliveryOutcome) -> None:
        self.webhook_outcomes.append((delivery_id, outcome))

    # ------------------------------------------------------------------------------------------ internals

    def _agent(self, agent_id: UUID) -> Agent:
        agent = self.agents.get(agent_id)
        if agent is None:
            raise NotFoundError(f"agent {agent_id} not found")
        return agent

    def _diagnostic(self, request_id: UUID) -> DiagnosticRequest:
        request = self.diagnostics.get(request_id)
        if request is None:
            raise NotFoundError(f"diagnostic request {request_id} not found")
        return request


__all__ = ["CompletionCall", "FakeBrokerGateway"]
