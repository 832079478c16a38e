"""Agent-side use cases: pure orchestration over the ``Cluster`` and ``BrokerGateway`` ports.

No I/O and no threads of their own: the agent app owns the loop, the timers and the worker pool, and calls
these functions (each safe to call from a worker thread) with its adapters.
"""

from brokkr_domain.agent.diagnostics import collect_diagnostics, process_pending_diagnostics
from brokkr_domain.agent.health import collect_health, health_tick
from brokkr_domain.agent.heartbeat import heartbeat_tick
from brokkr_domain.agent.reconcile import Reconciler, TickReport, backoff_delay
from brokkr_domain.agent.shipwright import BuildRunner
from brokkr_domain.agent.webhooks import DeliveryAttempt, deliver_pending_webhooks
from brokkr_domain.agent.work_orders import Execution, WorkOrderRunner, process_work_order

__all__ = [
    "BuildRunner",
    "DeliveryAttempt",
    "Execution",
    "Reconciler",
    "TickReport",
    "WorkOrderRunner",
    "backoff_delay",
    "collect_diagnostics",
    "collect_health",
    "deliver_pending_webhooks",
    "health_tick",
    "heartbeat_tick",
    "process_pending_diagnostics",
    "process_work_order",
]
