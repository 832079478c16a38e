"""Small helpers shared by the operations use cases (work orders, diagnostics, webhooks, audit, templates).

They complement ``usecases._authz`` (which owns the common codes such as ``admin_required`` and
``agent_pak_mismatch``) with what only these modules need: an agent's targeting facts, the "an agent, but
which one depends on the resource" pre-check, and paging bounds.
"""

from __future__ import annotations

from uuid import UUID

from brokkr_domain.errors import ForbiddenError, ValidationError
from brokkr_domain.model import Caller
from brokkr_domain.ports import AgentTargetingFacts, UnitOfWork
from brokkr_domain.usecases._authz import load_agent


def agent_facts(uow: UnitOfWork, agent_id: UUID) -> AgentTargetingFacts:
    """The labels and annotation pairs of a live agent, as eligibility rules need them (404 if it is gone)."""
    load_agent(uow, agent_id)
    return AgentTargetingFacts(
        agent_id=agent_id,
        labels=frozenset(row.label for row in uow.agents.list_labels(agent_id)),
        annotations=frozenset((row.key, row.value) for row in uow.agents.list_annotations(agent_id)),
    )


def require_admin_or_some_agent(caller: Caller, *, code: str, message: str) -> None:
    """Refuse generators (and anything that is neither admin nor agent) before any lookup.

    Used where *which* agent may act depends on the resource (the one that claimed a work order, the one a
    diagnostic is for): the exact check happens after loading, but an identity that can never qualify learns
    nothing about which ids exist.
    """
    actor = caller.actor
    if not (actor.is_admin or actor.is_agent()):
        raise ForbiddenError(message, code=code)


def check_limit(limit: int, *, field: str = "limit", maximum: int | None = None, clamp: bool = False) -> int:
    """A page size: at least 0; above ``maximum`` it is clamped (``clamp``) or refused."""
    if isinstance(limit, bool) or limit < 0:
        raise ValidationError(
            f"{field} must not be negative, got {limit!r}", code="invalid_query", details={"field": field}
        )
    if maximum is not None and limit > maximum:
        if clamp:
            return maximum
        raise ValidationError(
            f"{field} must be at most {maximum}, got {limit}",
            code="invalid_query",
            details={"field": field, "maximum": maximum},
        )
    return limit


def check_offset(offset: int, *, field: str = "offset") -> int:
    if isinstance(offset, bool) or offset < 0:
        raise ValidationError(
            f"{field} must not be negative, got {offset!r}", code="invalid_query", details={"field": field}
        )
    return offset


__all__ = ["agent_facts", "check_limit", "check_offset", "require_admin_or_some_agent"]
