"""Agents (one per cluster) and what hangs off them: labels, annotations, explicit targets, events."""

from __future__ import annotations

import enum
from datetime import datetime
from uuid import UUID

import attrs


class AgentStatus(enum.StrEnum):
    """Well-known statuses. The wire allows free text; the agent only acts when ``ACTIVE``."""

    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"


@attrs.frozen(kw_only=True)
class Agent:
    id: UUID
    name: str
    cluster_name: str
    status: str = AgentStatus.INACTIVE.value
    last_heartbeat: datetime | None = None
    pak_hash: str = ""
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None

    @property
    def is_active(self) -> bool:
        return self.status == AgentStatus.ACTIVE.value


@attrs.frozen(kw_only=True)
class AgentLabel:
    id: UUID
    agent_id: UUID
    label: str


@attrs.frozen(kw_only=True)
class AgentAnnotation:
    id: UUID
    agent_id: UUID
    key: str
    value: str


@attrs.frozen(kw_only=True)
class AgentTarget:
    id: UUID
    agent_id: UUID
    stack_id: UUID


@attrs.frozen(kw_only=True)
class AgentEvent:
    """What an agent reports about one deployment object: ``status`` is SUCCESS or FAILURE."""

    id: UUID
    agent_id: UUID
    deployment_object_id: UUID
    event_type: str
    status: str
    message: str | None = None
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None

    @property
    def succeeded(self) -> bool:
        return self.status.upper() == "SUCCESS"
