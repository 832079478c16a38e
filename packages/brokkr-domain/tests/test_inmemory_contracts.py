"""Every repository contract suite against the in-memory adapters."""

from __future__ import annotations

import pytest

from brokkr_domain.testing import FakeClock, InMemoryUnitOfWorkFactory
from brokkr_domain.testing.contracts import (
    AdminRepositoryContract,
    AgentEventRepositoryContract,
    AgentRepositoryContract,
    AuditLogRepositoryContract,
    DeploymentHealthRepositoryContract,
    DeploymentObjectRepositoryContract,
    DiagnosticRepositoryContract,
    GeneratorRepositoryContract,
    StackRepositoryContract,
    TemplateRepositoryContract,
    UnitOfWorkContract,
    WebhookRepositoryContract,
    WorkOrderRepositoryContract,
)


@pytest.fixture
def uow_factory() -> InMemoryUnitOfWorkFactory:
    return InMemoryUnitOfWorkFactory()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


class TestInMemoryAdminRepository(AdminRepositoryContract):
    pass


class TestInMemoryAgentRepository(AgentRepositoryContract):
    pass


class TestInMemoryAgentEventRepository(AgentEventRepositoryContract):
    pass


class TestInMemoryAuditLogRepository(AuditLogRepositoryContract):
    pass


class TestInMemoryDeploymentHealthRepository(DeploymentHealthRepositoryContract):
    pass


class TestInMemoryDeploymentObjectRepository(DeploymentObjectRepositoryContract):
    pass


class TestInMemoryDiagnosticRepository(DiagnosticRepositoryContract):
    pass


class TestInMemoryGeneratorRepository(GeneratorRepositoryContract):
    pass


class TestInMemoryStackRepository(StackRepositoryContract):
    pass


class TestInMemoryTemplateRepository(TemplateRepositoryContract):
    pass


class TestInMemoryUnitOfWork(UnitOfWorkContract):
    pass


class TestInMemoryWebhookRepository(WebhookRepositoryContract):
    pass


class TestInMemoryWorkOrderRepository(WorkOrderRepositoryContract):
    pass
