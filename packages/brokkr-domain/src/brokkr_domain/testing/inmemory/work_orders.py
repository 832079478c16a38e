"""In-memory work orders and their log."""

from __future__ import annotations

import builtins
from datetime import datetime, timedelta
from uuid import UUID

import attrs

from brokkr_domain.model import WorkOrder, WorkOrderLog, WorkOrderStatus
from brokkr_domain.ports.repositories import AgentTargetingFacts
from brokkr_domain.rules.targeting import is_work_order_eligible
from brokkr_domain.testing.inmemory import constraints as c
from brokkr_domain.testing.inmemory.store import Tx, missing, unique_violation


class InMemoryWorkOrderRepository:
    def __init__(self, tx: Tx) -> None:
        self._tx = tx

    def add(self, order: WorkOrder) -> WorkOrder:
        tables = self._tx.tables
        if order.id in tables.work_orders or order.id in tables.work_order_log:
            raise unique_violation(c.primary_key("work_orders"))
        for agent_id in order.targeting.agent_ids:
            if agent_id not in tables.agents:
                raise missing("agent", agent_id)
        tables.work_orders[order.id] = order
        return order

    def get(self, order_id: UUID) -> WorkOrder | None:
        return self._tx.tables.work_orders.get(order_id)

    def list(self, *, status: str | None = None, work_type: str | None = None) -> builtins.list[WorkOrder]:
        rows = [
            order
            for order in self._tx.tables.work_orders.values()
            if (status is None or order.status == status)
            and (work_type is None or order.work_type == work_type)
        ]
        return sorted(rows, key=lambda order: (order.created_at, order.id), reverse=True)

    def delete(self, order_id: UUID) -> bool:
        return self._tx.tables.work_orders.pop(order_id, None) is not None

    def pending_for_agent(
        self, agent: AgentTargetingFacts, *, work_type: str | None = None
    ) -> builtins.list[WorkOrder]:
        rows = [
            order
            for order in self._tx.tables.work_orders.values()
            if order.status == WorkOrderStatus.PENDING
            and (work_type is None or order.work_type == work_type)
            and is_work_order_eligible(order.targeting, agent)
        ]
        return sorted(rows, key=lambda order: (order.created_at, order.id))

    def claim(self, order_id: UUID, agent: AgentTargetingFacts, at: datetime) -> WorkOrder | None:
        order = self._tx.tables.work_orders.get(order_id)
        if (
            order is None
            or order.status != WorkOrderStatus.PENDING
            or not is_work_order_eligible(order.targeting, agent)
        ):
            return None
        claimed = attrs.evolve(
            order, status=WorkOrderStatus.CLAIMED, claimed_by=agent.agent_id, claimed_at=at, updated_at=at
        )
        self._tx.tables.work_orders[order_id] = claimed
        return claimed

    def lock(self, order_id: UUID) -> WorkOrder | None:
        # The whole unit of work already holds the store: reading is locking.
        return self.get(order_id)

    def update(self, order: WorkOrder) -> WorkOrder:
        if order.id not in self._tx.tables.work_orders:
            raise missing("work_order", order.id)
        self._tx.tables.work_orders[order.id] = order
        return order

    def move_to_log(self, entry: WorkOrderLog) -> WorkOrderLog:
        tables = self._tx.tables
        if entry.id not in tables.work_orders:
            raise missing("work_order", entry.id)
        if entry.id in tables.work_order_log:
            raise unique_violation(c.primary_key("work_order_log"))
        del tables.work_orders[entry.id]
        tables.work_order_log[entry.id] = entry
        return entry

    def lock_due_retries(self, now: datetime, limit: int) -> builtins.list[WorkOrder]:
        due = [
            order
            for order in self._tx.tables.work_orders.values()
            if order.status == WorkOrderStatus.RETRY_PENDING
            and order.next_retry_after is not None
            and order.next_retry_after <= now
        ]
        due.sort(key=lambda order: (order.next_retry_after or now, order.id))
        return due[: max(limit, 0)]

    def lock_stale_claims(self, now: datetime, limit: int) -> builtins.list[WorkOrder]:
        stale = [
            order
            for order in self._tx.tables.work_orders.values()
            if order.status == WorkOrderStatus.CLAIMED
            and order.claimed_at is not None
            and order.claimed_at + timedelta(seconds=order.claim_timeout_seconds) < now
        ]
        stale.sort(key=lambda order: (order.claimed_at or now, order.id))
        return stale[: max(limit, 0)]

    def get_log(self, order_id: UUID) -> WorkOrderLog | None:
        return self._tx.tables.work_order_log.get(order_id)

    def list_log(
        self,
        *,
        work_type: str | None = None,
        success: bool | None = None,
        agent_id: UUID | None = None,
        limit: int | None = None,
    ) -> builtins.list[WorkOrderLog]:
        rows = [
            entry
            for entry in self._tx.tables.work_order_log.values()
            if (work_type is None or entry.work_type == work_type)
            and (success is None or entry.success == success)
            and (agent_id is None or entry.claimed_by == agent_id)
        ]
        rows.sort(key=lambda entry: (entry.completed_at, entry.id), reverse=True)
        return rows if limit is None else rows[: max(limit, 0)]


__all__ = ["InMemoryWorkOrderRepository"]
