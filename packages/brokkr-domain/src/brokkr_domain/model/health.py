"""Deployment health as reported by agents, per (agent, deployment object)."""

from __future__ import annotations

import enum
from datetime import datetime
from uuid import UUID

import attrs


class HealthStatus(enum.StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    FAILING = "failing"
    UNKNOWN = "unknown"


@attrs.frozen(kw_only=True)
class ResourceHealth:
    kind: str
    name: str
    namespace: str
    ready: bool
    message: str | None = None


@attrs.frozen(kw_only=True)
class HealthSummary:
    pods_ready: int = 0
    pods_total: int = 0
    conditions: tuple[str, ...] = ()
    resources: tuple[ResourceHealth, ...] = ()


@attrs.frozen(kw_only=True)
class DeploymentHealth:
    id: UUID
    agent_id: UUID
    deployment_object_id: UUID
    status: HealthStatus
    summary: HealthSummary | None = None
    checked_at: datetime
    created_at: datetime
    updated_at: datetime
