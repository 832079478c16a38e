"""Stack use cases: stacks, their labels and annotations, and the deployment objects pushed into them.

Ownership: a stack belongs to one generator. The admin may act on any stack and create stacks for any
generator; a generator only on its own stacks and only for itself; agents never change stacks. Reading labels
and annotations is also open to agents associated with the stack (they are what associated them). Listing
stacks is open to generators (their own) — an extension: v0.4.0 made ``GET /stacks`` admin-only.

Deleting a stack soft-deletes its objects and appends a deletion marker (empty YAML) in the same unit of work;
the marker reaches every agent that deployed the stack (contract decision 4, see ``rules.target_state``).
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import attrs

from brokkr_domain.checksum import yaml_checksum
from brokkr_domain.errors import ForbiddenError, NotFoundError, ValidationError
from brokkr_domain.labels import validate_annotation
from brokkr_domain.manifests import parse_manifests
from brokkr_domain.model import Caller, DeploymentObject, EventType, Stack, StackAnnotation, StackLabel
from brokkr_domain.ports import UnitOfWork
from brokkr_domain.rules.webhooks import EventContext
from brokkr_domain.usecases._authz import (
    KEEP,
    Keep,
    check_label,
    load_generator,
    load_stack_for,
    optional_text,
    require_same_id,
    require_text,
)
from brokkr_domain.usecases.context import Services
from brokkr_domain.usecases.events import emit

NAME_MAX = 255
#: Largest accepted ``yaml_content``, in UTF-8 bytes: far above real manifests, far below what hurts the
#: broker.
MAX_YAML_BYTES = 4 * 1024 * 1024


def stack_context(uow: UnitOfWork, stack_id: UUID) -> EventContext:
    """What webhook filters may match for an event about this stack: its id, labels and annotations."""
    return EventContext(
        stack_id=stack_id,
        labels=frozenset(row.label for row in uow.stacks.list_labels(stack_id)),
        annotations={row.key: row.value for row in uow.stacks.list_annotations(stack_id)},
    )


# --- stacks -----------------------------------------------------------------------------------------------


def list_stacks(s: Services, caller: Caller) -> list[Stack]:
    """The admin sees every live stack, a generator its own; agents use ``/agents/{id}/stacks`` instead."""
    actor = caller.actor
    with s.uow() as uow:
        if actor.is_admin:
            return uow.stacks.list()
        if actor.is_generator() and actor.id is not None:
            return uow.stacks.list(generator_id=actor.id)
    raise ForbiddenError(
        "agents list their stacks with GET /agents/{id}/stacks", code="stacks_not_accessible"
    )


def create_stack(
    s: Services, caller: Caller, *, name: str, generator_id: UUID, description: str | None = None
) -> Stack:
    actor = caller.actor
    if actor.is_agent():
        raise ForbiddenError("agents cannot create stacks", code="stack_create_denied")
    if not actor.is_admin and not actor.is_generator(generator_id):
        raise ForbiddenError(
            "a generator may only create stacks it owns (generator_id must be its own id)",
            code="stack_generator_mismatch",
            details={"field": "generator_id"},
        )
    require_text(name, "name", max_length=NAME_MAX)
    optional_text(description, "description")
    now = s.clock.now()
    with s.uow() as uow:
        load_generator(uow, generator_id)
        stack = uow.stacks.add(
            Stack(
                id=s.ids.new_id(),
                name=name,
                description=description,
                generator_id=generator_id,
                created_at=now,
                updated_at=now,
            )
        )
        emit(
            uow,
            s,
            EventType.STACK_CREATED,
            {"stack_id": stack.id, "name": stack.name, "description": stack.description, "created_at": now},
            EventContext(stack_id=stack.id),
        )
        uow.commit()
    s.audit_entry(
        caller, "stack.created", "stack", stack.id, {"name": name, "generator_id": str(generator_id)}
    )
    return stack


def get_stack(s: Services, caller: Caller, stack_id: UUID) -> Stack:
    with s.uow() as uow:
        return load_stack_for(uow, caller, stack_id, "write")


def update_stack(
    s: Services,
    caller: Caller,
    stack_id: UUID,
    *,
    name: str | Keep = KEEP,
    description: str | Keep | None = KEEP,
    generator_id: UUID | Keep = KEEP,
    body_id: UUID | None = None,
) -> Stack:
    """Rename or re-describe a stack; only the admin may hand it to another (live) generator.

    v0.4.0 let the body overwrite anything, timestamps and owner included; here ids and timestamps are not
    writable, and a generator trying to give its stack away gets 403 ``stack_generator_mismatch``.
    """
    require_same_id(stack_id, body_id, field="id", code="stack_id_mismatch")
    if not isinstance(name, Keep):
        require_text(name, "name", max_length=NAME_MAX)
    if not isinstance(description, Keep):
        optional_text(description, "description")
    with s.uow() as uow:
        current = load_stack_for(uow, caller, stack_id, "write")
        owner = current.generator_id if isinstance(generator_id, Keep) else generator_id
        if owner != current.generator_id:
            if not caller.actor.is_admin:
                raise ForbiddenError(
                    "only the admin may move a stack to another generator",
                    code="stack_generator_mismatch",
                    details={"field": "generator_id"},
                )
            load_generator(uow, owner)
        stack = attrs.evolve(
            current,
            name=current.name if isinstance(name, Keep) else name,
            description=current.description if isinstance(description, Keep) else description,
            generator_id=owner,
        )
        if stack == current:
            return current
        stack = uow.stacks.update(attrs.evolve(stack, updated_at=s.clock.now()))
        uow.commit()
    details = {"name": stack.name, "generator_id": str(stack.generator_id)}
    s.audit_entry(caller, "stack.updated", "stack", stack.id, details)
    return stack


def delete_stack(s: Services, caller: Caller, stack_id: UUID) -> None:
    """Soft-delete a live stack: its objects go, a deletion marker is added, ``stack.deleted`` is emitted."""
    with s.uow() as uow:
        stack = load_stack_for(uow, caller, stack_id, "write")
        cascade_delete_stack(uow, s, stack, s.clock.now())
        uow.commit()
    s.audit_entry(caller, "stack.deleted", "stack", stack_id, {"name": stack.name})


def cascade_delete_stack(uow: UnitOfWork, s: Services, stack: Stack, at: datetime) -> DeploymentObject:
    """Everything deleting one stack means, inside the caller's unit of work; returns the deletion marker.

    The marker is added after the live objects are soft-deleted, so it stays live: it is the one object agents
    that deployed the stack still receive. (Deleting a generator reuses this, keeping its stacks' markers live
    — v0.4.0's generator trigger probably soft-deleted them too.)
    """
    context = stack_context(uow, stack.id)
    uow.deployment_objects.soft_delete_for_stack(stack.id, at)
    marker = uow.deployment_objects.add(new_deployment_object(s, stack.id, "", at, is_deletion_marker=True))
    uow.stacks.soft_delete(stack.id, at)
    emit(uow, s, EventType.STACK_DELETED, {"stack_id": stack.id, "deleted_at": at}, context)
    return marker


# --- labels and annotations -------------------------------------------------------------------------------


def list_stack_labels(s: Services, caller: Caller, stack_id: UUID) -> list[StackLabel]:
    with s.uow() as uow:
        load_stack_for(uow, caller, stack_id, "read")
        return uow.stacks.list_labels(stack_id)


def add_stack_label(s: Services, caller: Caller, stack_id: UUID, label: str) -> StackLabel:
    """Label a stack (agents with that label deploy it). Invalid ⇒ 400 ``invalid_label``; duplicate ⇒ 409."""
    check_label(label)
    with s.uow() as uow:
        load_stack_for(uow, caller, stack_id, "write")
        row = uow.stacks.add_label(StackLabel(id=s.ids.new_id(), stack_id=stack_id, label=label))
        uow.commit()
    s.audit_entry(caller, "stack.label_added", "stack", stack_id, {"label": label})
    return row


def remove_stack_label(s: Services, caller: Caller, stack_id: UUID, label: str) -> None:
    with s.uow() as uow:
        load_stack_for(uow, caller, stack_id, "write")
        if not uow.stacks.remove_label(stack_id, label):
            raise NotFoundError(
                f"stack {stack_id} has no label {label!r}",
                code="stack_label_not_found",
                details={"label": label},
            )
        uow.commit()
    s.audit_entry(caller, "stack.label_removed", "stack", stack_id, {"label": label})


def list_stack_annotations(s: Services, caller: Caller, stack_id: UUID) -> list[StackAnnotation]:
    with s.uow() as uow:
        load_stack_for(uow, caller, stack_id, "read")
        return uow.stacks.list_annotations(stack_id)


def add_stack_annotation(
    s: Services, caller: Caller, stack_id: UUID, *, key: str, value: str, body_stack_id: UUID | None = None
) -> StackAnnotation:
    """Annotate a stack; one value per key (v0.4.0 allowed several, which made matching ambiguous) ⇒ 409."""
    require_same_id(stack_id, body_stack_id, field="stack_id", code="stack_id_mismatch")
    validate_annotation(key, value)
    with s.uow() as uow:
        load_stack_for(uow, caller, stack_id, "write")
        row = uow.stacks.add_annotation(
            StackAnnotation(id=s.ids.new_id(), stack_id=stack_id, key=key, value=value)
        )
        uow.commit()
    s.audit_entry(caller, "stack.annotation_added", "stack", stack_id, {"key": key, "value": value})
    return row


def remove_stack_annotation(s: Services, caller: Caller, stack_id: UUID, key: str) -> None:
    with s.uow() as uow:
        load_stack_for(uow, caller, stack_id, "write")
        if not uow.stacks.remove_annotation(stack_id, key):
            raise NotFoundError(
                f"stack {stack_id} has no annotation {key!r}",
                code="stack_annotation_not_found",
                details={"key": key},
            )
        uow.commit()
    s.audit_entry(caller, "stack.annotation_removed", "stack", stack_id, {"key": key})


# --- deployment objects -----------------------------------------------------------------------------------


def list_deployment_objects(s: Services, caller: Caller, stack_id: UUID) -> list[DeploymentObject]:
    """Live objects of the stack, newest (highest sequence) first."""
    with s.uow() as uow:
        load_stack_for(uow, caller, stack_id, "write")
        return uow.deployment_objects.list_for_stack(stack_id)


def create_deployment_object(
    s: Services, caller: Caller, stack_id: UUID, *, yaml_content: str, is_deletion_marker: bool = False
) -> DeploymentObject:
    """Push a new immutable version of the stack's manifests and emit ``deployment.created``.

    The YAML must be non-blank (a deletion marker may be empty), at most 4 MiB, and parse as Kubernetes
    manifests — v0.4.0 stored anything and the agent failed later; here the pusher learns at once which
    document is wrong. Every valid push of v0.4.0 is still accepted.
    """
    check_yaml_content(yaml_content, allow_empty=is_deletion_marker)
    with s.uow() as uow:
        load_stack_for(uow, caller, stack_id, "write")
        obj = add_deployment_object(uow, s, stack_id, yaml_content, is_deletion_marker=is_deletion_marker)
        uow.commit()
    s.audit_entry(
        caller,
        "deployment_object.created",
        "deployment_object",
        obj.id,
        {"stack_id": str(stack_id), "sequence_id": obj.sequence_id, "is_deletion_marker": is_deletion_marker},
    )
    return obj


def new_deployment_object(
    s: Services, stack_id: UUID, yaml_content: str, at: datetime, *, is_deletion_marker: bool = False
) -> DeploymentObject:
    """A deployment object of the stack as it is first stored (the repository assigns its sequence id)."""
    return DeploymentObject(
        id=s.ids.new_id(),
        stack_id=stack_id,
        yaml_content=yaml_content,
        yaml_checksum=yaml_checksum(yaml_content),
        is_deletion_marker=is_deletion_marker,
        submitted_at=at,
        created_at=at,
        updated_at=at,
    )


def add_deployment_object(
    uow: UnitOfWork, s: Services, stack_id: UUID, yaml_content: str, *, is_deletion_marker: bool = False
) -> DeploymentObject:
    """Store the stack's next deployment object and emit ``deployment.created`` in the caller's transaction."""
    obj = uow.deployment_objects.add(
        new_deployment_object(s, stack_id, yaml_content, s.clock.now(), is_deletion_marker=is_deletion_marker)
    )
    emit(
        uow,
        s,
        EventType.DEPLOYMENT_CREATED,
        {
            "deployment_object_id": obj.id,
            "stack_id": stack_id,
            "sequence_id": obj.sequence_id,
            "created_at": obj.created_at,
        },
        stack_context(uow, stack_id),
    )
    return obj


def check_yaml_content(yaml_content: str, *, allow_empty: bool = False) -> None:
    """Validate a deployment object's YAML (rendered templates too); ``ValidationError`` if unusable."""
    if not yaml_content.strip():
        if allow_empty:
            return
        raise ValidationError(
            "yaml_content must not be empty", code="yaml_content_required", details={"field": "yaml_content"}
        )
    size = len(yaml_content.encode("utf-8", "surrogatepass"))
    if size > MAX_YAML_BYTES:
        raise ValidationError(
            f"yaml_content is {size} bytes; at most {MAX_YAML_BYTES} are accepted",
            code="yaml_content_too_large",
            details={"field": "yaml_content", "max_bytes": MAX_YAML_BYTES},
        )
    try:
        parse_manifests(yaml_content)
    except ValidationError as exc:
        raise ValidationError(
            f"yaml_content is not valid Kubernetes YAML: {exc.message}",
            code="invalid_deployment_object",
            details={"field": "yaml_content", **exc.details},
        ) from exc


__all__ = [
    "MAX_YAML_BYTES",
    "add_deployment_object",
    "add_stack_annotation",
    "add_stack_label",
    "cascade_delete_stack",
    "check_yaml_content",
    "create_deployment_object",
    "create_stack",
    "delete_stack",
    "get_stack",
    "list_deployment_objects",
    "list_stack_annotations",
    "list_stack_labels",
    "list_stacks",
    "new_deployment_object",
    "remove_stack_annotation",
    "remove_stack_label",
    "stack_context",
    "update_stack",
]
