"""Reading one deployment object, and the health roll-up of one object.

Who may read an object: the admin; the generator owning its stack; an agent that must deploy it. v0.4.0
accepted only agents with an *explicit* target on the stack, so an agent selected by label or annotation
received the object in its target state but got 403 reading it by id. Here any association counts, and so does
a deletion marker of a deleted stack that is in the agent's target state (the agent deployed that stack and
must tear it down).
"""

from __future__ import annotations

from uuid import UUID

import attrs

from brokkr_domain.errors import ForbiddenError
from brokkr_domain.model import Caller, DeploymentHealth, DeploymentObject, HealthStatus
from brokkr_domain.ports import TargetStateQuery, UnitOfWork
from brokkr_domain.rules.health import worst_status
from brokkr_domain.usecases._authz import (
    agent_is_associated,
    load_deployment_object,
    load_stack,
    require_admin,
)
from brokkr_domain.usecases.context import Services


@attrs.frozen(kw_only=True)
class ObjectHealthReport:
    """``GET /deployment-objects/{id}/health``: every agent's report and the worst of them."""

    deployment_object_id: UUID
    health_records: tuple[DeploymentHealth, ...]
    overall_status: HealthStatus


def get_deployment_object(s: Services, caller: Caller, object_id: UUID) -> DeploymentObject:
    actor = caller.actor
    with s.uow() as uow:
        obj = load_deployment_object(uow, object_id)
        if actor.is_admin:
            return obj
        stack = load_stack(uow, obj.stack_id, include_deleted=True)
        if actor.is_generator():
            if actor.is_generator(stack.generator_id):
                return obj
            raise ForbiddenError(
                "the generator does not own this object's stack",
                code="generator_not_associated",
                details={"id": str(object_id)},
            )
        if actor.id is not None and _agent_may_read(
            uow, actor.id, obj, stack_deleted=stack.deleted_at is not None
        ):
            return obj
    raise ForbiddenError(
        "the agent is not associated with this object's stack",
        code="agent_not_associated",
        details={"id": str(object_id)},
    )


def _agent_may_read(uow: UnitOfWork, agent_id: UUID, obj: DeploymentObject, *, stack_deleted: bool) -> bool:
    if not stack_deleted:
        return agent_is_associated(uow, agent_id, obj.stack_id)
    if not obj.is_deletion_marker:
        return False
    full = uow.deployment_objects.target_state(TargetStateQuery(agent_id=agent_id, incremental=False))
    return any(candidate.id == obj.id for candidate in full)


def deployment_object_health(s: Services, caller: Caller, object_id: UUID) -> ObjectHealthReport:
    """Admin only. Unlike v0.4.0 an id that never existed is 404; a soft-deleted object shows its reports."""
    require_admin(caller)
    with s.uow() as uow:
        load_deployment_object(uow, object_id, include_deleted=True)
        rows = tuple(uow.health.list_for_object(object_id))
    return ObjectHealthReport(
        deployment_object_id=object_id,
        health_records=rows,
        overall_status=worst_status(row.status for row in rows),
    )


__all__ = ["ObjectHealthReport", "deployment_object_health", "get_deployment_object"]
