"""The in-memory unit of work: real commit and rollback over an :class:`InMemoryStore`."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from brokkr_domain.ports import (
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
    UnitOfWorkFactory,
    WebhookDeliveryRepository,
    WebhookSubscriptionRepository,
    WorkOrderRepository,
)
from brokkr_domain.testing.inmemory.agents import InMemoryAgentRepository, InMemoryGeneratorRepository
from brokkr_domain.testing.inmemory.ops import (
    InMemoryAdminRepository,
    InMemoryAuditLogRepository,
    InMemoryDeploymentHealthRepository,
    InMemoryDiagnosticRepository,
)
from brokkr_domain.testing.inmemory.stacks import (
    InMemoryAgentEventRepository,
    InMemoryDeploymentObjectRepository,
    InMemoryStackRepository,
)
from brokkr_domain.testing.inmemory.store import InMemoryStore, Tx
from brokkr_domain.testing.inmemory.templates import InMemoryTemplateRepository
from brokkr_domain.testing.inmemory.webhooks import (
    InMemoryWebhookDeliveryRepository,
    InMemoryWebhookSubscriptionRepository,
)
from brokkr_domain.testing.inmemory.work_orders import InMemoryWorkOrderRepository


class InMemoryUnitOfWork:
    """``with uow: ...; uow.commit()``. Leaving the block without committing discards every change.

    While open it holds the store's lock, so concurrent units of work (other threads) wait their turn; opening
    a second one in the same thread raises ``RuntimeError`` instead of deadlocking. ``commit`` may be called
    more than once; each commit publishes what was done since the previous one, like a database session.
    """

    def __init__(self, store: InMemoryStore) -> None:
        self._tx = Tx(store)
        tx = self._tx
        self.admin: AdminRepository = InMemoryAdminRepository(tx)
        self.agents: AgentRepository = InMemoryAgentRepository(tx)
        self.generators: GeneratorRepository = InMemoryGeneratorRepository(tx)
        self.stacks: StackRepository = InMemoryStackRepository(tx)
        self.deployment_objects: DeploymentObjectRepository = InMemoryDeploymentObjectRepository(tx)
        self.agent_events: AgentEventRepository = InMemoryAgentEventRepository(tx)
        self.templates: TemplateRepository = InMemoryTemplateRepository(tx)
        self.work_orders: WorkOrderRepository = InMemoryWorkOrderRepository(tx)
        self.webhooks: WebhookSubscriptionRepository = InMemoryWebhookSubscriptionRepository(tx)
        self.deliveries: WebhookDeliveryRepository = InMemoryWebhookDeliveryRepository(tx)
        self.diagnostics: DiagnosticRepository = InMemoryDiagnosticRepository(tx)
        self.health: DeploymentHealthRepository = InMemoryDeploymentHealthRepository(tx)
        self.audit: AuditLogRepository = InMemoryAuditLogRepository(tx)

    def __enter__(self) -> Self:
        self._tx.begin()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._tx.end()

    def commit(self) -> None:
        self._tx.commit()

    def rollback(self) -> None:
        self._tx.rollback()


class InMemoryUnitOfWorkFactory:
    """A ``UnitOfWorkFactory``: each call gives a new unit of work over the same store."""

    def __init__(self, store: InMemoryStore | None = None) -> None:
        self.store = store if store is not None else InMemoryStore()

    def __call__(self) -> InMemoryUnitOfWork:
        return InMemoryUnitOfWork(self.store)


def _conforms(factory: InMemoryUnitOfWorkFactory) -> UnitOfWorkFactory:
    """Never called: makes mypy prove that the in-memory unit of work implements the port."""
    return factory


__all__ = ["InMemoryUnitOfWork", "InMemoryUnitOfWorkFactory"]
