"""In-memory adapters of every repository port and of the unit of work.

They behave like the PostgreSQL adapter (same uniqueness constraints and names, same foreign-key checks, same
orderings, real rollback) and are checked by the same contract suites, so use-case tests written against them
hold against the database too.
"""

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
from brokkr_domain.testing.inmemory.store import InMemoryStore, Tables
from brokkr_domain.testing.inmemory.templates import InMemoryTemplateRepository
from brokkr_domain.testing.inmemory.uow import InMemoryUnitOfWork, InMemoryUnitOfWorkFactory
from brokkr_domain.testing.inmemory.webhooks import (
    InMemoryWebhookDeliveryRepository,
    InMemoryWebhookSubscriptionRepository,
)
from brokkr_domain.testing.inmemory.work_orders import InMemoryWorkOrderRepository

__all__ = [
    "InMemoryAdminRepository",
    "InMemoryAgentEventRepository",
    "InMemoryAgentRepository",
    "InMemoryAuditLogRepository",
    "InMemoryDeploymentHealthRepository",
    "InMemoryDeploymentObjectRepository",
    "InMemoryDiagnosticRepository",
    "InMemoryGeneratorRepository",
    "InMemoryStackRepository",
    "InMemoryStore",
    "InMemoryTemplateRepository",
    "InMemoryUnitOfWork",
    "InMemoryUnitOfWorkFactory",
    "InMemoryWebhookDeliveryRepository",
    "InMemoryWebhookSubscriptionRepository",
    "InMemoryWorkOrderRepository",
    "Tables",
]
