"""The in-memory database: committed tables shared by every unit of work, guarded by one lock.

A unit of work holds the store's lock from ``__enter__`` to ``__exit__`` and works on a private copy of the
tables; ``commit`` swaps the copy in, anything else throws it away. Holding the lock for the whole unit makes
units of work serialisable, which is what ``FOR UPDATE SKIP LOCKED`` claims look like from outside: an item is
handed to exactly one caller. Entities are frozen, so copying a table is copying a dict of references.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any
from uuid import UUID

import attrs

from brokkr_domain.errors import ConflictError, NotFoundError
from brokkr_domain.model import (
    AdminRole,
    Agent,
    AgentAnnotation,
    AgentEvent,
    AgentLabel,
    AgentTarget,
    AuditEntry,
    DeploymentHealth,
    DeploymentObject,
    DiagnosticRequest,
    DiagnosticResult,
    Generator,
    RenderedProvenance,
    Stack,
    StackAnnotation,
    StackLabel,
    StackTemplate,
    TemplateAnnotation,
    TemplateLabel,
    WebhookDelivery,
    WebhookSubscription,
    WorkOrder,
    WorkOrderLog,
)


@attrs.define
class Tables:
    """Every table of the schema, keyed by primary key."""

    admin: AdminRole | None = None
    initialized_at: datetime | None = None
    agents: dict[UUID, Agent] = attrs.Factory(dict)
    agent_labels: dict[UUID, AgentLabel] = attrs.Factory(dict)
    agent_annotations: dict[UUID, AgentAnnotation] = attrs.Factory(dict)
    agent_targets: dict[UUID, AgentTarget] = attrs.Factory(dict)
    agent_events: dict[UUID, AgentEvent] = attrs.Factory(dict)
    generators: dict[UUID, Generator] = attrs.Factory(dict)
    stacks: dict[UUID, Stack] = attrs.Factory(dict)
    stack_labels: dict[UUID, StackLabel] = attrs.Factory(dict)
    stack_annotations: dict[UUID, StackAnnotation] = attrs.Factory(dict)
    deployment_objects: dict[UUID, DeploymentObject] = attrs.Factory(dict)
    provenance: dict[UUID, RenderedProvenance] = attrs.Factory(dict)
    templates: dict[UUID, StackTemplate] = attrs.Factory(dict)
    template_labels: dict[UUID, TemplateLabel] = attrs.Factory(dict)
    template_annotations: dict[UUID, TemplateAnnotation] = attrs.Factory(dict)
    work_orders: dict[UUID, WorkOrder] = attrs.Factory(dict)
    work_order_log: dict[UUID, WorkOrderLog] = attrs.Factory(dict)
    webhook_subscriptions: dict[UUID, WebhookSubscription] = attrs.Factory(dict)
    webhook_deliveries: dict[UUID, WebhookDelivery] = attrs.Factory(dict)
    diagnostic_requests: dict[UUID, DiagnosticRequest] = attrs.Factory(dict)
    diagnostic_results: dict[UUID, DiagnosticResult] = attrs.Factory(dict)
    deployment_health: dict[UUID, DeploymentHealth] = attrs.Factory(dict)
    audit_logs: dict[UUID, AuditEntry] = attrs.Factory(dict)

    def copy(self) -> Tables:
        changes: dict[str, Any] = {}
        for field in attrs.fields(Tables):
            value = getattr(self, field.name)
            if isinstance(value, dict):
                changes[field.name] = dict(value)
        return attrs.evolve(self, **changes)


class InMemoryStore:
    """The shared state behind any number of :class:`InMemoryUnitOfWork`; one per test (or per process)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owner: int | None = None
        self._committed = Tables()
        self._sequence = 0

    def acquire(self) -> Tables:
        """Take the lock and return a private copy of the committed tables."""
        me = threading.get_ident()
        if self._owner == me:
            raise RuntimeError(
                "a unit of work over this in-memory store is already open in this thread; nest none "
                "(it would deadlock against a database too)"
            )
        self._lock.acquire()
        self._owner = me
        return self._committed.copy()

    def release(self) -> None:
        self._owner = None
        self._lock.release()

    def publish(self, tables: Tables) -> Tables:
        """Make ``tables`` the committed state (caller holds the lock); returns a fresh working copy."""
        self._committed = tables
        return tables.copy()

    def committed_copy(self) -> Tables:
        """A copy of the committed state for the lock holder (a rollback starts over from it)."""
        return self._committed.copy()

    def snapshot(self) -> Tables:
        """A copy of the committed state, for assertions in tests; safe from any thread at any time.

        No lock needed: a published ``Tables`` is never mutated again (units of work get copies), and swapping
        the reference is atomic.
        """
        return self._committed.copy()

    def next_sequence(self) -> int:
        """The next global deployment-object sequence; like a database sequence it is never rolled back."""
        self._sequence += 1
        return self._sequence


class Tx:
    """The working state of one open unit of work, shared by its repositories."""

    def __init__(self, store: InMemoryStore) -> None:
        self.store = store
        self._tables: Tables | None = None

    @property
    def tables(self) -> Tables:
        if self._tables is None:
            raise RuntimeError("the unit of work is not open: use it in a `with` block")
        return self._tables

    def begin(self) -> None:
        self._tables = self.store.acquire()

    def commit(self) -> None:
        self._tables = self.store.publish(self.tables)

    def rollback(self) -> None:
        if self._tables is None:
            raise RuntimeError("the unit of work is not open: use it in a `with` block")
        self._tables = self.store.committed_copy()

    def end(self) -> None:
        if self._tables is not None:
            self._tables = None
            self.store.release()


def unique_violation(constraint: str) -> ConflictError:
    return ConflictError(
        f'duplicate key value violates unique constraint "{constraint}"',
        code="unique_violation",
        details={"constraint": constraint},
    )


def missing(kind: str, ident: object) -> NotFoundError:
    return NotFoundError(
        f"{kind} {ident} does not exist", code=f"{kind}_not_found", details={"id": str(ident)}
    )


__all__ = ["InMemoryStore", "Tables", "Tx", "missing", "unique_violation"]
