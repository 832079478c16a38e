"""Row ↔ entity mapping for agents, generators, admin, stacks, deployment objects and events.

Explicit functions instead of an ORM mapping keep the domain classes free of persistence concerns: a
``*_to_row`` gives the column values to write, a ``*_from_row`` rebuilds the frozen entity from a result row.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row

from brokkr_domain.model import (
    AdminRole,
    Agent,
    AgentAnnotation,
    AgentEvent,
    AgentLabel,
    AgentTarget,
    DeploymentObject,
    Generator,
    Stack,
    StackAnnotation,
    StackLabel,
)

Values = dict[str, Any]


def agent_to_row(agent: Agent) -> Values:
    return {
        "id": agent.id,
        "name": agent.name,
        "cluster_name": agent.cluster_name,
        "status": agent.status,
        "last_heartbeat": agent.last_heartbeat,
        "pak_hash": agent.pak_hash,
        "created_at": agent.created_at,
        "updated_at": agent.updated_at,
        "deleted_at": agent.deleted_at,
    }


def agent_from_row(row: Row[Any]) -> Agent:
    return Agent(
        id=row.id,
        name=row.name,
        cluster_name=row.cluster_name,
        status=row.status,
        last_heartbeat=row.last_heartbeat,
        pak_hash=row.pak_hash,
        created_at=row.created_at,
        updated_at=row.updated_at,
        deleted_at=row.deleted_at,
    )


def agent_label_to_row(label: AgentLabel) -> Values:
    return {"id": label.id, "agent_id": label.agent_id, "label": label.label}


def agent_label_from_row(row: Row[Any]) -> AgentLabel:
    return AgentLabel(id=row.id, agent_id=row.agent_id, label=row.label)


def agent_annotation_to_row(annotation: AgentAnnotation) -> Values:
    return {
        "id": annotation.id,
        "agent_id": annotation.agent_id,
        "key": annotation.key,
        "value": annotation.value,
    }


def agent_annotation_from_row(row: Row[Any]) -> AgentAnnotation:
    return AgentAnnotation(id=row.id, agent_id=row.agent_id, key=row.key, value=row.value)


def agent_target_to_row(target: AgentTarget) -> Values:
    return {"id": target.id, "agent_id": target.agent_id, "stack_id": target.stack_id}


def agent_target_from_row(row: Row[Any]) -> AgentTarget:
    return AgentTarget(id=row.id, agent_id=row.agent_id, stack_id=row.stack_id)


def agent_event_to_row(event: AgentEvent) -> Values:
    return {
        "id": event.id,
        "agent_id": event.agent_id,
        "deployment_object_id": event.deployment_object_id,
        "event_type": event.event_type,
        "status": event.status,
        "message": event.message,
        "created_at": event.created_at,
        "updated_at": event.updated_at,
        "deleted_at": event.deleted_at,
    }


def agent_event_from_row(row: Row[Any]) -> AgentEvent:
    return AgentEvent(
        id=row.id,
        agent_id=row.agent_id,
        deployment_object_id=row.deployment_object_id,
        event_type=row.event_type,
        status=row.status,
        message=row.message,
        created_at=row.created_at,
        updated_at=row.updated_at,
        deleted_at=row.deleted_at,
    )


def generator_to_row(generator: Generator) -> Values:
    return {
        "id": generator.id,
        "name": generator.name,
        "description": generator.description,
        "pak_hash": generator.pak_hash,
        "is_active": generator.is_active,
        "last_active_at": generator.last_active_at,
        "created_at": generator.created_at,
        "updated_at": generator.updated_at,
        "deleted_at": generator.deleted_at,
    }


def generator_from_row(row: Row[Any]) -> Generator:
    return Generator(
        id=row.id,
        name=row.name,
        description=row.description,
        pak_hash=row.pak_hash,
        is_active=row.is_active,
        last_active_at=row.last_active_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
        deleted_at=row.deleted_at,
    )


def admin_role_to_row(role: AdminRole) -> Values:
    return {
        "id": role.id,
        "pak_hash": role.pak_hash,
        "created_at": role.created_at,
        "updated_at": role.updated_at,
    }


def admin_role_from_row(row: Row[Any]) -> AdminRole:
    return AdminRole(id=row.id, pak_hash=row.pak_hash, created_at=row.created_at, updated_at=row.updated_at)


def stack_to_row(stack: Stack) -> Values:
    return {
        "id": stack.id,
        "name": stack.name,
        "description": stack.description,
        "generator_id": stack.generator_id,
        "created_at": stack.created_at,
        "updated_at": stack.updated_at,
        "deleted_at": stack.deleted_at,
    }


def stack_from_row(row: Row[Any]) -> Stack:
    return Stack(
        id=row.id,
        name=row.name,
        description=row.description,
        generator_id=row.generator_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
        deleted_at=row.deleted_at,
    )


def stack_label_to_row(label: StackLabel) -> Values:
    return {"id": label.id, "stack_id": label.stack_id, "label": label.label}


def stack_label_from_row(row: Row[Any]) -> StackLabel:
    return StackLabel(id=row.id, stack_id=row.stack_id, label=row.label)


def stack_annotation_to_row(annotation: StackAnnotation) -> Values:
    return {
        "id": annotation.id,
        "stack_id": annotation.stack_id,
        "key": annotation.key,
        "value": annotation.value,
    }


def stack_annotation_from_row(row: Row[Any]) -> StackAnnotation:
    return StackAnnotation(id=row.id, stack_id=row.stack_id, key=row.key, value=row.value)


def deployment_object_to_row(obj: DeploymentObject) -> Values:
    """Without ``sequence_id``: the database assigns it (a global identity)."""
    return {
        "id": obj.id,
        "stack_id": obj.stack_id,
        "yaml_content": obj.yaml_content,
        "yaml_checksum": obj.yaml_checksum,
        "is_deletion_marker": obj.is_deletion_marker,
        "submitted_at": obj.submitted_at,
        "created_at": obj.created_at,
        "updated_at": obj.updated_at,
        "deleted_at": obj.deleted_at,
    }


def deployment_object_from_row(row: Row[Any]) -> DeploymentObject:
    return DeploymentObject(
        id=row.id,
        stack_id=row.stack_id,
        sequence_id=row.sequence_id,
        yaml_content=row.yaml_content,
        yaml_checksum=row.yaml_checksum,
        is_deletion_marker=row.is_deletion_marker,
        submitted_at=row.submitted_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
        deleted_at=row.deleted_at,
    )
