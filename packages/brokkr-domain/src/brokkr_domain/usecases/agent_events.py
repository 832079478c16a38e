"""Agent events: what an agent reports after applying (or failing to apply) a deployment object.

Reporting (``POST /agents/{id}/events``) is how an agent acknowledges objects: a ``SUCCESS`` hides the object
from its incremental target state, any event on a deletion marker acknowledges it. Reading is scoped by
identity — v0.4.0 let any PAK read every event of every agent; here the admin sees all, an agent its own, and
a generator the events about objects of the stacks it owns (deleted stacks included, so it can follow a
teardown to the end).
"""

from __future__ import annotations

from uuid import UUID

from brokkr_domain.errors import ForbiddenError, NotFoundError, ValidationError
from brokkr_domain.model import AgentEvent, Caller, EventType
from brokkr_domain.ports import UnitOfWork
from brokkr_domain.usecases._authz import (
    load_agent,
    load_deployment_object,
    require_admin_or_agent,
    require_same_id,
    require_text,
)
from brokkr_domain.usecases.agents import agent_context
from brokkr_domain.usecases.context import Services
from brokkr_domain.usecases.events import emit

EVENT_STATUSES = ("SUCCESS", "FAILURE")
EVENT_TYPE_MAX = 50
MESSAGE_MAX = 64 * 1024


def list_events(s: Services, caller: Caller) -> list[AgentEvent]:
    """Live events visible to the caller, newest first."""
    actor = caller.actor
    with s.uow() as uow:
        if actor.is_admin:
            return uow.agent_events.list()
        if actor.is_agent() and actor.id is not None:
            return uow.agent_events.list(agent_id=actor.id)
        if not actor.is_generator():
            raise ForbiddenError("only the admin, agents and generators read agent events", code="forbidden")
        owner = _OwnerLookup(uow)
        return [
            event
            for event in uow.agent_events.list()
            if owner.of_object(event.deployment_object_id) == actor.id
        ]


def get_event(s: Services, caller: Caller, event_id: UUID) -> AgentEvent:
    with s.uow() as uow:
        event = uow.agent_events.get(event_id)
        if event is None:
            raise NotFoundError(
                f"agent event {event_id} not found",
                code="agent_event_not_found",
                details={"id": str(event_id)},
            )
        actor = caller.actor
        if actor.is_admin or actor.is_agent(event.agent_id):
            return event
        if actor.is_generator() and _OwnerLookup(uow).of_object(event.deployment_object_id) == actor.id:
            return event
    raise ForbiddenError(
        "only the admin, the reporting agent or the generator owning the object's stack may read this event",
        code="agent_event_not_accessible",
        details={"id": str(event_id)},
    )


def list_agent_events(s: Services, caller: Caller, agent_id: UUID) -> list[AgentEvent]:
    require_admin_or_agent(caller, agent_id)
    with s.uow() as uow:
        load_agent(uow, agent_id)
        return uow.agent_events.list(agent_id=agent_id)


def create_agent_event(
    s: Services,
    caller: Caller,
    agent_id: UUID,
    *,
    deployment_object_id: UUID,
    event_type: str,
    status: str,
    message: str | None = None,
    body_agent_id: UUID | None = None,
) -> AgentEvent:
    """Record an agent's report on an object; emits ``deployment.applied`` or ``deployment.failed``.

    ``status`` is SUCCESS or FAILURE in any case and is stored upper-case. The object may already be
    soft-deleted (its stack was deleted while the agent was applying it): the report still counts, because an
    agent that deployed a deleted stack is exactly the one that must receive its deletion marker. Not
    audited: the event row itself records which agent reported what, and when.
    """
    require_admin_or_agent(caller, agent_id)
    require_same_id(agent_id, body_agent_id, field="agent_id", code="agent_id_mismatch")
    require_text(event_type, "event_type", max_length=EVENT_TYPE_MAX)
    normalized = status.strip().upper()
    if normalized not in EVENT_STATUSES:
        raise ValidationError(
            f"status must be SUCCESS or FAILURE, got {status!r}",
            code="invalid_status",
            details={"field": "status", "allowed": list(EVENT_STATUSES)},
        )
    if message is not None and len(message) > MESSAGE_MAX:
        raise ValidationError(
            f"message must be at most {MESSAGE_MAX} characters",
            code="invalid_message",
            details={"field": "message", "max_length": MESSAGE_MAX},
        )
    now = s.clock.now()
    with s.uow() as uow:
        load_agent(uow, agent_id)
        obj = load_deployment_object(uow, deployment_object_id, include_deleted=True)
        event = uow.agent_events.add(
            AgentEvent(
                id=s.ids.new_id(),
                agent_id=agent_id,
                deployment_object_id=deployment_object_id,
                event_type=event_type,
                status=normalized,
                message=message,
                created_at=now,
                updated_at=now,
            )
        )
        emit(
            uow,
            s,
            EventType.DEPLOYMENT_APPLIED if event.succeeded else EventType.DEPLOYMENT_FAILED,
            {
                "agent_event_id": event.id,
                "agent_id": agent_id,
                "deployment_object_id": deployment_object_id,
                "event_type": event.event_type,
                "status": event.status,
                "message": event.message,
                "created_at": event.created_at,
            },
            agent_context(uow, agent_id, stack_id=obj.stack_id),
        )
        uow.commit()
    return event


class _OwnerLookup:
    """Object id → owning generator id, with per-call caches (the listing touches each stack once)."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow
        self._stack_of: dict[UUID, UUID | None] = {}
        self._owner_of_stack: dict[UUID, UUID | None] = {}

    def of_object(self, object_id: UUID) -> UUID | None:
        if object_id not in self._stack_of:
            obj = self._uow.deployment_objects.get(object_id, include_deleted=True)
            self._stack_of[object_id] = obj.stack_id if obj is not None else None
        stack_id = self._stack_of[object_id]
        if stack_id is None:
            return None
        if stack_id not in self._owner_of_stack:
            stack = self._uow.stacks.get(stack_id, include_deleted=True)
            self._owner_of_stack[stack_id] = stack.generator_id if stack is not None else None
        return self._owner_of_stack[stack_id]


__all__ = [
    "EVENT_STATUSES",
    "create_agent_event",
    "get_event",
    "list_agent_events",
    "list_events",
]
