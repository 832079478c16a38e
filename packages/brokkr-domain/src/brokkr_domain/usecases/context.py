"""What every broker use case is given: the unit-of-work factory and the system ports."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import attrs

from brokkr_domain.model import ActorKind, ActorType, AuditEntry, Caller
from brokkr_domain.pak import PakSettings
from brokkr_domain.ports import (
    AuditSink,
    Clock,
    IdGenerator,
    RandomIds,
    SystemClock,
    UnitOfWork,
    UnitOfWorkFactory,
)
from brokkr_domain.usecases.heartbeats import HeartbeatGroup


class DiscardAudit:
    """An audit sink that drops entries (for tools that run without an audit log)."""

    def record(self, entry: AuditEntry) -> None:
        del entry


@attrs.frozen(kw_only=True)
class Services:
    """Dependencies of the use cases; the apps build one per process."""

    uow: UnitOfWorkFactory
    clock: Clock = attrs.field(factory=SystemClock)
    ids: IdGenerator = attrs.field(factory=RandomIds)
    audit: AuditSink = attrs.field(factory=DiscardAudit)
    pak_settings: PakSettings = attrs.field(factory=PakSettings)
    autocommit: UnitOfWorkFactory | None = None
    """Units of work whose statements each commit on their own (no BEGIN/COMMIT round trips); ``uow`` if None."""
    heartbeats: HeartbeatGroup = attrs.field(
        init=False, default=attrs.Factory(lambda self: HeartbeatGroup(self.one_statement), takes_self=True)
    )
    """Concurrent heartbeats share one UPDATE (group commit)."""

    def one_statement(self) -> UnitOfWork:
        """A unit of work for hot paths that read, or write with one statement (auth lookups, target-state
        polls, heartbeats): nothing to keep atomic, so no transaction around it."""
        return (self.autocommit or self.uow)()

    def audit_entry(
        self,
        caller: Caller,
        action: str,
        resource_type: str,
        resource_id: UUID | None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Record who did what: the real actor, its address and user agent (contract decision 9)."""
        now = self.clock.now()
        actor = caller.actor
        self.audit.record(
            AuditEntry(
                id=self.ids.new_id(),
                timestamp=now,
                actor_type=ActorType(actor.kind.value)
                if actor.kind is not ActorKind.SYSTEM
                else ActorType.SYSTEM,
                actor_id=actor.id,
                action=action,
                resource_type=resource_type,
                resource_id=resource_id,
                details=details,
                ip_address=caller.ip_address,
                user_agent=caller.user_agent,
                created_at=now,
            )
        )
