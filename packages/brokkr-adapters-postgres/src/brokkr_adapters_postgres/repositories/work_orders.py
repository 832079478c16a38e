"""Work orders, their targeting and their log, with claims that are safe across broker replicas.

- ``claim`` is one conditional ``UPDATE … WHERE status = 'PENDING' AND <eligible>``: of two concurrent
  claimers exactly one gets the row back (the other's re-checked WHERE no longer matches);
- ``lock_due_retries`` / ``lock_stale_claims`` are ``SELECT … FOR UPDATE SKIP LOCKED``: maintenance running
  in several replicas splits the due rows instead of processing them twice.
Every read returns the order with its targeting aggregated from the three child tables in the same query.
"""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    ColumnElement,
    Select,
    any_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    literal_column,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.types import Text

from brokkr_adapters_postgres import mappers as m
from brokkr_adapters_postgres.repositories._base import SqlRepository, missing
from brokkr_adapters_postgres.tables import (
    work_order_annotations,
    work_order_labels,
    work_order_log,
    work_order_targets,
    work_orders,
)
from brokkr_domain.errors import ConflictError
from brokkr_domain.model import WorkOrder, WorkOrderLog, WorkOrderStatus
from brokkr_domain.ports.repositories import AgentTargetingFacts

_w = work_orders
_TEXTS = ARRAY(Text)
_targets, _labels, _annotations = work_order_targets, work_order_labels, work_order_annotations


def _aggregate(column: Any, table: Any, name: str) -> Any:
    """One child column of the order as an array (ordered by row id, so keys and values stay paired)."""
    return (
        select(func.array_agg(aggregate_order_by(column, table.c.id)))
        .where(table.c.work_order_id == _w.c.id)
        .correlate(_w)
        .scalar_subquery()
        .label(name)
    )


_TARGETING = [
    _aggregate(_targets.c.agent_id, _targets, "t_agents"),
    _aggregate(_labels.c.label, _labels, "t_labels"),
    _aggregate(_annotations.c.key, _annotations, "t_keys"),
    _aggregate(_annotations.c.value, _annotations, "t_values"),
]
_ORDER_COLUMNS = [*_w.c, *_TARGETING]


def _eligible() -> ColumnElement[bool]:
    """``rules.targeting.is_work_order_eligible`` in SQL: explicit target or shared label or shared pair.

    The agent's facts are bound parameters (``agent_id``, ``labels``, ``keys``, ``values``; see
    :func:`_facts`), so the statements using it are built and compiled once.
    """
    pairs = (
        func.unnest(bindparam("keys", type_=_TEXTS), bindparam("values", type_=_TEXTS))
        .table_valued("key", "value")
        .render_derived(name="pairs")
    )
    return or_(
        exists().where(_targets.c.work_order_id == _w.c.id, _targets.c.agent_id == bindparam("agent_id")),
        exists().where(
            _labels.c.work_order_id == _w.c.id, _labels.c.label == any_(bindparam("labels", type_=_TEXTS))
        ),
        exists().where(
            _annotations.c.work_order_id == _w.c.id,
            tuple_(_annotations.c.key, _annotations.c.value).in_(select(pairs.c.key, pairs.c.value)),
        ),
    )


def _facts(agent: AgentTargetingFacts) -> dict[str, Any]:
    pairs = sorted(agent.annotations)
    return {
        "agent_id": agent.agent_id,
        "labels": sorted(agent.labels),
        "keys": [key for key, _ in pairs],
        "values": [value for _, value in pairs],
    }


def _select_orders() -> Select[Any]:
    return select(*_ORDER_COLUMNS)


# Agents poll for pending orders on every tick: both statements are built once.
_PENDING = (
    _select_orders()
    .where(_w.c.status == WorkOrderStatus.PENDING.value, _eligible())
    .order_by(_w.c.created_at, _w.c.id)
)
_PENDING_OF_TYPE = _PENDING.where(_w.c.work_type == bindparam("work_type"))
_CLAIM = (
    update(_w)
    .where(_w.c.id == bindparam("order_id"), _w.c.status == WorkOrderStatus.PENDING.value, _eligible())
    .values(
        status=WorkOrderStatus.CLAIMED.value,
        claimed_by=bindparam("agent_id"),
        claimed_at=bindparam("at"),
        updated_at=bindparam("at"),
    )
    .returning(*_ORDER_COLUMNS)
)


class SqlWorkOrderRepository(SqlRepository):
    def add(self, order: WorkOrder) -> WorkOrder:
        # The id must not reuse a finished order's id either (the log keeps the original ids).
        if self._run(select(exists().where(work_order_log.c.id == order.id))).scalar():
            raise ConflictError(
                'duplicate key value violates unique constraint "work_orders_pkey"',
                code="unique_violation",
                details={"constraint": "work_orders_pkey"},
            )
        self._run(insert(_w).values(m.work_order_to_row(order)))
        targeting = order.targeting
        base = {"work_order_id": order.id, "created_at": order.created_at}
        if targeting.agent_ids:
            self._run(insert(_targets), [base | {"agent_id": a} for a in sorted(targeting.agent_ids)])
        if targeting.labels:
            self._run(insert(_labels), [base | {"label": label} for label in sorted(targeting.labels)])
        if targeting.annotations:
            rows = [base | {"key": k, "value": v} for k, v in sorted(targeting.annotations)]
            self._run(insert(_annotations), rows)
        return order

    def get(self, order_id: UUID) -> WorkOrder | None:
        row = self._run(_select_orders().where(_w.c.id == order_id)).first()
        return m.work_order_from_row(row) if row is not None else None

    def list(self, *, status: str | None = None, work_type: str | None = None) -> builtins.list[WorkOrder]:
        query = _select_orders().order_by(_w.c.created_at.desc(), _w.c.id.desc())
        if status is not None:
            query = query.where(_w.c.status == str(status))
        if work_type is not None:
            query = query.where(_w.c.work_type == work_type)
        return [m.work_order_from_row(row) for row in self._run(query)]

    def delete(self, order_id: UUID) -> bool:
        return self._run(delete(_w).where(_w.c.id == order_id)).rowcount > 0

    def pending_for_agent(
        self, agent: AgentTargetingFacts, *, work_type: str | None = None
    ) -> builtins.list[WorkOrder]:
        if work_type is None:
            rows = self._run(_PENDING, _facts(agent))
        else:
            rows = self._run(_PENDING_OF_TYPE, _facts(agent) | {"work_type": work_type})
        return [m.work_order_from_row(row) for row in rows]

    def claim(self, order_id: UUID, agent: AgentTargetingFacts, at: datetime) -> WorkOrder | None:
        row = self._run(_CLAIM, _facts(agent) | {"order_id": order_id, "at": at}).first()
        return m.work_order_from_row(row) if row is not None else None

    def lock(self, order_id: UUID) -> WorkOrder | None:
        query = _select_orders().where(_w.c.id == order_id).with_for_update(of=_w)
        row = self._run(query).first()
        return m.work_order_from_row(row) if row is not None else None

    def update(self, order: WorkOrder) -> WorkOrder:
        values = m.work_order_to_row(order)
        del values["id"]
        if self._run(update(_w).where(_w.c.id == order.id).values(values)).rowcount == 0:
            raise missing("work_order", order.id)
        return order

    def move_to_log(self, entry: WorkOrderLog) -> WorkOrderLog:
        if self._run(delete(_w).where(_w.c.id == entry.id)).rowcount == 0:
            raise missing("work_order", entry.id)
        self._run(insert(work_order_log).values(m.work_order_log_to_row(entry)))
        return entry

    def lock_due_retries(self, now: datetime, limit: int) -> builtins.list[WorkOrder]:
        query = (
            _select_orders()
            .where(_w.c.status == WorkOrderStatus.RETRY_PENDING.value, _w.c.next_retry_after <= now)
            .order_by(_w.c.next_retry_after, _w.c.id)
            .limit(max(limit, 0))
            .with_for_update(of=_w, skip_locked=True)
        )
        return [m.work_order_from_row(row) for row in self._run(query)]

    def lock_stale_claims(self, now: datetime, limit: int) -> builtins.list[WorkOrder]:
        deadline = _w.c.claimed_at + _w.c.claim_timeout_seconds * literal_column("interval '1 second'")
        query = (
            _select_orders()
            .where(_w.c.status == WorkOrderStatus.CLAIMED.value, deadline < now)
            .order_by(_w.c.claimed_at, _w.c.id)
            .limit(max(limit, 0))
            .with_for_update(of=_w, skip_locked=True)
        )
        return [m.work_order_from_row(row) for row in self._run(query)]

    def get_log(self, order_id: UUID) -> WorkOrderLog | None:
        row = self._run(select(work_order_log).where(work_order_log.c.id == order_id)).first()
        return m.work_order_log_from_row(row) if row is not None else None

    def list_log(
        self,
        *,
        work_type: str | None = None,
        success: bool | None = None,
        agent_id: UUID | None = None,
        limit: int | None = None,
    ) -> builtins.list[WorkOrderLog]:
        log = work_order_log
        query = select(log).order_by(log.c.completed_at.desc(), log.c.id.desc())
        if work_type is not None:
            query = query.where(log.c.work_type == work_type)
        if success is not None:
            query = query.where(log.c.success.is_(success))
        if agent_id is not None:
            query = query.where(log.c.claimed_by == agent_id)
        if limit is not None:
            query = query.limit(max(limit, 0))
        return [m.work_order_log_from_row(row) for row in self._run(query)]


__all__ = ["SqlWorkOrderRepository"]
