"""Every repository contract suite of the domain, unchanged, against PostgreSQL."""

from __future__ import annotations

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


class TestPgAdminRepository(AdminRepositoryContract):
    pass


class TestPgAgentRepository(AgentRepositoryContract):
    pass


class TestPgAgentEventRepository(AgentEventRepositoryContract):
    pass


class TestPgAuditLogRepository(AuditLogRepositoryContract):
    pass


class TestPgDeploymentHealthRepository(DeploymentHealthRepositoryContract):
    pass


class TestPgDeploymentObjectRepository(DeploymentObjectRepositoryContract):
    pass


class TestPgDiagnosticRepository(DiagnosticRepositoryContract):
    pass


class TestPgGeneratorRepository(GeneratorRepositoryContract):
    pass


class TestPgStackRepository(StackRepositoryContract):
    pass


class TestPgTemplateRepository(TemplateRepositoryContract):
    pass


class TestPgUnitOfWork(UnitOfWorkContract):
    pass


class TestPgWebhookRepository(WebhookRepositoryContract):
    pass


class TestPgWorkOrderRepository(WorkOrderRepositoryContract):
    pass
