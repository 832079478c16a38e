"""Helpers shared by the use-case tests that check which webhook deliveries an operation emits."""

from __future__ import annotations

from uuid import UUID

from brokkr_domain.model import WebhookDelivery, WebhookFilters
from brokkr_domain.testing import builders as b
from brokkr_domain.usecases.context import Services


def subscribe(
    s: Services, *patterns: str, filters: WebhookFilters | None = None, enabled: bool = True
) -> UUID:
    """Store a subscription to ``patterns`` (with optional filters) and return its id."""
    with s.uow() as uow:
        sub = uow.webhooks.add(
            b.subscription(
                s.clock.now(), id=s.ids.new_id(), event_types=patterns, filters=filters, enabled=enabled
            )
        )
        uow.commit()
    return sub.id


def deliveries(s: Services, sub_id: UUID) -> list[WebhookDelivery]:
    """The deliveries queued for one subscription."""
    with s.uow() as uow:
        return uow.deliveries.list_for_subscription(sub_id)
