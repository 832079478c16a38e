"""Diagnostics (claimed by a conditional update), deployment health (upserted) and the audit log."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, Select, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from brokkr_adapters_postgres import mappers as m
from brokkr_adapters_postgres.repositories._base import SqlRepository, missing
from brokkr_adapters_postgres.tables import (
    audit_logs,
    deployment_health,
    deployment_objects,
    diagnostic_requests,
    diagnostic_results,
)
from brokkr_domain.model import (
    AuditEntry,
    DeploymentHealth,
    DiagnosticRequest,
    DiagnosticResult,
    DiagnosticStatus,
)
from brokkr_domain.ports.repositories import AuditQuery

_r = diagnostic_requests
_FINISHED = (DiagnosticStatus.EXPIRED.value, DiagnosticStatus.COMPLETED.value, DiagnosticStatus.FAILED.value)


class SqlDiagnosticRepository(SqlRepository):
    def add(self, request: DiagnosticRequest) -> DiagnosticRequest:
        self._run(insert(_r).values(m.diagnostic_request_to_row(request)))
        return request

    def get(self, request_id: UUID) -> DiagnosticRequest | None:
        row = self._run(select(_r).where(_r.c.id == request_id)).first()
        return m.diagnostic_request_from_row(row) if row is not None else None

    def pending_for_agent(self, agent_id: UUID, now: datetime) -> list[DiagnosticRequest]:
        query = (
            select(_r)
            .where(
                _r.c.agent_id == agent_id,
                _r.c.status == DiagnosticStatus.PENDING.value,
                _r.c.expires_at > now,
            )
            .order_by(_r.c.created_at, _r.c.id)
        )
        return [m.diagnostic_request_from_row(row) for row in self._run(query)]

    def claim(self, request_id: UUID, at: datetime) -> DiagnosticRequest | None:
        statement = (
            update(_r)
            .where(_r.c.id == request_id, _r.c.status == DiagnosticStatus.PENDING.value)
            .values(status=DiagnosticStatus.CLAIMED.value, claimed_at=at)
            .returning(*_r.c)
        )
        row = self._run(statement).first()
        return m.diagnostic_request_from_row(row) if row is not None else None

    def update(self, request: DiagnosticRequest) -> DiagnosticRequest:
        values = m.diagnostic_request_to_row(request)
        del values["id"]
        if self._run(update(_r).where(_r.c.id == request.id).values(values)).rowcount == 0:
            raise missing("diagnostic_request", request.id)
        return request

    def add_result(self, result: DiagnosticResult) -> DiagnosticResult:
        self._run(insert(diagnostic_results).values(m.diagnostic_result_to_row(result)))
        return result

    def get_result(self, request_id: UUID) -> DiagnosticResult | None:
        query = (
            select(diagnostic_results)
            .where(diagnostic_results.c.request_id == request_id)
            .order_by(diagnostic_results.c.created_at.desc(), diagnostic_results.c.id.desc())
            .limit(1)
        )
        row = self._run(query).first()
        return m.diagnostic_result_from_row(row) if row is not None else None

    def expire_pending(self, now: datetime) -> int:
        statement = (
            update(_r)
            .where(_r.c.status == DiagnosticStatus.PENDING.value, _r.c.expires_at <= now)
            .values(status=DiagnosticStatus.EXPIRED.value)
        )
        return self._run(statement).rowcount

    def delete_finished_before(self, cutoff: datetime) -> int:
        statement = delete(_r).where(_r.c.status.in_(_FINISHED), _r.c.created_at < cutoff)
        return self._run(statement).rowcount


_h = deployment_health


class SqlDeploymentHealthRepository(SqlRepository):
    def upsert(self, health: DeploymentHealth) -> DeploymentHealth:
        # One row per (agent, object): a new report overwrites status, summary, times; id, created_at stay.
        inserted = pg_insert(_h).values(m.health_to_row(health))
        statement = inserted.on_conflict_do_update(
            index_elements=[_h.c.agent_id, _h.c.deployment_object_id],
            set_={
                "status": inserted.excluded.status,
                "summary": inserted.excluded.summary,
                "checked_at": inserted.excluded.checked_at,
                "updated_at": inserted.excluded.updated_at,
            },
        ).returning(*_h.c)
        return m.health_from_row(self._run(statement).one())

    def list_for_object(self, object_id: UUID) -> list[DeploymentHealth]:
        query = select(_h).where(_h.c.deployment_object_id == object_id).order_by(_h.c.agent_id, _h.c.id)
        return [m.health_from_row(row) for row in self._run(query)]

    def list_for_stack(self, stack_id: UUID) -> list[DeploymentHealth]:
        query = (
            select(_h)
            .join(deployment_objects, deployment_objects.c.id == _h.c.deployment_object_id)
            .where(deployment_objects.c.stack_id == stack_id, deployment_objects.c.deleted_at.is_(None))
            .order_by(_h.c.deployment_object_id, _h.c.agent_id, _h.c.id)
        )
        return [m.health_from_row(row) for row in self._run(query)]


_a = audit_logs


def _audit_filters(query: AuditQuery) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if query.actor_type is not None:
        conditions.append(_a.c.actor_type == str(query.actor_type))
    if query.actor_id is not None:
        conditions.append(_a.c.actor_id == query.actor_id)
    if query.action is not None:
        if query.action.endswith("*"):
            conditions.append(_a.c.action.startswith(query.action[:-1], autoescape=True))
        else:
            conditions.append(_a.c.action == query.action)
    if query.resource_type is not None:
        conditions.append(_a.c.resource_type == query.resource_type)
    if query.resource_id is not None:
        conditions.append(_a.c.resource_id == query.resource_id)
    if query.since is not None:
        conditions.append(_a.c.timestamp >= query.since)
    if query.until is not None:
        conditions.append(_a.c.timestamp < query.until)
    return conditions


class SqlAuditLogRepository(SqlRepository):
    def add_many(self, entries: Sequence[AuditEntry]) -> None:
        if entries:
            self._run(insert(_a), [m.audit_to_row(entry) for entry in entries])

    def query(self, query: AuditQuery) -> tuple[list[AuditEntry], int]:
        conditions = _audit_filters(query)
        page: Select[Any] = (
            select(_a)
            .where(*conditions)
            .order_by(_a.c.timestamp.desc(), _a.c.id.desc())
            .limit(max(query.limit, 0))
            .offset(max(query.offset, 0))
        )
        total = self._run(select(func.count()).select_from(_a).where(*conditions)).scalar_one()
        return [m.audit_from_row(row) for row in self._run(page)], int(total)

    def delete_before(self, cutoff: datetime) -> int:
        return self._run(delete(_a).where(_a.c.created_at < cutoff)).rowcount


__all__ = [
    "SqlAuditLogRepository",
    "SqlDeploymentHealthRepository",
    "SqlDiagnosticRepository",
]
