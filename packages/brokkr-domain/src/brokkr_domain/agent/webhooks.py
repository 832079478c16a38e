"""Webhook deliveries routed to this agent (subscriptions with target labels): POST each, report each.

Each POST is made by ``webhook_posting.post_delivery``, as the broker makes its own (contract decision 8), so
receivers cannot tell the two paths apart.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from uuid import UUID

import attrs

from brokkr_domain.errors import BrokkrError, TransientError
from brokkr_domain.model import DeliveryOutcome, PendingWebhookDelivery
from brokkr_domain.ports.broker_gateway import BrokerGateway
from brokkr_domain.ports.http_sender import WebhookSender
from brokkr_domain.ports.system import Clock
from brokkr_domain.webhook_posting import post_delivery

PARALLEL_DELIVERIES = 10  # as many as the broker hands out per fetch


@attrs.frozen(kw_only=True)
class DeliveryAttempt:
    delivery_id: UUID
    outcome: DeliveryOutcome
    reported: bool


def deliver_pending_webhooks(
    gateway: BrokerGateway,
    sender: WebhookSender,
    agent_id: UUID,
    clock: Clock,
    *,
    parallel: int = PARALLEL_DELIVERIES,
) -> list[DeliveryAttempt]:
    """Fetch this agent's pending deliveries (fetching claims them), deliver and report each.

    Up to ``parallel`` deliveries are sent side by side, each reported as soon as its POST ends: a slow
    receiver delays neither another receiver nor another delivery's report, so every report arrives within
    its own lease (its subscription's timeout plus a margin). A report the broker refuses is skipped (the claim
    expires and the delivery is retried: at least once). When the broker could not be reached for a report,
    the other reports are still tried and the first ``TransientError`` is raised after the batch.
    """
    batch = gateway.pending_webhooks(agent_id)
    if not batch:
        return []

    def deliver_and_report(delivery: PendingWebhookDelivery) -> tuple[DeliveryAttempt, TransientError | None]:
        outcome = post_delivery(sender, delivery, clock.now())
        try:
            gateway.report_webhook(delivery.id, outcome)
        except TransientError as exc:
            return DeliveryAttempt(delivery_id=delivery.id, outcome=outcome, reported=False), exc
        except BrokkrError:
            return DeliveryAttempt(delivery_id=delivery.id, outcome=outcome, reported=False), None
        return DeliveryAttempt(delivery_id=delivery.id, outcome=outcome, reported=True), None

    with ThreadPoolExecutor(max(1, min(parallel, len(batch))), thread_name_prefix="webhook") as pool:
        results = list(pool.map(deliver_and_report, batch))
    unreachable = next((exc for _, exc in results if exc is not None), None)
    if unreachable is not None:
        raise unreachable
    return [attempt for attempt, _ in results]


__all__ = ["PARALLEL_DELIVERIES", "DeliveryAttempt", "deliver_pending_webhooks"]
