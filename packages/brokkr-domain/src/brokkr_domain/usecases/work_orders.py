"""Work-order use cases: the admin's CRUD, the agents' pending/claim/complete cycle, the log, and maintenance.

Who may call: everything is admin-only except what the executing agent needs — its pending list (itself or the
admin), claiming (the agent named in the request, or the admin on its behalf) and completing (the agent that
holds the claim, or the admin). The transitions themselves live in ``rules.work_orders``; this module adds the
authorization, the persistence in one unit of work, the ``workorder.*`` webhook events and the audit entries.

Differences from v0.4.0 (see ``rules.work_orders`` for the state machine's): agents named in the targeting
must exist (404 ``agent_not_found`` rather than a 500), invalid labels are refused rather than silently
dropped, a completion event carries the real completion time, and a timed-out claim counts as an attempt.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from uuid import UUID

from brokkr_domain.errors import ForbiddenError, NotFoundError, ValidationError
from brokkr_domain.model import Caller, EventType, WorkOrder, WorkOrderLog, WorkOrderStatus
from brokkr_domain.ports import RetryScheduled, UnitOfWork
from brokkr_domain.rules import work_orders as rules
from brokkr_domain.rules.webhooks import EventContext
from brokkr_domain.usecases._authz import load_agent, require_admin, require_admin_or_agent
from brokkr_domain.usecases._authz_ops import agent_facts, check_limit, require_admin_or_some_agent
from brokkr_domain.usecases.agents import agent_context
from brokkr_domain.usecases.context import Services
from brokkr_domain.usecases.events import emit

RESOURCE = "work_order"
_STATUSES = frozenset(status.value for status in WorkOrderStatus)


def _not_found(order_id: UUID) -> NotFoundError:
    return NotFoundError(
        f"work order {order_id} not found", code="work_order_not_found", details={"id": str(order_id)}
    )


# --- the admin's side ---------------------------------------------------------------------------------------


def create_work_order(
    s: Services,
    caller: Caller,
    *,
    work_type: str,
    yaml_content: str,
    agent_ids: Iterable[UUID] = (),
    labels: Iterable[str] = (),
    annotations: Mapping[str, str] | None = None,
    target_agent_ids: Iterable[UUID] = (),
    max_retries: int | None = None,
    backoff_seconds: int | None = None,
    claim_timeout_seconds: int | None = None,
) -> WorkOrder:
    """Create a PENDING order targeted at agents (``agent_ids`` plus the legacy ``target_agent_ids``), labels
    or annotation pairs, and emit ``workorder.created``.

    400 ``no_targeting_specified`` when all three are empty, ``invalid_work_order`` for bad fields; 404
    ``agent_not_found`` when a named agent does not exist (checked before anything is stored).
    """
    require_admin(caller)
    targeting = rules.make_targeting(
        agent_ids=agent_ids,
        labels=labels,
        annotations=annotations or {},
        legacy_target_agent_ids=target_agent_ids,
    )
    now = s.clock.now()
    order = rules.new_work_order(
        id=s.ids.new_id(),
        work_type=work_type,
        yaml_content=yaml_content,
        targeting=targeting,
        now=now,
        max_retries=max_retries,
        backoff_seconds=backoff_seconds,
        claim_timeout_seconds=claim_timeout_seconds,
    )
    with s.uow() as uow:
        for agent_id in sorted(targeting.agent_ids):
            load_agent(uow, agent_id)
        order = uow.work_orders.add(order)
        emit(
            uow,
            s,
            EventType.WORKORDER_CREATED,
            {
                "work_order_id": order.id,
                "work_type": order.work_type,
                "status": order.status.value,
                "created_at": order.created_at,
            },
            _single_agent_context(uow, targeting.agent_ids),
        )
        uow.commit()
    s.audit_entry(
        caller,
        "workorder.created",
        RESOURCE,
        order.id,
        {
            "work_type": order.work_type,
            "agent_ids": sorted(str(agent_id) for agent_id in targeting.agent_ids),
            "labels": sorted(targeting.labels),
            "annotations": dict(sorted(targeting.annotations)),
        },
    )
    return order


def _single_agent_context(uow: UnitOfWork, agent_ids: frozenset[UUID]) -> EventContext:
    """An order aimed at exactly one agent is "about" that agent for webhook filters; otherwise about none."""
    if len(agent_ids) == 1:
        (agent_id,) = agent_ids
        return agent_context(uow, agent_id)
    return EventContext()


def list_work_orders(
    s: Services, caller: Caller, *, status: str | None = None, work_type: str | None = None
) -> list[WorkOrder]:
    """Active orders (pending, claimed, waiting for a retry), newest first; finished ones are in the log.

    ``status`` is a status name (COMPLETED and FAILED match nothing here: those orders are in the log);
    anything else is 400 ``invalid_query`` rather than a silently empty list.
    """
    require_admin(caller)
    if status and status not in _STATUSES:
        raise ValidationError(
            f"status must be one of {sorted(_STATUSES)}, got {status!r}",
            code="invalid_query",
            details={"field": "status"},
        )
    with s.uow() as uow:
        return uow.work_orders.list(status=status or None, work_type=work_type or None)


def get_work_order(s: Services, caller: Caller, order_id: UUID) -> WorkOrder:
    """The active order, or — once it finished — the log entry seen as a COMPLETED/FAILED order."""
    require_admin(caller)
    with s.uow() as uow:
        order = uow.work_orders.get(order_id)
        if order is not None:
            return order
        entry = uow.work_orders.get_log(order_id)
    if entry is None:
        raise _not_found(order_id)
    return rules.synthesize_from_log(entry)


def delete_work_order(s: Services, caller: Caller, order_id: UUID) -> None:
    """Cancel an active order (its targeting goes with it); finished orders stay in the log."""
    require_admin(caller)
    with s.uow() as uow:
        order = uow.work_orders.lock(order_id)
        if order is None:
            raise _not_found(order_id)
        uow.work_orders.delete(order_id)
        uow.commit()
    s.audit_entry(
        caller,
        "workorder.deleted",
        RESOURCE,
        order_id,
        {"work_type": order.work_type, "status": order.status.value},
    )


# --- the agent's side ---------------------------------------------------------------------------------------


def pending_for_agent(
    s: Services, caller: Caller, agent_id: UUID, *, work_type: str | None = None
) -> list[WorkOrder]:
    """PENDING orders the agent may claim (explicit target, shared label or shared annotation pair), oldest
    first."""
    require_admin_or_agent(caller, agent_id)
    with s.uow() as uow:
        facts = agent_facts(uow, agent_id)
        return uow.work_orders.pending_for_agent(facts, work_type=work_type or None)


def claim_work_order(s: Services, caller: Caller, order_id: UUID, *, agent_id: UUID) -> WorkOrder:
    """PENDING → CLAIMED by ``agent_id``; emits ``workorder.claimed``.

    Missing, not targeted at the agent and no longer pending are one answer, 404 ``work_order_not_claimable``:
    an agent racing others for an order only needs to know it did not get it.
    """
    require_admin_or_agent(caller, agent_id)
    now = s.clock.now()
    with s.uow() as uow:
        facts = agent_facts(uow, agent_id)
        order = uow.work_orders.claim(order_id, facts, now)
        if order is None:
            raise NotFoundError(
                f"work order {order_id} is missing, not targeted at agent {agent_id} or not pending",
                code="work_order_not_claimable",
                details={"id": str(order_id), "agent_id": str(agent_id)},
            )
        emit(
            uow,
            s,
            EventType.WORKORDER_CLAIMED,
            {
                "work_order_id": order.id,
                "work_type": order.work_type,
                "agent_id": agent_id,
                "claimed_at": now,
            },
            agent_context(uow, agent_id),
        )
        uow.commit()
    s.audit_entry(
        caller,
        "workorder.claimed",
        RESOURCE,
        order_id,
        {"agent_id": str(agent_id), "work_type": order.work_type},
    )
    return order


def complete_work_order(
    s: Services,
    caller: Caller,
    order_id: UUID,
    *,
    success: bool,
    message: str | None = None,
    retryable: bool = True,
) -> WorkOrderLog | RetryScheduled:
    """Report the end of an execution.

    Success, or a failure that is final (not retryable, or out of retries), moves the order to the log and
    returns the log entry (HTTP 200); emits ``workorder.completed`` or ``workorder.failed`` with
    ``data.success``. A failure with retries left schedules the next attempt after ``backoff_seconds · 2^n``
    and returns :class:`RetryScheduled` (HTTP 202). Only the admin or the agent holding the claim may report:
    403 ``work_order_not_claimed_by_agent`` otherwise (also for an agent whose claim timed out and was
    released).
    """
    denied = "only the admin or the agent that claimed this work order may complete it"
    require_admin_or_some_agent(caller, code="work_order_not_claimed_by_agent", message=denied)
    now = s.clock.now()
    with s.uow() as uow:
        order = uow.work_orders.lock(order_id)
        if order is None:
            raise _not_found(order_id)
        actor = caller.actor
        if not actor.is_admin and (order.claimed_by is None or not actor.is_agent(order.claimed_by)):
            raise ForbiddenError(
                denied, code="work_order_not_claimed_by_agent", details={"id": str(order_id)}
            )
        if success:
            outcome: WorkOrder | WorkOrderLog = rules.complete_success(order, message, now)
        else:
            outcome = rules.complete_failure(order, message, retryable, now)
        if isinstance(outcome, WorkOrder):
            uow.work_orders.update(outcome)
        else:
            _finish(uow, s, outcome)
        uow.commit()
    if isinstance(outcome, WorkOrder):
        s.audit_entry(
            caller,
            "workorder.retry_scheduled",
            RESOURCE,
            order_id,
            {
                "retry_count": outcome.retry_count,
                "next_retry_after": outcome.next_retry_after.isoformat()
                if outcome.next_retry_after
                else None,
                "error": message,
            },
        )
        return RetryScheduled()
    _audit_finished(s, caller, outcome)
    return outcome


def _finish(uow: UnitOfWork, s: Services, entry: WorkOrderLog) -> None:
    """Move the order to the log and tell subscribers, in the caller's unit of work."""
    uow.work_orders.move_to_log(entry)
    context = agent_context(uow, entry.claimed_by) if entry.claimed_by is not None else EventContext()
    emit(
        uow,
        s,
        EventType.WORKORDER_COMPLETED if entry.success else EventType.WORKORDER_FAILED,
        {
            "work_order_log_id": entry.id,
            "work_type": entry.work_type,
            "success": entry.success,
            "result_message": entry.result_message,
            "agent_id": entry.claimed_by,
            "completed_at": entry.completed_at,
        },
        context,
    )


def _audit_finished(s: Services, caller: Caller, entry: WorkOrderLog) -> None:
    details: dict[str, Any] = {
        "work_type": entry.work_type,
        "success": entry.success,
        "retries_attempted": entry.retries_attempted,
        "agent_id": str(entry.claimed_by) if entry.claimed_by is not None else None,
    }
    s.audit_entry(
        caller, "workorder.completed" if entry.success else "workorder.failed", RESOURCE, entry.id, details
    )


# --- the log ------------------------------------------------------------------------------------------------


def list_work_order_log(
    s: Services,
    caller: Caller,
    *,
    work_type: str | None = None,
    success: bool | None = None,
    agent_id: UUID | None = None,
    limit: int | None = None,
) -> list[WorkOrderLog]:
    """Finished orders, most recently completed first; ``agent_id`` filters on who ran them."""
    require_admin(caller)
    if limit is not None:
        check_limit(limit)
    with s.uow() as uow:
        return uow.work_orders.list_log(
            work_type=work_type or None, success=success, agent_id=agent_id, limit=limit
        )


def get_work_order_log_entry(s: Services, caller: Caller, order_id: UUID) -> WorkOrderLog:
    require_admin(caller)
    with s.uow() as uow:
        entry = uow.work_orders.get_log(order_id)
    if entry is None:
        raise NotFoundError(
            f"no log entry for work order {order_id}",
            code="work_order_log_entry_not_found",
            details={"id": str(order_id)},
        )
    return entry


# --- maintenance --------------------------------------------------------------------------------------------


def run_work_order_maintenance(s: Services, batch: int = 100) -> tuple[int, int]:
    """One pass of the broker's work-order task; returns ``(released_retries, released_stale)``.

    Due retries go back to PENDING. Timed-out claims count as a failed attempt: back to PENDING with
    ``retry_count + 1``, or — out of retries — into the log as failed (with ``workorder.failed``). Rows are
    locked with skip-locked semantics, so replicas running this concurrently never handle one order twice. At
    most ``batch`` of each kind per pass; a caller that gets ``batch`` back may run again at once.

    Audit: a timed-out claim is recorded (as ``workorder.claim_timed_out`` or ``workorder.failed``, actor
    ``system``) because it changes the order's outcome; releasing a due retry only carries out the schedule an
    audited completion already set, so it is not.
    """
    now = s.clock.now()
    system = Caller.system()
    finished: list[WorkOrderLog] = []
    timed_out: list[WorkOrder] = []
    released_retries = 0
    with s.uow() as uow:
        for order in uow.work_orders.lock_due_retries(now, batch):
            released = rules.release_due_retry(order, now)
            if released is not None:
                uow.work_orders.update(released)
                released_retries += 1
        for order in uow.work_orders.lock_stale_claims(now, batch):
            outcome = rules.release_stale_claim(order, now)
            if outcome is None:
                continue
            if isinstance(outcome, WorkOrder):
                uow.work_orders.update(outcome)
                timed_out.append(order)
            else:
                _finish(uow, s, outcome)
                finished.append(outcome)
        uow.commit()
    for order in timed_out:
        s.audit_entry(
            system,
            "workorder.claim_timed_out",
            RESOURCE,
            order.id,
            {"agent_id": str(order.claimed_by), "retry_count": order.retry_count + 1},
        )
    for entry in finished:
        _audit_finished(s, system, entry)
    return released_retries, len(timed_out) + len(finished)


__all__ = [
    "claim_work_order",
    "complete_work_order",
    "create_work_order",
    "delete_work_order",
    "get_work_order",
    "get_work_order_log_entry",
    "list_work_order_log",
    "list_work_orders",
    "pending_for_agent",
    "run_work_order_maintenance",
]
