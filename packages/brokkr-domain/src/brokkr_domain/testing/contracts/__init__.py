"""One abstract pytest contract suite per repository port and for the unit of work.

Each adapter's test module subclasses every suite under a ``Test*`` name and provides two fixtures:

- ``uow_factory``: a zero-argument callable returning a fresh ``UnitOfWork`` over one clean store or database
  (clean per test);
- ``clock``: a :class:`~brokkr_domain.testing.fakes.FakeClock`.

Define them at module level, in a ``conftest.py`` or on the subclass; the suites define no fixtures
themselves, so nothing they declare can shadow yours. The suites use only the ports, so they hold for every
adapter.
"""

from brokkr_domain.testing.contracts.agents import AgentRepositoryContract, GeneratorRepositoryContract
from brokkr_domain.testing.contracts.cluster import ClusterContract
from brokkr_domain.testing.contracts.deployment_objects import (
    AgentEventRepositoryContract,
    DeploymentObjectRepositoryContract,
)
from brokkr_domain.testing.contracts.ops import (
    AdminRepositoryContract,
    AuditLogRepositoryContract,
    DeploymentHealthRepositoryContract,
    DiagnosticRepositoryContract,
)
from brokkr_domain.testing.contracts.stacks import StackRepositoryContract
from brokkr_domain.testing.contracts.templates import TemplateRepositoryContract
from brokkr_domain.testing.contracts.uow import UnitOfWorkContract
from brokkr_domain.testing.contracts.webhooks import WebhookRepositoryContract
from brokkr_domain.testing.contracts.work_orders import WorkOrderRepositoryContract

ALL_CONTRACTS = (
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

__all__ = [
    "ALL_CONTRACTS",
    "AdminRepositoryContract",
    "AgentEventRepositoryContract",
    "AgentRepositoryContract",
    "AuditLogRepositoryContract",
    "ClusterContract",
    "DeploymentHealthRepositoryContract",
    "DeploymentObjectRepositoryContract",
    "DiagnosticRepositoryContract",
    "GeneratorRepositoryContract",
    "StackRepositoryContract",
    "TemplateRepositoryContract",
    "UnitOfWorkContract",
    "WebhookRepositoryContract",
    "WorkOrderRepositoryContract",
]
