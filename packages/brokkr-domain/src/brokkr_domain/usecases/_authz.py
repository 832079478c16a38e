"""Authorization and loading helpers shared by the broker use cases.

Every use case answers two questions before it changes anything: *who may do this* and *does the thing exist*.
Both are answered here once, so the error codes (``admin_required``, ``agent_pak_mismatch``,
``stack_not_owned``, ``agent_not_found`` ...) are spelled in one place and the authorization matrix cannot
drift between modules.

Ordering rule: when the decision does not depend on the resource (admin-only operations, an agent acting on
its own id), authorization is checked *before* the lookup, so a caller that may not act learns nothing about
which ids exist. When it does depend on the resource (a stack's owner), the resource is loaded first.
"""

from __future__ import annotations

import enum
from typing import Final, Literal
from uuid import UUID

from brokkr_domain.errors import ForbiddenError, NotFoundError, ValidationError
from brokkr_domain.labels import validate_label
from brokkr_domain.model import Agent, Caller, DeploymentObject, Generator, Stack
from brokkr_domain.ports import UnitOfWork


class Keep(enum.Enum):
    """Sentinel for partial updates: "leave this field as it is" (distinct from ``None`` = "clear it")."""

    KEEP = "keep"


KEEP: Final = Keep.KEEP

StackAccess = Literal["read", "write"]


# --- who may call -----------------------------------------------------------------------------------------


def require_admin(caller: Caller) -> None:
    if not caller.actor.is_admin:
        raise ForbiddenError("this operation requires the admin PAK", code="admin_required")


def require_admin_or_agent(caller: Caller, agent_id: UUID) -> None:
    """The admin, or the agent whose id is ``agent_id`` (the reference's ``agent_pak_mismatch``)."""
    actor = caller.actor
    if actor.is_admin or actor.is_agent(agent_id):
        return
    raise ForbiddenError(
        "only the admin or the agent itself may do this",
        code="agent_pak_mismatch",
        details={"agent_id": str(agent_id)},
    )


def require_self_agent(caller: Caller, agent_id: UUID) -> None:
    """Only the agent itself: operations that report on the agent's own liveness (not even the admin)."""
    if not caller.actor.is_agent(agent_id):
        raise ForbiddenError(
            "only the agent itself may do this",
            code="agent_pak_mismatch",
            details={"agent_id": str(agent_id)},
        )


def require_admin_or_generator(caller: Caller, generator_id: UUID) -> None:
    actor = caller.actor
    if actor.is_admin or actor.is_generator(generator_id):
        return
    raise ForbiddenError(
        "only the admin or the generator itself may do this",
        code="generator_not_owned",
        details={"generator_id": str(generator_id)},
    )


# --- loading ----------------------------------------------------------------------------------------------


def load_agent(uow: UnitOfWork, agent_id: UUID) -> Agent:
    agent = uow.agents.get(agent_id)
    if agent is None:
        raise NotFoundError(
            f"agent {agent_id} not found", code="agent_not_found", details={"id": str(agent_id)}
        )
    return agent


def load_generator(uow: UnitOfWork, generator_id: UUID) -> Generator:
    generator = uow.generators.get(generator_id)
    if generator is None:
        raise NotFoundError(
            f"generator {generator_id} not found",
            code="generator_not_found",
            details={"id": str(generator_id)},
        )
    return generator


def load_stack(uow: UnitOfWork, stack_id: UUID, *, include_deleted: bool = False) -> Stack:
    stack = uow.stacks.get(stack_id, include_deleted=include_deleted)
    if stack is None:
        raise NotFoundError(
            f"stack {stack_id} not found", code="stack_not_found", details={"id": str(stack_id)}
        )
    return stack


def load_deployment_object(
    uow: UnitOfWork, object_id: UUID, *, include_deleted: bool = False
) -> DeploymentObject:
    obj = uow.deployment_objects.get(object_id, include_deleted=include_deleted)
    if obj is None:
        raise NotFoundError(
            f"deployment object {object_id} not found",
            code="deployment_object_not_found",
            details={"id": str(object_id)},
        )
    return obj


def agent_is_associated(uow: UnitOfWork, agent_id: UUID, stack_id: UUID) -> bool:
    """Whether the agent must deploy the stack: explicit target, shared label or shared annotation pair."""
    if uow.agents.is_targeted(agent_id, stack_id):
        return True
    return any(stack.id == stack_id for stack in uow.stacks.associated_with_agent(agent_id))


def load_stack_for(uow: UnitOfWork, caller: Caller, stack_id: UUID, access: StackAccess = "write") -> Stack:
    """Load a live stack the caller may read or change.

    ``write``: the admin or the owning generator (403 ``stack_not_owned``). ``read`` additionally lets in an
    agent associated with the stack by any means (403 ``stack_not_accessible`` otherwise) — v0.4.0 only
    accepted an explicit target, so an agent selected by label could not read the labels that selected it.
    """
    actor = caller.actor
    stack = load_stack(uow, stack_id)
    if actor.is_admin or actor.is_generator(stack.generator_id):
        return stack
    if access == "read":
        if actor.is_agent() and actor.id is not None and agent_is_associated(uow, actor.id, stack_id):
            return stack
        raise ForbiddenError(
            "the caller is neither the admin, the owning generator nor an agent associated with this stack",
            code="stack_not_accessible",
            details={"stack_id": str(stack_id)},
        )
    raise ForbiddenError(
        "only the admin or the generator that owns this stack may do this",
        code="stack_not_owned",
        details={"stack_id": str(stack_id)},
    )


# --- input ------------------------------------------------------------------------------------------------


def require_text(value: str, field: str, *, max_length: int = 255, code: str | None = None) -> str:
    """A required, non-blank string of bounded length; returned unchanged (names are not silently trimmed).

    NUL characters are refused too: PostgreSQL cannot store them in text, so they would otherwise become a
    500.
    """
    if not value or not value.strip():
        raise ValidationError(
            f"{field} must not be blank", code=code or f"invalid_{field}", details={"field": field}
        )
    if "\0" in value:
        raise ValidationError(
            f"{field} must not contain NUL characters",
            code=code or f"invalid_{field}",
            details={"field": field},
        )
    if len(value) > max_length:
        raise ValidationError(
            f"{field} must be at most {max_length} characters (got {len(value)})",
            code=code or f"invalid_{field}",
            details={"field": field, "max_length": max_length},
        )
    return value


def optional_text(value: str | None, field: str, *, max_length: int | None = None) -> str | None:
    """An optional string that, when given, must not be blank (the reference's rule for descriptions)."""
    if value is None:
        return None
    if not value.strip() or "\0" in value:
        raise ValidationError(
            f"{field} must not be blank or contain NUL characters when given (omit it or send null instead)",
            code=f"invalid_{field}",
            details={"field": field},
        )
    if max_length is not None and len(value) > max_length:
        raise ValidationError(
            f"{field} must be at most {max_length} characters (got {len(value)})",
            code=f"invalid_{field}",
            details={"field": field, "max_length": max_length},
        )
    return value


def check_label(label: str) -> str:
    """``labels.validate_label`` with the offending field named in the error details."""
    try:
        return validate_label(label)
    except ValidationError as exc:
        exc.details.setdefault("field", "label")
        raise


def require_same_id(path_id: UUID, body_id: UUID | None, *, field: str, code: str) -> None:
    """Contract decision 10: an id repeated in the body must equal the id in the path."""
    if body_id is not None and body_id != path_id:
        raise ValidationError(
            f"{field} in the body ({body_id}) does not match the id in the path ({path_id})",
            code=code,
            details={"field": field, "path_id": str(path_id), "body_id": str(body_id)},
        )


__all__ = [
    "KEEP",
    "Keep",
    "StackAccess",
    "agent_is_associated",
    "check_label",
    "load_agent",
    "load_deployment_object",
    "load_generator",
    "load_stack",
    "load_stack_for",
    "optional_text",
    "require_admin",
    "require_admin_or_agent",
    "require_admin_or_generator",
    "require_same_id",
    "require_self_agent",
    "require_text",
]
