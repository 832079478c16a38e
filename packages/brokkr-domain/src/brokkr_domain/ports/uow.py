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

    @property
    def admin(self) -> AdminRepository: ...
    @property
    def agents(self) -> AgentRepository: ...
    @property
    def generators(self) -> GeneratorRepository: ...
    @property
    def stacks(self) -> StackRepository: ...
    @property
    def deployment_objects(self) -> DeploymentObjectRepository: ...
    @property
    def agent_events(self) -> AgentEventRepository: ...
    @property
    def templates(self) -> TemplateRepository: ...
    @property
    def work_orders(self) -> WorkOrderRepository: ...
    @property
    def webhooks(self) -> WebhookSubscriptionRepository: ...
    @property
    def deliveries(self) -> WebhookDeliveryRepository: ...
    @property
    def diagnostics(self) -> DiagnosticRepository: ...
    @property
    def health(self) -> DeploymentHealthRepository: ...
    @property
    def audit(self) -> AuditLogRepository: ...

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
