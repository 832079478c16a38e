"""Webhook deliveries routed to this agent (subscriptions with target labels): POST each, report each.

The headers and the signature are built by the same rule as the broker's own deliveries
(``rules.webhooks.delivery_headers``, contract decision 8), so receivers cannot tell the two paths apart.
"""

from __future__ import annotations

from uuid import UUID

import attrs

from brokkr_domain.errors import BrokkrError, TransientError
from brokkr_domain.model import DeliveryOutcome, PendingWebhookDelivery
from brokkr_domain.ports.broker_gateway import BrokerGateway
from brokkr_domain.ports.http_sender import WebhookSender
from brokkr_domain.ports.system import Clock
from brokkr_domain.rules.webhooks import delivery_headers


@attrs.frozen(kw_only=True)
class DeliveryAttempt:
    delivery_id: UUID
    outcome: DeliveryOutcome
    reported: bool


def deliver_one(sender: WebhookSender, delivery: PendingWebhookDelivery, clock: Clock) -> DeliveryOutcome:
    """POST one delivery; a sender that breaks its no-raise promise still yields a failed outcome."""
    body = delivery.payload.encode("utf-8")
    headers = delivery_headers(
        event_type=delivery.event_type,
        delivery_id=delivery.id,
        auth_header=delivery.auth_header,
        signing_secret=delivery.signing_secret,
        payload=body,
        timestamp=clock.now(),
    )
    try:
        return sender.post(delivery.url, body, headers, float(delivery.timeout_seconds))
    except Exception as exc:  # one broken receiver must not stop the batch
        return DeliveryOutcome(success=False, error=f"Request error: {type(exc).__name__}: {exc}")


def deliver_pending_webhooks(
    gateway: BrokerGateway, sender: WebhookSender, agent_id: UUID, clock: Clock
) -> list[DeliveryAttempt]:
    """Fetch this agent's pending deliveries (fetching claims them), deliver and report each.

    A report the broker refuses is skipped (the claim expires and the delivery is retried: at least once);
    ``TransientError`` stops the batch, since the remaining reports could not be delivered either.
    """
    attempts: list[DeliveryAttempt] = []
    for delivery in gateway.pending_webhooks(agent_id):
        outcome = deliver_one(sender, delivery, clock)
        try:
            gateway.report_webhook(delivery.id, outcome)
        except TransientError:
            raise
        except BrokkrError:
            attempts.append(DeliveryAttempt(delivery_id=delivery.id, outcome=outcome, reported=False))
            continue
        attempts.append(DeliveryAttempt(delivery_id=delivery.id, outcome=outcome, reported=True))
    return attempts


__all__ = ["DeliveryAttempt", "deliver_one", "deliver_pending_webhooks"]
