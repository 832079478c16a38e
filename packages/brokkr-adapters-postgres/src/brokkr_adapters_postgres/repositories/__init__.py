"""One SQL repository per port of ``brokkr_domain.ports.repositories``."""

from brokkr_adapters_postgres.repositories.agents import (
    SqlAdminRepository,
    SqlAgentRepository,
    SqlGeneratorRepository,
)
from brokkr_adapters_postgres.repositories.objects import (
    SqlAgentEventRepository,
    SqlDeploymentObjectRepository,
)
from brokkr_adapters_postgres.repositories.ops import (
    SqlAuditLogRepository,
    SqlDeploymentHealthRepository,
    SqlDiagnosticRepository,
)
from brokkr_adapters_postgres.repositories.stacks import SqlStackRepository
from brokkr_adapters_postgres.repositories.templates import SqlTemplateRepository
from brokkr_adapters_postgres.repositories.webhooks import (
    SqlWebhookDeliveryRepository,
    SqlWebhookSubscriptionRepository,
)
from brokkr_adapters_postgres.repositories.work_orders import SqlWorkOrderRepository

__all__ = [
    "SqlAdminRepository",
    "SqlAgentEventRepository",
    "SqlAgentRepository",
    "SqlAuditLogRepository",
    "SqlDeploymentHealthRepository",
    "SqlDeploymentObjectRepository",
    "SqlDiagnosticRepository",
    "SqlGeneratorRepository",
    "SqlStackRepository",
    "SqlTemplateRepository",
    "SqlWebhookDeliveryRepository",
    "SqlWebhookSubscriptionRepository",
    "SqlWorkOrderRepository",
]
