"""Webhook event emission: one delivery row per matching subscription, written in the caller's unit of work.

Writing deliveries in the same transaction as the change that caused them means an event exists if and only if
its change committed (no lost or phantom events).
"""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from brokkr_domain.model import DeliveryStatus, EventType, WebhookDelivery, WebhookEvent
from brokkr_domain.ports import UnitOfWork
from brokkr_domain.rules.webhooks import EventContext, subscription_wants
from brokkr_domain.usecases.context import Services


def event_payload(event: WebhookEvent) -> str:
    """The JSON envelope POSTed to receivers (stable for retries)."""
    return json.dumps(
        {
            "id": str(event.id),
            "event_type": event.event_type,
            "timestamp": event.timestamp.isoformat().replace("+00:00", "Z"),
            "data": event.data,
        },
        default=_json_default,
        separators=(",", ":"),
    )


def _json_default(value: object) -> Any:
    if isinstance(value, UUID):
        return str(value)
    iso = getattr(value, "isoformat", None)
    if callable(iso):
        return str(iso()).replace("+00:00", "Z")
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def emit(
    uow: UnitOfWork,
    services: Services,
    event_type: EventType,
    data: dict[str, Any],
    context: EventContext | None = None,
) -> WebhookEvent:
    """Create the event and a pending delivery for every enabled subscription that wants it."""
    now = services.clock.now()
    event = WebhookEvent(id=services.ids.new_id(), event_type=event_type.value, timestamp=now, data=data)
    payload = event_payload(event)
    ctx = context or EventContext()
    for sub in uow.webhooks.list(enabled_only=True):
        if not subscription_wants(sub, event.event_type, ctx):
            continue
        uow.deliveries.add(
            WebhookDelivery(
                id=services.ids.new_id(),
                subscription_id=sub.id,
                event_type=event.event_type,
                event_id=event.id,
                payload=payload,
                target_labels=sub.target_labels,
                status=DeliveryStatus.PENDING,
                created_at=now,
            )
        )
    return event


__all__ = ["EventContext", "emit", "event_payload"]
