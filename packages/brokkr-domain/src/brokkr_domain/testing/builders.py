"""Entity builders for tests: valid defaults, unique names, every field overridable by keyword.

They build values only; nothing is stored. Ids are random (``uuid4``) so that builders are safe against a
shared database; pass ``id=`` to choose one.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from brokkr_domain.model import (
    ActorType,
    Agent,
    AgentAnnotation,
    AgentEvent,
    AgentLabel,
    AgentTarget,
    AuditEntry,
    DeliveryStatus,
    DeploymentHealth,
    DeploymentObject,
    DiagnosticRequest,
    DiagnosticResult,
    Generator,
    HealthStatus,
    Stack,
    StackAnnotation,
    StackLabel,
    StackTemplate,
    TemplateAnnotation,
    TemplateLabel,
    WebhookDelivery,
    WebhookSubscription,
    WorkOrder,
    WorkOrderLog,
    WorkOrderTargeting,
)


def _uid() -> UUID:
    return uuid.uuid4()


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def agent(at: datetime, **overrides: Any) -> Agent:
    fields: dict[str, Any] = {
        "id": _uid(),
        "name": unique_name("agent"),
        "cluster_name": unique_name("cluster"),
        "created_at": at,
        "updated_at": at,
    }
    return Agent(**(fields | overrides))


def agent_label(agent_id: UUID, label: str) -> AgentLabel:
    return AgentLabel(id=_uid(), agent_id=agent_id, label=label)


def agent_annotation(agent_id: UUID, key: str, value: str) -> AgentAnnotation:
    return AgentAnnotation(id=_uid(), agent_id=agent_id, key=key, value=value)


def agent_target(agent_id: UUID, stack_id: UUID) -> AgentTarget:
    return AgentTarget(id=_uid(), agent_id=agent_id, stack_id=stack_id)


def generator(at: datetime, **overrides: Any) -> Generator:
    fields: dict[str, Any] = {
        "id": _uid(),
        "name": unique_name("generator"),
        "created_at": at,
        "updated_at": at,
    }
    return Generator(**(fields | overrides))


def stack(at: datetime, generator_id: UUID, **overrides: Any) -> Stack:
    fields: dict[str, Any] = {
        "id": _uid(),
        "name": unique_name("stack"),
        "generator_id": generator_id,
        "created_at": at,
        "updated_at": at,
    }
    return Stack(**(fields | overrides))


def stack_label(stack_id: UUID, label: str) -> StackLabel:
    return StackLabel(id=_uid(), stack_id=stack_id, label=label)


def stack_annotation(stack_id: UUID, key: str, value: str) -> StackAnnotation:
    return StackAnnotation(id=_uid(), stack_id=stack_id, key=key, value=value)


def deployment_object(at: datetime, stack_id: UUID, **overrides: Any) -> DeploymentObject:
    yaml_content = overrides.pop(
        "yaml_content", f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {_uid()}\n"
    )
    fields: dict[str, Any] = {
        "id": _uid(),
        "stack_id": stack_id,
        "yaml_content": yaml_content,
        "yaml_checksum": sha256_hex(yaml_content),
        "submitted_at": at,
        "created_at": at,
        "updated_at": at,
    }
    return DeploymentObject(**(fields | overrides))


def deletion_marker(at: datetime, stack_id: UUID, **overrides: Any) -> DeploymentObject:
    fields: dict[str, Any] = {"yaml_content": "", "is_deletion_marker": True}
    return deployment_object(at, stack_id, **(fields | overrides))


def agent_event(
    at: datetime, agent_id: UUID, object_id: UUID, status: str = "SUCCESS", **overrides: Any
) -> AgentEvent:
    fields: dict[str, Any] = {
        "id": _uid(),
        "agent_id": agent_id,
        "deployment_object_id": object_id,
        "event_type": "DEPLOY",
        "status": status,
        "created_at": at,
        "updated_at": at,
    }
    return AgentEvent(**(fields | overrides))


def template(at: datetime, generator_id: UUID | None = None, **overrides: Any) -> StackTemplate:
    content = overrides.pop(
        "template_content", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ name }}\n"
    )
    fields: dict[str, Any] = {
        "id": _uid(),
        "generator_id": generator_id,
        "name": unique_name("template"),
        "template_content": content,
        "parameters_schema": '{"type": "object"}',
        "checksum": sha256_hex(content),
        "created_at": at,
        "updated_at": at,
    }
    return StackTemplate(**(fields | overrides))


def template_label(at: datetime, template_id: UUID, label: str) -> TemplateLabel:
    return TemplateLabel(id=_uid(), template_id=template_id, label=label, created_at=at)


def template_annotation(at: datetime, template_id: UUID, key: str, value: str) -> TemplateAnnotation:
    return TemplateAnnotation(id=_uid(), template_id=template_id, key=key, value=value, created_at=at)


def work_order(at: datetime, targeting: WorkOrderTargeting | None = None, **overrides: Any) -> WorkOrder:
    fields: dict[str, Any] = {
        "id": _uid(),
        "work_type": "custom",
        "yaml_content": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: job\n",
        "targeting": targeting
        if targeting is not None
        else WorkOrderTargeting(labels=frozenset({"builder"})),
        "created_at": at,
        "updated_at": at,
    }
    return WorkOrder(**(fields | overrides))


def work_order_log(order: WorkOrder, at: datetime, *, success: bool = True, **overrides: Any) -> WorkOrderLog:
    fields: dict[str, Any] = {
        "id": order.id,
        "work_type": order.work_type,
        "created_at": order.created_at,
        "claimed_at": order.claimed_at,
        "claimed_by": order.claimed_by,
        "completed_at": at,
        "success": success,
        "retries_attempted": order.retry_count,
        "yaml_content": order.yaml_content,
    }
    return WorkOrderLog(**(fields | overrides))


def subscription(at: datetime, **overrides: Any) -> WebhookSubscription:
    fields: dict[str, Any] = {
        "id": _uid(),
        "name": unique_name("hook"),
        "url": "https://receiver.example/hook",
        "event_types": ("*",),
        "created_at": at,
        "updated_at": at,
    }
    return WebhookSubscription(**(fields | overrides))


def delivery(at: datetime, subscription_id: UUID, **overrides: Any) -> WebhookDelivery:
    event_id = overrides.pop("event_id", _uid())
    fields: dict[str, Any] = {
        "id": _uid(),
        "subscription_id": subscription_id,
        "event_type": "stack.created",
        "event_id": event_id,
        "payload": f'{{"id":"{event_id}","event_type":"stack.created","data":{{}}}}',
        "status": DeliveryStatus.PENDING,
        "created_at": at,
    }
    return WebhookDelivery(**(fields | overrides))


def diagnostic_request(at: datetime, agent_id: UUID, object_id: UUID, **overrides: Any) -> DiagnosticRequest:
    fields: dict[str, Any] = {
        "id": _uid(),
        "agent_id": agent_id,
        "deployment_object_id": object_id,
        "created_at": at,
        "expires_at": at + timedelta(minutes=60),
    }
    return DiagnosticRequest(**(fields | overrides))


def diagnostic_result(at: datetime, request_id: UUID, **overrides: Any) -> DiagnosticResult:
    fields: dict[str, Any] = {
        "id": _uid(),
        "request_id": request_id,
        "pod_statuses": "[]",
        "events": "[]",
        "collected_at": at,
        "created_at": at,
    }
    return DiagnosticResult(**(fields | overrides))


def health(at: datetime, agent_id: UUID, object_id: UUID, **overrides: Any) -> DeploymentHealth:
    fields: dict[str, Any] = {
        "id": _uid(),
        "agent_id": agent_id,
        "deployment_object_id": object_id,
        "status": HealthStatus.HEALTHY,
        "checked_at": at,
        "created_at": at,
        "updated_at": at,
    }
    return DeploymentHealth(**(fields | overrides))


def audit_entry(at: datetime, action: str = "agent.created", **overrides: Any) -> AuditEntry:
    fields: dict[str, Any] = {
        "id": _uid(),
        "timestamp": at,
        "actor_type": ActorType.ADMIN,
        "action": action,
        "resource_type": action.split(".", 1)[0],
        "created_at": at,
    }
    return AuditEntry(**(fields | overrides))


__all__ = [
    "agent",
    "agent_annotation",
    "agent_event",
    "agent_label",
    "agent_target",
    "audit_entry",
    "deletion_marker",
    "delivery",
    "deployment_object",
    "diagnostic_request",
    "diagnostic_result",
    "generator",
    "health",
    "sha256_hex",
    "stack",
    "stack_annotation",
    "stack_label",
    "subscription",
    "template",
    "template_annotation",
    "template_label",
    "unique_name",
    "work_order",
    "work_order_log",
]
