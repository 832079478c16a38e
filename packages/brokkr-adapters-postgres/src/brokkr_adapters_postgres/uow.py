"""The SQL unit of work: one pooled connection, one transaction, every repository on it.

Only the unit of work begins, commits and rolls back. ``with factory() as uow: ...; uow.commit()`` — leaving
the block without ``commit`` rolls back, and the connection always goes back to the pool (a broken one is
discarded there, and a connection that rested is pinged at checkout: see ``engine.ping_idle_connections``).

``factory.autocommit()`` gives a unit of work in autocommit mode for hot paths that read or write with one
statement (target-state polls, heartbeats): no BEGIN/COMMIT round trips; each statement commits on its own and
sees the latest committed data.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy import Connection, Engine

from brokkr_adapters_postgres.errors import translated
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
from brokkr_domain.ports import (
    AdminRepository,
    AgentEventRepository,
    AgentRepository,
    AuditLogRepository,
    DeploymentHealthRepository,
    DeploymentObjectRepository,
    DiagnosticRepository,
    GeneratorRepository,
    SecretCipher,
    StackRepository,
    TemplateRepository,
    WebhookDeliveryRepository,
    WebhookSubscriptionRepository,
    WorkOrderRepository,
)


class SqlUnitOfWork:
    """Implements ``brokkr_domain.ports.UnitOfWork`` on one SQLAlchemy ``Connection``."""

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

    def __init__(self, engine: Engine, cipher: SecretCipher, *, autocommit: bool = False) -> None:
        self._engine = engine
        self._cipher = cipher
        self._autocommit = autocommit
        self._conn: Connection | None = None

    @property
    def connection(self) -> Connection:
        """The open connection (for adapters that need raw SQL in the same transaction)."""
        if self._conn is None:
            raise RuntimeError("the unit of work is not open: use it in a `with` block")
        return self._conn

    def __enter__(self) -> Self:
        if self._conn is not None:
            raise RuntimeError("this unit of work is already open")
        with translated():
            conn = self._engine.connect()
            if self._autocommit:
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        self._conn = conn
        self._bind(conn)
        return self

    def _bind(self, conn: Connection) -> None:
        self.admin = SqlAdminRepository(conn)
        self.agents = SqlAgentRepository(conn)
        self.generators = SqlGeneratorRepository(conn)
        self.stacks = SqlStackRepository(conn)
        self.deployment_objects = SqlDeploymentObjectRepository(conn)
        self.agent_events = SqlAgentEventRepository(conn)
        self.templates = SqlTemplateRepository(conn)
        self.work_orders = SqlWorkOrderRepository(conn)
        self.webhooks = SqlWebhookSubscriptionRepository(conn, self._cipher)
        self.deliveries = SqlWebhookDeliveryRepository(conn)
        self.diagnostics = SqlDiagnosticRepository(conn)
        self.health = SqlDeploymentHealthRepository(conn)
        self.audit = SqlAuditLogRepository(conn)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if conn.in_transaction():
                with translated():
                    conn.rollback()
        except Exception:
            if exc is None:  # never mask the exception that is already leaving the block
                raise
        finally:
            conn.close()

    def commit(self) -> None:
        with translated():
            self.connection.commit()

    def rollback(self) -> None:
        with translated():
            self.connection.rollback()


class SqlUnitOfWorkFactory:
    """A ``UnitOfWorkFactory`` over an engine; webhook secrets go through ``cipher``."""

    def __init__(self, engine: Engine, cipher: SecretCipher) -> None:
        self.engine = engine
        self.cipher = cipher

    def __call__(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine, self.cipher)

    def autocommit(self) -> SqlUnitOfWork:
        """A unit of work in autocommit mode: each statement commits alone, and ``commit`` has nothing to do."""
        return SqlUnitOfWork(self.engine, self.cipher, autocommit=True)


__all__ = ["SqlUnitOfWork", "SqlUnitOfWorkFactory"]
