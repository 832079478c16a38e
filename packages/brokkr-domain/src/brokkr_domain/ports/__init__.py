"""Ports: the capabilities the domain needs, as ``typing.Protocol``s implemented by adapters and fakes."""

from brokkr_domain.ports.broker_gateway import (
    BrokerGateway,
    DiagnosticReport,
    EventReport,
    HealthReport,
    RetryScheduled,
    WorkOrderCompletion,
)
from brokkr_domain.ports.cluster import Cluster, Manifest
from brokkr_domain.ports.http_sender import WebhookSender
from brokkr_domain.ports.repositories import (
    AdminRepository,
    AgentEventRepository,
    AgentRepository,
    AgentTargetingFacts,
    AuditLogRepository,
    AuditQuery,
    DeploymentHealthRepository,
    DeploymentObjectRepository,
    DiagnosticRepository,
    GeneratorRepository,
    StackRepository,
    TargetStateQuery,
    TemplateRepository,
    WebhookDeliveryRepository,
    WebhookSubscriptionRepository,
    WorkOrderRepository,
)
from brokkr_domain.ports.system import AuditSink, Clock, IdGenerator, RandomIds, SecretCipher, SystemClock
from brokkr_domain.ports.uow import UnitOfWork, UnitOfWorkFactory

__all__ = [
    "AdminRepository",
    "AgentEventRepository",
    "AgentRepository",
    "AgentTargetingFacts",
    "AuditLogRepository",
    "AuditQuery",
    "AuditSink",
    "BrokerGateway",
    "Clock",
    "Cluster",
    "DeploymentHealthRepository",
    "DeploymentObjectRepository",
    "DiagnosticReport",
    "DiagnosticRepository",
    "EventReport",
    "GeneratorRepository",
    "HealthReport",
    "IdGenerator",
    "Manifest",
    "RandomIds",
    "RetryScheduled",
    "SecretCipher",
    "StackRepository",
    "SystemClock",
    "TargetStateQuery",
    "TemplateRepository",
    "UnitOfWork",
    "UnitOfWorkFactory",
    "WebhookDeliveryRepository",
    "WebhookSender",
    "WebhookSubscriptionRepository",
    "WorkOrderCompletion",
    "WorkOrderRepository",
]
