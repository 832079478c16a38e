"""Webhook subscriptions (secrets encrypted at rest) and deliveries with replica-safe batch claims.

A batch claim picks the oldest pending rows with ``FOR UPDATE SKIP LOCKED`` in a CTE and marks them acquired
in the same statement, so two brokers (or agents) polling together split the batch: a delivery is never
handed out twice while its acquisition is valid.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, Connection, and_, delete, func, insert, literal, or_, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import Text

from brokkr_adapters_postgres import mappers as m
from brokkr_adapters_postgres.repositories._base import SqlRepository, missing
from brokkr_adapters_postgres.tables import webhook_deliveries, webhook_subscriptions
from brokkr_domain.model import DeliveryStatus, WebhookDelivery, WebhookSubscription
from brokkr_domain.ports import SecretCipher
from brokkr_domain.ports.repositories import AgentTargetingFacts

_s = webhook_subscriptions
_d = webhook_deliveries


class SqlWebhookSubscriptionRepository(SqlRepository):
    def __init__(self, conn: Connection, cipher: SecretCipher) -> None:
        super().__init__(conn)
        self._cipher = cipher

    def add(self, subscription: WebhookSubscription) -> WebhookSubscription:
        self._run(insert(_s).values(m.subscription_to_row(subscription, self._cipher)))
        return subscription

    def get(self, subscription_id: UUID) -> WebhookSubscription | None:
        row = self._run(select(_s).where(_s.c.id == subscription_id)).first()
        return m.subscription_from_row(row, self._cipher) if row is not None else None

    def list(self, *, enabled_only: bool = False) -> builtins.list[WebhookSubscription]:
        query = select(_s).order_by(_s.c.created_at.desc(), _s.c.id.desc())
        if enabled_only:
            query = query.where(_s.c.enabled)
        return [m.subscription_from_row(row, self._cipher) for row in self._run(query)]

    def update(self, subscription: WebhookSubscription) -> WebhookSubscription:
        values = m.subscription_to_row(subscription, self._cipher)
        del values["id"]
        if self._run(update(_s).where(_s.c.id == subscription.id).values(values)).rowcount == 0:
            raise missing("webhook_subscription", subscription.id)
        return subscription

    def delete(self, subscription_id: UUID) -> bool:
        return self._run(delete(_s).where(_s.c.id == subscription_id)).rowcount > 0


def _broker_routed() -> ColumnElement[bool]:
    """``rules.targeting.is_broker_routed``: no target labels (NULL or empty)."""
    return or_(_d.c.target_labels.is_(None), func.cardinality(_d.c.target_labels) == 0)


def _agent_routed(labels: Sequence[str]) -> ColumnElement[bool]:
    """``rules.targeting.is_agent_routed_to``: target labels given, all carried by the agent."""
    return and_(
        func.cardinality(_d.c.target_labels) > 0,
        _d.c.target_labels.contained_by(literal(list(labels), ARRAY(Text))),
    )


class SqlWebhookDeliveryRepository(SqlRepository):
    def add(self, delivery: WebhookDelivery) -> WebhookDelivery:
        self._run(insert(_d).values(m.delivery_to_row(delivery)))
        return delivery

    def get(self, delivery_id: UUID) -> WebhookDelivery | None:
        row = self._run(select(_d).where(_d.c.id == delivery_id)).first()
        return m.delivery_from_row(row) if row is not None else None

    def list_for_subscription(
        self, subscription_id: UUID, *, status: str | None = None, limit: int = 50, offset: int = 0
    ) -> builtins.list[WebhookDelivery]:
        query = (
            select(_d)
            .where(_d.c.subscription_id == subscription_id)
            .order_by(_d.c.created_at.desc(), _d.c.id.desc())
            .limit(max(limit, 0))
            .offset(max(offset, 0))
        )
        if status is not None:
            query = query.where(_d.c.status == str(status))
        return [m.delivery_from_row(row) for row in self._run(query)]

    def _claim(
        self,
        routed: ColumnElement[bool],
        acquired_by: UUID | None,
        limit: int,
        until: datetime,
        per_subscription: int | None = None,
    ) -> builtins.list[WebhookDelivery]:
        if limit <= 0:
            return []
        pending: ColumnElement[bool] = and_(_d.c.status == DeliveryStatus.PENDING.value, routed)
        eligible = pending
        if per_subscription is not None:  # rank within each subscription first, lock only the chosen rows
            ranked = (
                select(
                    _d.c.id,
                    func.row_number()
                    .over(partition_by=_d.c.subscription_id, order_by=(_d.c.created_at, _d.c.id))
                    .label("rank"),
                )
                .where(pending)
                .subquery("ranked")
            )
            # The ranking reads the statement's snapshot; ``pending`` stays on the locking level, where
            # PostgreSQL re-checks it on the newest row version: a row another claim took and committed
            # meanwhile is left out instead of being taken a second time.
            eligible = and_(
                pending, _d.c.id.in_(select(ranked.c.id).where(ranked.c.rank <= per_subscription))
            )
        picked = (
            select(_d.c.id)
            .where(eligible)
            .order_by(_d.c.created_at, _d.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .cte("picked")
        )
        statement = (
            update(_d)
            .where(_d.c.id == picked.c.id)
            .values(status=DeliveryStatus.ACQUIRED.value, acquired_by=acquired_by, acquired_until=until)
            .returning(*_d.c)
        )
        claimed = [m.delivery_from_row(row) for row in self._run(statement)]
        return sorted(claimed, key=lambda d: (d.created_at, d.id))

    def claim_for_broker(
        self,
        now: datetime,
        limit: int,
        acquired_until: datetime,
        *,
        per_subscription: int | None = None,
        skip_subscriptions: frozenset[UUID] = frozenset(),
    ) -> builtins.list[WebhookDelivery]:
        del now  # pending rows are due by definition; failed ones come back through requeue_due
        routed = _broker_routed()
        if skip_subscriptions:
            routed = routed & _d.c.subscription_id.not_in(sorted(skip_subscriptions))
        return self._claim(routed, None, limit, acquired_until, per_subscription)

    def claim_for_agent(
        self, agent: AgentTargetingFacts, now: datetime, limit: int, acquired_until: datetime
    ) -> builtins.list[WebhookDelivery]:
        del now
        if not agent.labels:
            return []
        return self._claim(_agent_routed(sorted(agent.labels)), agent.agent_id, limit, acquired_until)

    def release_expired(self, now: datetime) -> int:
        statement = (
            update(_d)
            .where(_d.c.status == DeliveryStatus.ACQUIRED.value, _d.c.acquired_until < now)
            .values(status=DeliveryStatus.PENDING.value, acquired_by=None, acquired_until=None)
        )
        return self._run(statement).rowcount

    def requeue_due(self, now: datetime) -> int:
        statement = (
            update(_d)
            .where(_d.c.status == DeliveryStatus.FAILED.value, _d.c.next_retry_at <= now)
            .values(status=DeliveryStatus.PENDING.value, acquired_by=None, acquired_until=None)
        )
        return self._run(statement).rowcount

    def update(self, delivery: WebhookDelivery) -> WebhookDelivery:
        values: dict[str, Any] = m.delivery_to_row(delivery)
        del values["id"]
        if self._run(update(_d).where(_d.c.id == delivery.id).values(values)).rowcount == 0:
            raise missing("webhook_delivery", delivery.id)
        return delivery

    def delete_finished_before(self, cutoff: datetime) -> int:
        finished = (DeliveryStatus.SUCCESS.value, DeliveryStatus.DEAD.value)
        statement = delete(_d).where(_d.c.status.in_(finished), _d.c.created_at < cutoff)
        return self._run(statement).rowcount


__all__ = ["SqlWebhookDeliveryRepository", "SqlWebhookSubscriptionRepository"]
