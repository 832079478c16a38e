"""The unit of work: the one place that begins, commits and rolls back."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Protocol, Self

from brokkr_domain.ports.repositories import (
    AdminRepository,
    AgentEventRepository,
    AgentRepository,
    AuditLogRepository,
    DeploymentHealthRepository,
    DeploymentObjectRepository,
    DiagnosticRepository,
    GeneratorRepository,
    StackRepository,
    TemplateRepository,
    WebhookDeliveryRepository,
    WebhookSubscriptionRepository,
    WorkOrderRepository,
)


class UnitOfWork(Protocol):
    """``with uow_factory() as uow: ...; uow.commit()`` — leaving the block without commit rolls back."""

    admin: AdminRepository
    agents: AgentRepository
    generators: GeneratorRepository
    stacks: StackRepository
    deployment_objects: DeploymentObjectRepository
    agent_events: AgentEventRepository
    templates: TemplateRepository
    work_orders: WorkOrderRepository
    webhooks: WebhookSubscriptionRepository
    deliveries: WebhookDeliveryRepository
    diagnostics: DiagnosticRepository
    health: DeploymentHealthRepository
    audit: AuditLogRepository

    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...


UnitOfWorkFactory = Callable[[], UnitOfWork]
