"""Row ↔ entity mapping for templates, work orders, webhooks, diagnostics, health and audit entries.

Structured values (health summaries, webhook filters, audit details, template parameters) are JSONB; webhook
secrets go through the injected ``SecretCipher`` so only ciphertext reaches the database.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import Row

from brokkr_domain.model import (
    ActorType,
    AuditEntry,
    DeliveryStatus,
    DeploymentHealth,
    DiagnosticRequest,
    DiagnosticResult,
    DiagnosticStatus,
    HealthStatus,
    HealthSummary,
    RenderedProvenance,
    ResourceHealth,
    StackTemplate,
    TemplateAnnotation,
    TemplateLabel,
    WebhookDelivery,
    WebhookFilters,
    WebhookSubscription,
    WorkOrder,
    WorkOrderLog,
    WorkOrderStatus,
    WorkOrderTargeting,
)
from brokkr_domain.ports import SecretCipher

Values = dict[str, Any]


# --- templates ----------------------------------------------------------------------------------------------
def template_to_row(template: StackTemplate) -> Values:
    return {
        "id": template.id,
        "generator_id": template.generator_id,
        "name": template.name,
        "description": template.description,
        "version": template.version,
        "template_content": template.template_content,
        "parameters_schema": template.parameters_schema,
        "checksum": template.checksum,
        "created_at": template.created_at,
        "updated_at": template.updated_at,
        "deleted_at": template.deleted_at,
    }


def template_from_row(row: Row[Any]) -> StackTemplate:
    return StackTemplate(
        id=row.id,
        generator_id=row.generator_id,
        name=row.name,
        description=row.description,
        version=row.version,
        template_content=row.template_content,
        parameters_schema=row.parameters_schema,
        checksum=row.checksum,
        created_at=row.created_at,
        updated_at=row.updated_at,
        deleted_at=row.deleted_at,
    )


def template_label_to_row(label: TemplateLabel) -> Values:
    return {
        "id": label.id,
        "template_id": label.template_id,
        "label": label.label,
        "created_at": label.created_at,
    }


def template_label_from_row(row: Row[Any]) -> TemplateLabel:
    return TemplateLabel(id=row.id, template_id=row.template_id, label=row.label, created_at=row.created_at)


def template_annotation_to_row(annotation: TemplateAnnotation) -> Values:
    return {
        "id": annotation.id,
        "template_id": annotation.template_id,
        "key": annotation.key,
        "value": annotation.value,
        "created_at": annotation.created_at,
    }


def template_annotation_from_row(row: Row[Any]) -> TemplateAnnotation:
    return TemplateAnnotation(
        id=row.id, template_id=row.template_id, key=row.key, value=row.value, created_at=row.created_at
    )


def provenance_to_row(provenance: RenderedProvenance) -> Values:
    return {
        "id": provenance.id,
        "deployment_object_id": provenance.deployment_object_id,
        "template_id": provenance.template_id,
        "template_version": provenance.template_version,
        "template_parameters": provenance.template_parameters,
        "created_at": provenance.created_at,
    }


def provenance_from_row(row: Row[Any]) -> RenderedProvenance:
    return RenderedProvenance(
        id=row.id,
        deployment_object_id=row.deployment_object_id,
        template_id=row.template_id,
        template_version=row.template_version,
        template_parameters=row.template_parameters,
        created_at=row.created_at,
    )


# --- work orders --------------------------------------------------------------------------------------------
def work_order_to_row(order: WorkOrder) -> Values:
    """The ``work_orders`` columns; the targeting goes to its three child tables."""
    return {
        "id": order.id,
        "work_type": order.work_type,
        "yaml_content": order.yaml_content,
        "status": str(order.status),
        "claimed_by": order.claimed_by,
        "claimed_at": order.claimed_at,
        "claim_timeout_seconds": order.claim_timeout_seconds,
        "max_retries": order.max_retries,
        "retry_count": order.retry_count,
        "backoff_seconds": order.backoff_seconds,
        "next_retry_after": order.next_retry_after,
        "last_error": order.last_error,
        "last_error_at": order.last_error_at,
        "created_at": order.created_at,
        "updated_at": order.updated_at,
    }


def work_order_from_row(row: Row[Any]) -> WorkOrder:
    """Expects the targeting aggregated into arrays ``t_agents``, ``t_labels``, ``t_keys``, ``t_values``."""
    targeting = WorkOrderTargeting(
        agent_ids=frozenset(row.t_agents or ()),
        labels=frozenset(row.t_labels or ()),
        annotations=frozenset(zip(row.t_keys or (), row.t_values or (), strict=True)),
    )
    return WorkOrder(
        id=row.id,
        work_type=row.work_type,
        yaml_content=row.yaml_content,
        status=WorkOrderStatus(row.status),
        claimed_by=row.claimed_by,
        claimed_at=row.claimed_at,
        claim_timeout_seconds=row.claim_timeout_seconds,
        max_retries=row.max_retries,
        retry_count=row.retry_count,
        backoff_seconds=row.backoff_seconds,
        next_retry_after=row.next_retry_after,
        last_error=row.last_error,
        last_error_at=row.last_error_at,
        targeting=targeting,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def work_order_log_to_row(entry: WorkOrderLog) -> Values:
    return {
        "id": entry.id,
        "work_type": entry.work_type,
        "created_at": entry.created_at,
        "claimed_at": entry.claimed_at,
        "completed_at": entry.completed_at,
        "claimed_by": entry.claimed_by,
        "success": entry.success,
        "retries_attempted": entry.retries_attempted,
        "result_message": entry.result_message,
        "yaml_content": entry.yaml_content,
    }


def work_order_log_from_row(row: Row[Any]) -> WorkOrderLog:
    return WorkOrderLog(
        id=row.id,
        work_type=row.work_type,
        created_at=row.created_at,
        claimed_at=row.claimed_at,
        completed_at=row.completed_at,
        claimed_by=row.claimed_by,
        success=row.success,
        retries_attempted=row.retries_attempted,
        result_message=row.result_message,
        yaml_content=row.yaml_content,
    )


# --- webhooks -----------------------------------------------------------------------------------------------
def _filters_to_json(filters: WebhookFilters | None) -> dict[str, Any] | None:
    if filters is None:
        return None
    return {
        "agent_id": str(filters.agent_id) if filters.agent_id is not None else None,
        "stack_id": str(filters.stack_id) if filters.stack_id is not None else None,
        "labels": filters.labels,
    }


def _filters_from_json(data: dict[str, Any] | None) -> WebhookFilters | None:
    if data is None:
        return None
    agent_id, stack_id = data.get("agent_id"), data.get("stack_id")
    return WebhookFilters(
        agent_id=UUID(agent_id) if agent_id else None,
        stack_id=UUID(stack_id) if stack_id else None,
        labels=data.get("labels"),
    )


def _encrypt(cipher: SecretCipher, value: str | None) -> bytes | None:
    return cipher.encrypt(value) if value is not None else None


def _decrypt(cipher: SecretCipher, value: bytes | None) -> str | None:
    return cipher.decrypt(bytes(value)) if value is not None else None


def subscription_to_row(subscription: WebhookSubscription, cipher: SecretCipher) -> Values:
    return {
        "id": subscription.id,
        "name": subscription.name,
        "url_encrypted": cipher.encrypt(subscription.url),
        "auth_header_encrypted": _encrypt(cipher, subscription.auth_header),
        "signing_secret_encrypted": _encrypt(cipher, subscription.signing_secret),
        "event_types": list(subscription.event_types),
        "filters": _filters_to_json(subscription.filters),
        "target_labels": list(subscription.target_labels) if subscription.target_labels is not None else None,
        "enabled": subscription.enabled,
        "max_retries": subscription.max_retries,
        "timeout_seconds": subscription.timeout_seconds,
        "created_by": subscription.created_by,
        "created_at": subscription.created_at,
        "updated_at": subscription.updated_at,
    }


def subscription_from_row(row: Row[Any], cipher: SecretCipher) -> WebhookSubscription:
    return WebhookSubscription(
        id=row.id,
        name=row.name,
        url=cipher.decrypt(bytes(row.url_encrypted)),
        auth_header=_decrypt(cipher, row.auth_header_encrypted),
        signing_secret=_decrypt(cipher, row.signing_secret_encrypted),
        event_types=tuple(row.event_types),
        filters=_filters_from_json(row.filters),
        target_labels=tuple(row.target_labels) if row.target_labels is not None else None,
        enabled=row.enabled,
        max_retries=row.max_retries,
        timeout_seconds=row.timeout_seconds,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def delivery_to_row(delivery: WebhookDelivery) -> Values:
    return {
        "id": delivery.id,
        "subscription_id": delivery.subscription_id,
        "event_type": delivery.event_type,
        "event_id": delivery.event_id,
        "payload": delivery.payload,
        "target_labels": list(delivery.target_labels) if delivery.target_labels is not None else None,
        "status": str(delivery.status),
        "acquired_by": delivery.acquired_by,
        "acquired_until": delivery.acquired_until,
        "attempts": delivery.attempts,
        "last_attempt_at": delivery.last_attempt_at,
        "next_retry_at": delivery.next_retry_at,
        "last_error": delivery.last_error,
        "created_at": delivery.created_at,
        "completed_at": delivery.completed_at,
    }


def delivery_from_row(row: Row[Any]) -> WebhookDelivery:
    return WebhookDelivery(
        id=row.id,
        subscription_id=row.subscription_id,
        event_type=row.event_type,
        event_id=row.event_id,
        payload=row.payload,
        target_labels=tuple(row.target_labels) if row.target_labels is not None else None,
        status=DeliveryStatus(row.status),
        acquired_by=row.acquired_by,
        acquired_until=row.acquired_until,
        attempts=row.attempts,
        last_attempt_at=row.last_attempt_at,
        next_retry_at=row.next_retry_at,
        last_error=row.last_error,
        created_at=row.created_at,
        completed_at=row.completed_at,
    )


# --- diagnostics, health, audit -----------------------------------------------------------------------------
def diagnostic_request_to_row(request: DiagnosticRequest) -> Values:
    return {
        "id": request.id,
        "agent_id": request.agent_id,
        "deployment_object_id": request.deployment_object_id,
        "status": str(request.status),
        "requested_by": request.requested_by,
        "created_at": request.created_at,
        "claimed_at": request.claimed_at,
        "completed_at": request.completed_at,
        "expires_at": request.expires_at,
    }


def diagnostic_request_from_row(row: Row[Any]) -> DiagnosticRequest:
    return DiagnosticRequest(
        id=row.id,
        agent_id=row.agent_id,
        deployment_object_id=row.deployment_object_id,
        status=DiagnosticStatus(row.status),
        requested_by=row.requested_by,
        created_at=row.created_at,
        claimed_at=row.claimed_at,
        completed_at=row.completed_at,
        expires_at=row.expires_at,
    )


def diagnostic_result_to_row(result: DiagnosticResult) -> Values:
    return {
        "id": result.id,
        "request_id": result.request_id,
        "pod_statuses": result.pod_statuses,
        "events": result.events,
        "log_tails": result.log_tails,
        "collected_at": result.collected_at,
        "created_at": result.created_at,
    }


def diagnostic_result_from_row(row: Row[Any]) -> DiagnosticResult:
    return DiagnosticResult(
        id=row.id,
        request_id=row.request_id,
        pod_statuses=row.pod_statuses,
        events=row.events,
        log_tails=row.log_tails,
        collected_at=row.collected_at,
        created_at=row.created_at,
    )


def _summary_to_json(summary: HealthSummary | None) -> dict[str, Any] | None:
    if summary is None:
        return None
    return {
        "pods_ready": summary.pods_ready,
        "pods_total": summary.pods_total,
        "conditions": list(summary.conditions),
        "resources": [
            {"kind": r.kind, "name": r.name, "namespace": r.namespace, "ready": r.ready, "message": r.message}
            for r in summary.resources
        ],
    }


def _summary_from_json(data: dict[str, Any] | None) -> HealthSummary | None:
    if data is None:
        return None
    return HealthSummary(
        pods_ready=data.get("pods_ready", 0),
        pods_total=data.get("pods_total", 0),
        conditions=tuple(data.get("conditions", ())),
        resources=tuple(ResourceHealth(**resource) for resource in data.get("resources", ())),
    )


def health_to_row(health: DeploymentHealth) -> Values:
    return {
        "id": health.id,
        "agent_id": health.agent_id,
        "deployment_object_id": health.deployment_object_id,
        "status": str(health.status),
        "summary": _summary_to_json(health.summary),
        "checked_at": health.checked_at,
        "created_at": health.created_at,
        "updated_at": health.updated_at,
    }


def health_from_row(row: Row[Any]) -> DeploymentHealth:
    return DeploymentHealth(
        id=row.id,
        agent_id=row.agent_id,
        deployment_object_id=row.deployment_object_id,
        status=HealthStatus(row.status),
        summary=_summary_from_json(row.summary),
        checked_at=row.checked_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def audit_to_row(entry: AuditEntry) -> Values:
    return {
        "id": entry.id,
        "timestamp": entry.timestamp,
        "actor_type": ActorType(entry.actor_type).value,
        "actor_id": entry.actor_id,
        "action": entry.action,
        "resource_type": entry.resource_type,
        "resource_id": entry.resource_id,
        "details": entry.details,
        "ip_address": entry.ip_address,
        "user_agent": entry.user_agent,
        "created_at": entry.created_at,
    }


def audit_from_row(row: Row[Any]) -> AuditEntry:
    return AuditEntry(
        id=row.id,
        timestamp=row.timestamp,
        actor_type=ActorType(row.actor_type),
        actor_id=row.actor_id,
        action=row.action,
        resource_type=row.resource_type,
        resource_id=row.resource_id,
        details=row.details,
        ip_address=row.ip_address,
        user_agent=row.user_agent,
        created_at=row.created_at,
    )
