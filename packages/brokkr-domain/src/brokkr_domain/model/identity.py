"""Who is calling: the three identities a PAK can resolve to, plus the request context for audit."""

from __future__ import annotations

import enum
from uuid import UUID

import attrs


class ActorKind(enum.StrEnum):
    ADMIN = "admin"
    AGENT = "agent"
    GENERATOR = "generator"
    SYSTEM = "system"


@attrs.frozen(kw_only=True)
class Actor:
    """An authenticated identity. ``id`` is None for the admin and the system."""

    kind: ActorKind
    id: UUID | None = None

    @property
    def is_admin(self) -> bool:
        return self.kind is ActorKind.ADMIN

    def is_agent(self, agent_id: UUID | None = None) -> bool:
        return self.kind is ActorKind.AGENT and (agent_id is None or self.id == agent_id)

    def is_generator(self, generator_id: UUID | None = None) -> bool:
        return self.kind is ActorKind.GENERATOR and (generator_id is None or self.id == generator_id)

    @classmethod
    def admin(cls) -> Actor:
        return cls(kind=ActorKind.ADMIN)

    @classmethod
    def system(cls) -> Actor:
        return cls(kind=ActorKind.SYSTEM)

    @classmethod
    def agent(cls, agent_id: UUID) -> Actor:
        return cls(kind=ActorKind.AGENT, id=agent_id)

    @classmethod
    def generator(cls, generator_id: UUID) -> Actor:
        return cls(kind=ActorKind.GENERATOR, id=generator_id)


@attrs.frozen(kw_only=True)
class Caller:
    """The actor of one request plus where it came from (recorded in audit entries)."""

    actor: Actor
    ip_address: str | None = None
    user_agent: str | None = None

    @classmethod
    def system(cls) -> Caller:
        return cls(actor=Actor.system())
