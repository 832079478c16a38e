"""Authentication: resolve an ``Authorization`` header to the one identity its PAK belongs to.

Contract decision 1: ``Bearer <PAK>`` and a bare ``<PAK>`` are both accepted; anything missing, malformed or
unknown is an ``UnauthorizedError`` (401 with the JSON error body) — v0.4.0 panicked on a malformed key. The
lookup order is admin, agent, generator, so the ``admin-generator`` row that shares the admin's hash never
shadows the admin. A generator's ``is_active`` flag is informational and not enforced here, as in the
reference: deleting a generator or rotating its PAK is how its access is revoked.
"""

from __future__ import annotations

import hmac
from uuid import UUID

import attrs

from brokkr_domain.errors import UnauthorizedError
from brokkr_domain.model import Actor, Caller
from brokkr_domain.pak import hash_pak
from brokkr_domain.usecases.context import Services


@attrs.frozen(kw_only=True)
class AuthInfo:
    """Which identity a PAK resolved to (the ``POST /auth/pak`` answer): exactly one of the three is set."""

    admin: bool
    agent: UUID | None = None
    generator: UUID | None = None


def hash_of_header(authorization_header: str | None) -> str:
    """The stored-hash form of the header's PAK; ``UnauthorizedError`` if there is no well-formed PAK."""
    if authorization_header is None or not authorization_header.strip():
        raise UnauthorizedError("missing Authorization header (expected: Bearer <PAK>)")
    return hash_pak(authorization_header)


def authenticate(s: Services, authorization_header: str | None) -> Actor:
    """Resolve the header to the admin, an agent or a generator; ``UnauthorizedError`` otherwise.

    The admin hash is compared in constant time. Agents and generators are found by an indexed equality lookup
    on the hash: the hash of a high-entropy key is not a secret an attacker can approach byte by byte, and a
    timing difference reveals nothing that helps to forge a key.
    """
    pak_hash = hash_of_header(authorization_header)
    with s.one_statement() as uow:
        admin = uow.admin.get()
        if admin is not None and hmac.compare_digest(admin.pak_hash.encode(), pak_hash.encode()):
            return Actor.admin()
        agent = uow.agents.find_by_pak_hash(pak_hash)
        if agent is not None:
            return Actor.agent(agent.id)
        generator = uow.generators.find_by_pak_hash(pak_hash)
        if generator is not None:
            return Actor.generator(generator.id)
    raise UnauthorizedError("unknown PAK")


def whoami(caller: Caller) -> AuthInfo:
    """The identity of the caller, as ``POST /auth/pak`` reports it."""
    actor = caller.actor
    return AuthInfo(
        admin=actor.is_admin,
        agent=actor.id if actor.is_agent() else None,
        generator=actor.id if actor.is_generator() else None,
    )


__all__ = ["AuthInfo", "authenticate", "hash_of_header", "whoami"]
