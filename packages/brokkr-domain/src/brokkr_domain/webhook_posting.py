"""The one POST of a webhook delivery, made the same way by the broker and by agents (contract decision 8).

Headers and signature come from ``rules.webhooks.delivery_headers``; the body is the stored payload, byte for
byte; the timeout is the subscription's. Receivers cannot tell the two delivery paths apart.
"""

from __future__ import annotations

from datetime import datetime

from brokkr_domain.model import DeliveryOutcome, PendingWebhookDelivery
from brokkr_domain.ports.http_sender import WebhookSender
from brokkr_domain.rules.webhooks import delivery_headers


def post_delivery(sender: WebhookSender, delivery: PendingWebhookDelivery, at: datetime) -> DeliveryOutcome:
    """POST one delivery signed at ``at``; a sender that breaks its no-raise promise still yields a failed
    outcome (one broken receiver must not stop the others)."""
    body = delivery.payload.encode("utf-8")
    headers = delivery_headers(
        event_type=delivery.event_type,
        delivery_id=delivery.id,
        auth_header=delivery.auth_header,
        signing_secret=delivery.signing_secret,
        payload=body,
        timestamp=at,
    )
    try:
        return sender.post(delivery.url, body, headers, float(delivery.timeout_seconds))
    except Exception as exc:
        return DeliveryOutcome(success=False, error=f"Request error: {type(exc).__name__}: {exc}")


__all__ = ["post_delivery"]
