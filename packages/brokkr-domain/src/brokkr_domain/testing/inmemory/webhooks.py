"""In-memory webhook subscriptions and deliveries (with broker/agent routing)."""

from __future__ import annotations

import builtins
from collections.abc import Callable
from datetime import datetime
from uuid import UUID

import attrs

from brokkr_domain.model import DeliveryStatus, WebhookDelivery, WebhookSubscription
from brokkr_domain.ports.repositories import AgentTargetingFacts
from brokkr_domain.rules.targeting import is_agent_routed_to, is_broker_routed
from brokkr_domain.testing.inmemory import constraints as c
from brokkr_domain.testing.inmemory.store import Tx, missing, unique_violation


class InMemoryWebhookSubscriptionRepository:
    def __init__(self, tx: Tx) -> None:
        self._tx = tx

    def add(self, subscription: WebhookSubscription) -> WebhookSubscription:
        rows = self._tx.tables.webhook_subscriptions
        if subscription.id in rows:
            raise unique_violation(c.primary_key("webhook_subscriptions"))
        rows[subscription.id] = subscription
        return subscription

    def get(self, subscription_id: UUID) -> WebhookSubscription | None:
        return self._tx.tables.webhook_subscriptions.get(subscription_id)

    def list(self, *, enabled_only: bool = False) -> builtins.list[WebhookSubscription]:
        rows = [
            sub for sub in self._tx.tables.webhook_subscriptions.values() if sub.enabled or not enabled_only
        ]
        return sorted(rows, key=lambda sub: (sub.created_at, sub.id), reverse=True)

    def update(self, subscription: WebhookSubscription) -> WebhookSubscription:
        if subscription.id not in self._tx.tables.webhook_subscriptions:
            raise missing("webhook_subscription", subscription.id)
        self._tx.tables.webhook_subscriptions[subscription.id] = subscription
        return subscription

    def delete(self, subscription_id: UUID) -> bool:
        tables = self._tx.tables
        if tables.webhook_subscriptions.pop(subscription_id, None) is None:
            return False
        # ON DELETE CASCADE
        for delivery in list(tables.webhook_deliveries.values()):
            if delivery.subscription_id == subscription_id:
                del tables.webhook_deliveries[delivery.id]
        return True


class InMemoryWebhookDeliveryRepository:
    def __init__(self, tx: Tx) -> None:
        self._tx = tx

    def add(self, delivery: WebhookDelivery) -> WebhookDelivery:
        tables = self._tx.tables
        if delivery.id in tables.webhook_deliveries:
            raise unique_violation(c.primary_key("webhook_deliveries"))
        if delivery.subscription_id not in tables.webhook_subscriptions:
            raise missing("webhook_subscription", delivery.subscription_id)
        tables.webhook_deliveries[delivery.id] = delivery
        return delivery

    def get(self, delivery_id: UUID) -> WebhookDelivery | None:
        return self._tx.tables.webhook_deliveries.get(delivery_id)

    def list_for_subscription(
        self, subscription_id: UUID, *, status: str | None = None, limit: int = 50, offset: int = 0
    ) -> builtins.list[WebhookDelivery]:
        rows = [
            delivery
            for delivery in self._tx.tables.webhook_deliveries.values()
            if delivery.subscription_id == subscription_id and (status is None or delivery.status == status)
        ]
        rows.sort(key=lambda delivery: (delivery.created_at, delivery.id), reverse=True)
        start = max(offset, 0)
        return rows[start : start + max(limit, 0)]

    def _claim(
        self,
        routed: Callable[[WebhookDelivery], bool],
        acquired_by: UUID | None,
        limit: int,
        until: datetime,
        per_subscription: int | None = None,
    ) -> builtins.list[WebhookDelivery]:
        rows = self._tx.tables.webhook_deliveries
        pending = sorted(
            (d for d in rows.values() if d.status == DeliveryStatus.PENDING and routed(d)),
            key=lambda delivery: (delivery.created_at, delivery.id),
        )
        taken: dict[UUID, int] = {}
        candidates: builtins.list[WebhookDelivery] = []
        for delivery in pending:
            if len(candidates) >= max(limit, 0):
                break
            if per_subscription is not None and taken.get(delivery.subscription_id, 0) >= per_subscription:
                continue
            taken[delivery.subscription_id] = taken.get(delivery.subscription_id, 0) + 1
            candidates.append(delivery)
        claimed = []
        for delivery in candidates:
            acquired = attrs.evolve(
                delivery, status=DeliveryStatus.ACQUIRED, acquired_by=acquired_by, acquired_until=until
            )
            rows[delivery.id] = acquired
            claimed.append(acquired)
        return claimed

    def claim_for_broker(
        self,
        now: datetime,
        limit: int,
        acquired_until: datetime,
        *,
        per_subscription: int | None = None,
        skip_subscriptions: frozenset[UUID] = frozenset(),
    ) -> builtins.list[WebhookDelivery]:
        del now  # pending deliveries are due by definition (failed ones come back through requeue_due)
        return self._claim(
            lambda d: is_broker_routed(d.target_labels) and d.subscription_id not in skip_subscriptions,
            None,
            limit,
            acquired_until,
            per_subscription,
        )

    def claim_for_agent(
        self, agent: AgentTargetingFacts, now: datetime, limit: int, acquired_until: datetime
    ) -> builtins.list[WebhookDelivery]:
        del now
        return self._claim(
            lambda d: is_agent_routed_to(d.target_labels, agent.labels), agent.agent_id, limit, acquired_until
        )

    def release_expired(self, now: datetime) -> int:
        rows = self._tx.tables.webhook_deliveries
        expired = [
            d
            for d in rows.values()
            if d.status == DeliveryStatus.ACQUIRED and d.acquired_until is not None and d.acquired_until < now
        ]
        for delivery in expired:
            rows[delivery.id] = attrs.evolve(
                delivery, status=DeliveryStatus.PENDING, acquired_by=None, acquired_until=None
            )
        return len(expired)

    def requeue_due(self, now: datetime) -> int:
        rows = self._tx.tables.webhook_deliveries
        due = [
            d
            for d in rows.values()
            if d.status == DeliveryStatus.FAILED and d.next_retry_at is not None and d.next_retry_at <= now
        ]
        for delivery in due:
            rows[delivery.id] = attrs.evolve(
                delivery, status=DeliveryStatus.PENDING, acquired_by=None, acquired_until=None
            )
        return len(due)

    def update(self, delivery: WebhookDelivery) -> WebhookDelivery:
        if delivery.id not in self._tx.tables.webhook_deliveries:
            raise missing("webhook_delivery", delivery.id)
        self._tx.tables.webhook_deliveries[delivery.id] = delivery
        return delivery

    def delete_finished_before(self, cutoff: datetime) -> int:
        rows = self._tx.tables.webhook_deliveries
        finished = (DeliveryStatus.SUCCESS, DeliveryStatus.DEAD)
        doomed = [d.id for d in rows.values() if d.status in finished and d.created_at < cutoff]
        for delivery_id in doomed:
            del rows[delivery_id]
        return len(doomed)


__all__ = ["InMemoryWebhookDeliveryRepository", "InMemoryWebhookSubscriptionRepository"]
