"""Entities and values of Brokkr: frozen attrs classes changed with ``attrs.evolve``.

Field names follow the wire contract so that the apps' converters map them one to one.
"""

from brokkr_domain.model.agents import (
    Agent,
    AgentAnnotation,
    AgentEvent,
    AgentLabel,
    AgentStatus,
    AgentTarget,
)
from brokkr_domain.model.audit import ActorType, AuditEntry
from brokkr_domain.model.diagnostics import DiagnosticRequest, DiagnosticResult, DiagnosticStatus
from brokkr_domain.model.generators import AdminRole, Generator
from brokkr_domain.model.health import DeploymentHealth, HealthStatus, HealthSummary, ResourceHealth
from brokkr_domain.model.identity import Actor, ActorKind, Caller
from brokkr_domain.model.stacks import DeploymentObject, Stack, StackAnnotation, StackLabel
from brokkr_domain.model.templates import RenderedProvenance, StackTemplate, TemplateAnnotation, TemplateLabel
from brokkr_domain.model.webhooks import (
    DeliveryOutcome,
    DeliveryStatus,
    EventType,
    PendingWebhookDelivery,
    WebhookDelivery,
    WebhookEvent,
    WebhookFilters,
    WebhookSubscription,
)
from brokkr_domain.model.work_orders import WorkOrder, WorkOrderLog, WorkOrderStatus, WorkOrderTargeting

__all__ = [
    "Actor",
    "ActorKind",
    "ActorType",
    "AdminRole",
    "Agent",
    "AgentAnnotation",
    "AgentEvent",
    "AgentLabel",
    "AgentStatus",
    "AgentTarget",
    "AuditEntry",
    "Caller",
    "DeliveryOutcome",
    "DeliveryStatus",
    "DeploymentHealth",
    "DeploymentObject",
    "DiagnosticRequest",
    "DiagnosticResult",
    "DiagnosticStatus",
    "EventType",
    "Generator",
    "HealthStatus",
    "HealthSummary",
    "PendingWebhookDelivery",
    "RenderedProvenance",
    "ResourceHealth",
    "Stack",
    "StackAnnotation",
    "StackLabel",
    "StackTemplate",
    "TemplateAnnotation",
    "TemplateLabel",
    "WebhookDelivery",
    "WebhookEvent",
    "WebhookFilters",
    "WebhookSubscription",
    "WorkOrder",
    "WorkOrderLog",
    "WorkOrderStatus",
    "WorkOrderTargeting",
]
