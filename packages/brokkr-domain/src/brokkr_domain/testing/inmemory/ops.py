"""In-memory diagnostics, deployment health, audit log and admin role."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import attrs

from brokkr_domain.model import (
    AdminRole,
    AuditEntry,
    DeploymentHealth,
    DiagnosticRequest,
    DiagnosticResult,
    DiagnosticStatus,
)
from brokkr_domain.ports.repositories import AuditQuery
from brokkr_domain.testing.inmemory import constraints as c
from brokkr_domain.testing.inmemory.store import Tx, missing, unique_violation

_FINISHED = (DiagnosticStatus.EXPIRED, DiagnosticStatus.COMPLETED, DiagnosticStatus.FAILED)


class InMemoryDiagnosticRepository:
    def __init__(self, tx: Tx) -> None:
        self._tx = tx

    def add(self, request: DiagnosticRequest) -> DiagnosticRequest:
        tables = self._tx.tables
        if request.id in tables.diagnostic_requests:
            raise unique_violation(c.primary_key("diagnostic_requests"))
        if request.agent_id not in tables.agents:
            raise missing("agent", request.agent_id)
        if request.deployment_object_id not in tables.deployment_objects:
            raise missing("deployment_object", request.deployment_object_id)
        tables.diagnostic_requests[request.id] = request
        return request

    def get(self, request_id: UUID) -> DiagnosticRequest | None:
        return self._tx.tables.diagnostic_requests.get(request_id)

    def pending_for_agent(self, agent_id: UUID, now: datetime) -> list[DiagnosticRequest]:
        rows = [
            r
            for r in self._tx.tables.diagnostic_requests.values()
            if r.agent_id == agent_id and r.status == DiagnosticStatus.PENDING and r.expires_at > now
        ]
        return sorted(rows, key=lambda r: (r.created_at, r.id))

    def claim(self, request_id: UUID, at: datetime) -> DiagnosticRequest | None:
        request = self.get(request_id)
        if request is None or request.status != DiagnosticStatus.PENDING:
            return None
        claimed = attrs.evolve(request, status=DiagnosticStatus.CLAIMED, claimed_at=at)
        self._tx.tables.diagnostic_requests[request_id] = claimed
        return claimed

    def update(self, request: DiagnosticRequest) -> DiagnosticRequest:
        if request.id not in self._tx.tables.diagnostic_requests:
            raise missing("diagnostic_request", request.id)
        self._tx.tables.diagnostic_requests[request.id] = request
        return request

    def add_result(self, result: DiagnosticResult) -> DiagnosticResult:
        tables = self._tx.tables
        if result.id in tables.diagnostic_results:
            raise unique_violation(c.primary_key("diagnostic_results"))
        if result.request_id not in tables.diagnostic_requests:
            raise missing("diagnostic_request", result.request_id)
        tables.diagnostic_results[result.id] = result
        return result

    def get_result(self, request_id: UUID) -> DiagnosticResult | None:
        rows = [r for r in self._tx.tables.diagnostic_results.values() if r.request_id == request_id]
        return max(rows, key=lambda r: (r.created_at, r.id), default=None)

    def expire_pending(self, now: datetime) -> int:
        rows = self._tx.tables.diagnostic_requests
        due = [r for r in rows.values() if r.status == DiagnosticStatus.PENDING and r.expires_at <= now]
        for request in due:
            rows[request.id] = attrs.evolve(request, status=DiagnosticStatus.EXPIRED)
        return len(due)

    def delete_finished_before(self, cutoff: datetime) -> int:
        tables = self._tx.tables
        doomed = {
            r.id
            for r in tables.diagnostic_requests.values()
            if r.status in _FINISHED and r.created_at < cutoff
        }
        for request_id in doomed:
            del tables.diagnostic_requests[request_id]
        for result in list(tables.diagnostic_results.values()):
            if result.request_id in doomed:  # ON DELETE CASCADE
                del tables.diagnostic_results[result.id]
        return len(doomed)


class InMemoryDeploymentHealthRepository:
    def __init__(self, tx: Tx) -> None:
        self._tx = tx

    def upsert(self, health: DeploymentHealth) -> DeploymentHealth:
        tables = self._tx.tables
        if health.agent_id not in tables.agents:
            raise missing("agent", health.agent_id)
        if health.deployment_object_id not in tables.deployment_objects:
            raise missing("deployment_object", health.deployment_object_id)
        for row in tables.deployment_health.values():
            if (row.agent_id, row.deployment_object_id) == (health.agent_id, health.deployment_object_id):
                stored = attrs.evolve(
                    row,
                    status=health.status,
                    summary=health.summary,
                    checked_at=health.checked_at,
                    updated_at=health.updated_at,
                )
                tables.deployment_health[row.id] = stored
                return stored
        if health.id in tables.deployment_health:
            raise unique_violation(c.primary_key("deployment_health"))
        tables.deployment_health[health.id] = health
        return health

    def list_for_object(self, object_id: UUID) -> list[DeploymentHealth]:
        rows = [r for r in self._tx.tables.deployment_health.values() if r.deployment_object_id == object_id]
        return sorted(rows, key=lambda r: (r.agent_id, r.id))

    def list_for_stack(self, stack_id: UUID) -> list[DeploymentHealth]:
        objects = self._tx.tables.deployment_objects
        rows = [
            r
            for r in self._tx.tables.deployment_health.values()
            if (obj := objects.get(r.deployment_object_id)) is not None
            and obj.stack_id == stack_id
            and obj.deleted_at is None
        ]
        return sorted(rows, key=lambda r: (r.deployment_object_id, r.agent_id, r.id))


def _audit_matches(entry: AuditEntry, query: AuditQuery) -> bool:
    if query.actor_type is not None and entry.actor_type != query.actor_type:
        return False
    if query.actor_id is not None and entry.actor_id != query.actor_id:
        return False
    if query.action is not None:
        if query.action.endswith("*"):
            if not entry.action.startswith(query.action[:-1]):
                return False
        elif entry.action != query.action:
            return False
    if query.resource_type is not None and entry.resource_type != query.resource_type:
        return False
    if query.resource_id is not None and entry.resource_id != query.resource_id:
        return False
    if query.since is not None and entry.timestamp < query.since:
        return False
    return query.until is None or entry.timestamp < query.until


class InMemoryAuditLogRepository:
    def __init__(self, tx: Tx) -> None:
        self._tx = tx

    def add_many(self, entries: Sequence[AuditEntry]) -> None:
        rows = self._tx.tables.audit_logs
        for entry in entries:
            if entry.id in rows:
                raise unique_violation(c.primary_key("audit_logs"))
            rows[entry.id] = entry

    def query(self, query: AuditQuery) -> tuple[list[AuditEntry], int]:
        matches = [entry for entry in self._tx.tables.audit_logs.values() if _audit_matches(entry, query)]
        matches.sort(key=lambda entry: (entry.timestamp, entry.id), reverse=True)
        start = max(query.offset, 0)
        return matches[start : start + max(query.limit, 0)], len(matches)

    def delete_before(self, cutoff: datetime) -> int:
        rows = self._tx.tables.audit_logs
        doomed = [entry.id for entry in rows.values() if entry.created_at < cutoff]
        for entry_id in doomed:
            del rows[entry_id]
        return len(doomed)


class InMemoryAdminRepository:
    def __init__(self, tx: Tx) -> None:
        self._tx = tx

    def get(self) -> AdminRole | None:
        return self._tx.tables.admin

    def upsert(self, role: AdminRole) -> AdminRole:
        tables = self._tx.tables
        current = tables.admin
        stored = (
            role
            if current is None
            else attrs.evolve(current, pak_hash=role.pak_hash, updated_at=role.updated_at)
        )
        tables.admin = stored
        return stored

    def is_initialized(self) -> bool:
        return self._tx.tables.initialized_at is not None

    def mark_initialized(self, at: datetime) -> None:
        tables = self._tx.tables
        if tables.initialized_at is None:
            tables.initialized_at = at


__all__ = [
    "InMemoryAdminRepository",
    "InMemoryAuditLogRepository",
    "InMemoryDeploymentHealthRepository",
    "InMemoryDiagnosticRepository",
]
