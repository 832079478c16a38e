"""Agent use cases: registration, a running agent's self-service, its labels, annotations and targets.

Who may call (the reference's table, kept): listing, creating, deleting agents and editing labels/annotations
is admin-only; reading an agent, its sub-resources, its target state and its stacks, rotating its PAK and
editing its targets is the admin or the agent itself; heartbeats come from the agent itself only.

An agent may update its own record, status included, as in v0.4.0. This is deliberate, not an oversight:
``status`` only gates the agent's *own* loop (an agent skips deployments unless ``ACTIVE``); the broker serves
target state whatever the status, so an agent that sets itself ``ACTIVE`` gains nothing it could not already
do with its PAK. Admin activation is an operator workflow, not a security boundary.

Agent events (``/agents/{id}/events``) live in ``agent_events``.
"""

from __future__ import annotations

from uuid import UUID

import attrs

from brokkr_domain.errors import ForbiddenError, NotFoundError, ValidationError
from brokkr_domain.labels import validate_annotation
from brokkr_domain.model import (
    Agent,
    AgentAnnotation,
    AgentLabel,
    AgentStatus,
    AgentTarget,
    Caller,
    DeploymentObject,
    EventType,
    Stack,
)
from brokkr_domain.pak import generate_pak
from brokkr_domain.ports import TargetStateQuery, UnitOfWork
from brokkr_domain.rules.webhooks import EventContext
from brokkr_domain.usecases._authz import (
    KEEP,
    Keep,
    check_label,
    load_agent,
    load_stack,
    require_admin,
    require_admin_or_agent,
    require_same_id,
    require_self_agent,
    require_text,
)
from brokkr_domain.usecases.context import Services
from brokkr_domain.usecases.events import emit

NAME_MAX = 255
STATUS_MAX = 50


def agent_context(uow: UnitOfWork, agent_id: UUID, *, stack_id: UUID | None = None) -> EventContext:
    """What webhook filters may match for an event about this agent: its id, its labels and annotations."""
    return EventContext(
        agent_id=agent_id,
        stack_id=stack_id,
        labels=frozenset(row.label for row in uow.agents.list_labels(agent_id)),
        annotations={row.key: row.value for row in uow.agents.list_annotations(agent_id)},
    )


# --- the agent record -------------------------------------------------------------------------------------


def list_agents(s: Services, caller: Caller) -> list[Agent]:
    require_admin(caller)
    with s.uow() as uow:
        return uow.agents.list()


def create_agent(s: Services, caller: Caller, *, name: str, cluster_name: str) -> tuple[Agent, str]:
    """Register an agent (status ``INACTIVE``) and return it with its PAK, shown this once only."""
    require_admin(caller)
    require_text(name, "name", max_length=NAME_MAX)
    require_text(cluster_name, "cluster_name", max_length=NAME_MAX)
    pak = generate_pak(s.pak_settings)
    now = s.clock.now()
    with s.uow() as uow:
        agent = uow.agents.add(
            Agent(
                id=s.ids.new_id(),
                name=name,
                cluster_name=cluster_name,
                status=AgentStatus.INACTIVE.value,
                pak_hash=pak.hash,
                created_at=now,
                updated_at=now,
            )
        )
        emit(
            uow,
            s,
            EventType.AGENT_REGISTERED,
            {
                "agent_id": agent.id,
                "name": agent.name,
                "cluster_name": agent.cluster_name,
                "status": agent.status,
                "created_at": agent.created_at,
            },
            EventContext(agent_id=agent.id),
        )
        uow.commit()
    s.audit_entry(caller, "agent.created", "agent", agent.id, {"name": name, "cluster_name": cluster_name})
    return agent, pak.key


def find_agent(s: Services, caller: Caller, *, name: str | None, cluster_name: str | None) -> Agent:
    """Find a live agent by name and cluster (how a starting agent learns its own id).

    The admin gets 404 ``agent_not_found`` for an unknown pair. An agent only ever finds itself: any other
    answer, including "no such agent", is 403 ``agent_pak_mismatch``, so agents cannot probe which other
    agents exist (v0.4.0 answered 404 vs 403). Generators are refused before the lookup.
    """
    if not name or not cluster_name:
        raise ValidationError(
            "both name and cluster_name are required",
            code="name_and_cluster_required",
            details={"field": "name" if not name else "cluster_name"},
        )
    actor = caller.actor
    if not (actor.is_admin or actor.is_agent()):
        raise ForbiddenError(
            "only the admin or the agent itself may look agents up", code="agent_pak_mismatch"
        )
    with s.uow() as uow:
        agent = uow.agents.find_by_name(name, cluster_name)
    if actor.is_admin:
        if agent is None:
            raise NotFoundError(
                f"no agent named {name!r} in cluster {cluster_name!r}",
                code="agent_not_found",
                details={"name": name, "cluster_name": cluster_name},
            )
        return agent
    if agent is None or not actor.is_agent(agent.id):
        raise ForbiddenError("an agent may only look itself up", code="agent_pak_mismatch")
    return agent


def get_agent(s: Services, caller: Caller, agent_id: UUID) -> Agent:
    require_admin_or_agent(caller, agent_id)
    with s.uow() as uow:
        return load_agent(uow, agent_id)


def update_agent(
    s: Services,
    caller: Caller,
    agent_id: UUID,
    *,
    name: str | Keep = KEEP,
    cluster_name: str | Keep = KEEP,
    status: str | Keep = KEEP,
) -> Agent:
    """Change name, cluster name or status (free text, at most 50 characters; ``ACTIVE`` runs the loop)."""
    require_admin_or_agent(caller, agent_id)
    if not isinstance(name, Keep):
        require_text(name, "name", max_length=NAME_MAX)
    if not isinstance(cluster_name, Keep):
        require_text(cluster_name, "cluster_name", max_length=NAME_MAX)
    if not isinstance(status, Keep):
        require_text(status, "status", max_length=STATUS_MAX)
    with s.uow() as uow:
        current = load_agent(uow, agent_id)
        agent = attrs.evolve(
            current,
            name=current.name if isinstance(name, Keep) else name,
            cluster_name=current.cluster_name if isinstance(cluster_name, Keep) else cluster_name,
            status=current.status if isinstance(status, Keep) else status,
        )
        if agent == current:
            return current
        agent = uow.agents.update(attrs.evolve(agent, updated_at=s.clock.now()))
        uow.commit()
    s.audit_entry(
        caller,
        "agent.updated",
        "agent",
        agent.id,
        {"name": agent.name, "cluster_name": agent.cluster_name, "status": agent.status},
    )
    return agent


def delete_agent(s: Services, caller: Caller, agent_id: UUID) -> bool:
    """Soft-delete an agent and its events; ``False`` if there was no live agent (the API answers 204)."""
    require_admin(caller)
    now = s.clock.now()
    with s.uow() as uow:
        context = agent_context(uow, agent_id)
        if not uow.agents.soft_delete(agent_id, now):
            return False
        uow.agent_events.soft_delete_for_agent(agent_id, now)
        emit(
            uow,
            s,
            EventType.AGENT_DEREGISTERED,
            {"agent_id": agent_id, "deleted_at": now},
            context,
        )
        uow.commit()
    s.audit_entry(caller, "agent.deleted", "agent", agent_id)
    return True


def heartbeat(s: Services, caller: Caller, agent_id: UUID) -> None:
    """Record that the agent is alive. Only the agent itself may (an admin heartbeat would be a lie).

    Not audited: it arrives every few seconds from every agent and is already recorded in ``last_heartbeat``.
    """
    require_self_agent(caller, agent_id)
    if not s.heartbeats.record(agent_id, s.clock.now()):  # the hottest write of a fleet: grouped
        raise NotFoundError(
            f"agent {agent_id} not found", code="agent_not_found", details={"id": str(agent_id)}
        )


def rotate_agent_pak(s: Services, caller: Caller, agent_id: UUID) -> tuple[Agent, str]:
    """Give the agent a new PAK; the old one stops working (callers invalidate auth caches)."""
    require_admin_or_agent(caller, agent_id)
    pak = generate_pak(s.pak_settings)
    with s.uow() as uow:
        agent = load_agent(uow, agent_id)
        agent = uow.agents.update(attrs.evolve(agent, pak_hash=pak.hash, updated_at=s.clock.now()))
        uow.commit()
    s.audit_entry(caller, "pak.rotated", "agent", agent.id, {"agent_name": agent.name})
    return agent, pak.key


# --- what the agent deploys -------------------------------------------------------------------------------


def get_target_state(
    s: Services, caller: Caller, agent_id: UUID, mode: str | None = None
) -> list[DeploymentObject]:
    """The objects the agent must converge to: ``mode="full"`` gives all, anything else the incremental view.

    The hot path of every agent: an agent asking for itself is known to exist (it just authenticated), so no
    extra lookup is made; the admin asking about an unknown agent gets 404.
    """
    require_admin_or_agent(caller, agent_id)
    query = TargetStateQuery(agent_id=agent_id, incremental=mode != "full")
    with s.one_statement() as uow:
        if caller.actor.is_admin:
            load_agent(uow, agent_id)
        return uow.deployment_objects.target_state(query)


def associated_stacks(s: Services, caller: Caller, agent_id: UUID) -> list[Stack]:
    """Live stacks associated with the agent by explicit target, shared label or shared annotation pair."""
    require_admin_or_agent(caller, agent_id)
    with s.uow() as uow:
        load_agent(uow, agent_id)
        return uow.stacks.associated_with_agent(agent_id)


# --- labels, annotations, targets -------------------------------------------------------------------------


def list_agent_labels(s: Services, caller: Caller, agent_id: UUID) -> list[AgentLabel]:
    require_admin_or_agent(caller, agent_id)
    with s.uow() as uow:
        load_agent(uow, agent_id)
        return uow.agents.list_labels(agent_id)


def add_agent_label(
    s: Services, caller: Caller, agent_id: UUID, label: str, *, body_agent_id: UUID | None = None
) -> AgentLabel:
    """Label an agent (admin only: labels decide which stacks an agent receives). Duplicates are 409."""
    require_admin(caller)
    require_same_id(agent_id, body_agent_id, field="agent_id", code="agent_id_mismatch")
    check_label(label)
    with s.uow() as uow:
        load_agent(uow, agent_id)
        row = uow.agents.add_label(AgentLabel(id=s.ids.new_id(), agent_id=agent_id, label=label))
        uow.commit()
    s.audit_entry(caller, "agent.label_added", "agent", agent_id, {"label": label})
    return row


def remove_agent_label(s: Services, caller: Caller, agent_id: UUID, label: str) -> None:
    require_admin(caller)
    with s.uow() as uow:
        load_agent(uow, agent_id)
        if not uow.agents.remove_label(agent_id, label):
            raise NotFoundError(
                f"agent {agent_id} has no label {label!r}",
                code="agent_label_not_found",
                details={"label": label},
            )
        uow.commit()
    s.audit_entry(caller, "agent.label_removed", "agent", agent_id, {"label": label})


def list_agent_annotations(s: Services, caller: Caller, agent_id: UUID) -> list[AgentAnnotation]:
    require_admin_or_agent(caller, agent_id)
    with s.uow() as uow:
        load_agent(uow, agent_id)
        return uow.agents.list_annotations(agent_id)


def add_agent_annotation(
    s: Services, caller: Caller, agent_id: UUID, *, key: str, value: str, body_agent_id: UUID | None = None
) -> AgentAnnotation:
    """Annotate an agent (admin only); one value per key, so a second value for a key is 409."""
    require_admin(caller)
    require_same_id(agent_id, body_agent_id, field="agent_id", code="agent_id_mismatch")
    validate_annotation(key, value)
    with s.uow() as uow:
        load_agent(uow, agent_id)
        row = uow.agents.add_annotation(
            AgentAnnotation(id=s.ids.new_id(), agent_id=agent_id, key=key, value=value)
        )
        uow.commit()
    s.audit_entry(caller, "agent.annotation_added", "agent", agent_id, {"key": key, "value": value})
    return row


def remove_agent_annotation(s: Services, caller: Caller, agent_id: UUID, key: str) -> None:
    require_admin(caller)
    with s.uow() as uow:
        load_agent(uow, agent_id)
        if not uow.agents.remove_annotation(agent_id, key):
            raise NotFoundError(
                f"agent {agent_id} has no annotation {key!r}",
                code="agent_annotation_not_found",
                details={"key": key},
            )
        uow.commit()
    s.audit_entry(caller, "agent.annotation_removed", "agent", agent_id, {"key": key})


def list_agent_targets(s: Services, caller: Caller, agent_id: UUID) -> list[AgentTarget]:
    require_admin_or_agent(caller, agent_id)
    with s.uow() as uow:
        load_agent(uow, agent_id)
        return uow.agents.list_targets(agent_id)


def add_agent_target(
    s: Services, caller: Caller, agent_id: UUID, stack_id: UUID, *, body_agent_id: UUID | None = None
) -> AgentTarget:
    """Target the agent at a live stack (admin, or the agent itself as in v0.4.0). Duplicates are 409."""
    require_admin_or_agent(caller, agent_id)
    require_same_id(agent_id, body_agent_id, field="agent_id", code="agent_id_mismatch")
    with s.uow() as uow:
        load_agent(uow, agent_id)
        load_stack(uow, stack_id)
        row = uow.agents.add_target(AgentTarget(id=s.ids.new_id(), agent_id=agent_id, stack_id=stack_id))
        uow.commit()
    s.audit_entry(caller, "agent.target_added", "agent", agent_id, {"stack_id": str(stack_id)})
    return row


def remove_agent_target(s: Services, caller: Caller, agent_id: UUID, stack_id: UUID) -> None:
    require_admin_or_agent(caller, agent_id)
    with s.uow() as uow:
        load_agent(uow, agent_id)
        if not uow.agents.remove_target(agent_id, stack_id):
            raise NotFoundError(
                f"agent {agent_id} does not target stack {stack_id}",
                code="agent_target_not_found",
                details={"stack_id": str(stack_id)},
            )
        uow.commit()
    s.audit_entry(caller, "agent.target_removed", "agent", agent_id, {"stack_id": str(stack_id)})


__all__ = [
    "agent_context",
    "add_agent_annotation",
    "add_agent_label",
    "add_agent_target",
    "associated_stacks",
    "create_agent",
    "delete_agent",
    "find_agent",
    "get_agent",
    "get_target_state",
    "heartbeat",
    "list_agent_annotations",
    "list_agent_labels",
    "list_agent_targets",
    "list_agents",
    "remove_agent_annotation",
    "remove_agent_label",
    "remove_agent_target",
    "rotate_agent_pak",
    "update_agent",
]
