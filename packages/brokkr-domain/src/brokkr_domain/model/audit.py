"""Audit entries: who did what to which resource, immutable once written."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any
from uuid import UUID

import attrs


class ActorType(enum.StrEnum):
    ADMIN = "admin"
    AGENT = "agent"
    GENERATOR = "generator"
    SYSTEM = "system"


@attrs.frozen(kw_only=True)
class AuditEntry:
    id: UUID
    timestamp: datetime
    actor_type: ActorType
    actor_id: UUID | None = None
    action: str
    resource_type: str
    resource_id: UUID | None = None
    details: dict[str, Any] | None = None
    ip_address: str | None = None
    user_agent: str | None = None
    created_at: datetime
