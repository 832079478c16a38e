"""Work orders on the agent side: run one order by its type and tell the broker how it went.

Everything here is synchronous and keeps no state between orders, so the agent app can run several orders on
worker threads (contract decision 11: off the main loop, bounded) while heartbeats and reconciliation go on.
Waiting (a build follows its BuildRun for up to 15 minutes) goes through the injected ``sleep`` and ``clock``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import NamedTuple
from uuid import UUID

from brokkr_domain.agent._batch import describe
from brokkr_domain.agent.shipwright import BuildRunner
from brokkr_domain.errors import ConflictError, ForbiddenError, NotFoundError, TransientError
from brokkr_domain.manifests import order_for_apply, parse_manifests
from brokkr_domain.model import WorkOrder
from brokkr_domain.ports.broker_gateway import BrokerGateway, WorkOrderCompletion
from brokkr_domain.ports.cluster import Cluster
from brokkr_domain.ports.system import Clock
from brokkr_domain.rules.work_orders import NON_RETRYABLE_PATTERNS, classify_error_retryable

Handler = Callable[[WorkOrder], str]


class Execution(NamedTuple):
    """How one execution ended: what to send to ``complete_work_order``."""

    success: bool
    message: str
    retryable: bool


class WorkOrderRunner:
    """Dispatches orders by ``work_type`` to handlers: ``custom`` and ``build`` built in, others added."""

    def __init__(
        self,
        cluster: Cluster,
        *,
        clock: Clock,
        sleep: Callable[[float], None],
        poll_interval_seconds: float = 5.0,
        build_timeout_seconds: float = 900.0,
        extra_handlers: Mapping[str, Handler] | None = None,
    ) -> None:
        self._cluster = cluster
        builds = BuildRunner(
            cluster,
            clock=clock,
            sleep=sleep,
            poll_interval_seconds=poll_interval_seconds,
            timeout_seconds=build_timeout_seconds,
        )
        self._handlers: dict[str, Handler] = {"custom": self.run_custom, "build": builds.run}
        self._handlers.update(extra_handlers or {})

    @property
    def work_types(self) -> frozenset[str]:
        return frozenset(self._handlers)

    def execute(self, order: WorkOrder) -> Execution:
        """Run the order; never raises. Failures carry whether a retry may help.

        Retryability is judged from the error text (``classify_error_retryable``), except that an unknown work
        type is final and a ``TransientError`` (the cluster was overloaded or unreachable) is retryable unless
        its text names a permanent problem.
        """
        handler = self._handlers.get(order.work_type)
        if handler is None:
            return Execution(False, f"Unknown work type: {order.work_type}", False)
        try:
            return Execution(True, handler(order), False)
        except Exception as exc:  # the order fails, the agent goes on
            message = describe(exc)
            retryable = classify_error_retryable(message)
            if isinstance(exc, TransientError) and not _names_permanent_problem(message):
                retryable = True
            return Execution(False, message, retryable)

    def run_custom(self, order: WorkOrder) -> str:
        """Apply every object of the YAML as is: no ownership marks, no pruning (the order owns nothing)."""
        objects = order_for_apply(parse_manifests(order.yaml_content))
        for obj in objects:
            self._cluster.apply(obj)
        return f"Successfully applied {len(objects)} resource(s)"


def _names_permanent_problem(message: str) -> bool:
    """Whether the text itself says "do not retry" (not found, forbidden, invalid ...), whatever raised it."""
    lowered = message.lower()
    return any(pattern in lowered for pattern in NON_RETRYABLE_PATTERNS)


def process_work_order(
    gateway: BrokerGateway, runner: WorkOrderRunner, agent_id: UUID, order: WorkOrder
) -> WorkOrderCompletion | None:
    """Claim, execute, complete. ``None`` when the claim is refused (another agent was faster, 404/409/403).

    The completion is a ``WorkOrderLog`` when the order is finished, ``RetryScheduled`` when the broker will
    hand it out again later. Broker errors on completion propagate; the broker's claim timeout then returns
    the order to the queue (counted as an attempt).
    """
    try:
        claimed = gateway.claim_work_order(order.id, agent_id)
    except (NotFoundError, ConflictError, ForbiddenError):
        return None
    outcome = runner.execute(claimed)
    return gateway.complete_work_order(
        claimed.id, success=outcome.success, message=outcome.message, retryable=outcome.retryable
    )


__all__ = ["Execution", "Handler", "WorkOrderRunner", "process_work_order"]
