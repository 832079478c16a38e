"""Generator use cases: the CI identities that own stacks and templates.

The admin lists and creates generators; a generator may read, update, rotate and delete itself. Deleting a
generator deletes what it owns, in the same unit of work: each live stack exactly as ``DELETE /stacks/{id}``
would (objects soft-deleted, a deletion marker added, ``stack.deleted`` emitted) and its templates.
"""

from __future__ import annotations

from uuid import UUID

import attrs

from brokkr_domain.model import Caller, Generator
from brokkr_domain.pak import generate_pak
from brokkr_domain.usecases._authz import (
    KEEP,
    Keep,
    load_generator,
    optional_text,
    require_admin,
    require_admin_or_generator,
    require_same_id,
    require_text,
)
from brokkr_domain.usecases.context import Services
from brokkr_domain.usecases.stacks import cascade_delete_stack

NAME_MAX = 255


def list_generators(s: Services, caller: Caller) -> list[Generator]:
    require_admin(caller)
    with s.uow() as uow:
        return uow.generators.list()


def create_generator(
    s: Services, caller: Caller, *, name: str, description: str | None = None
) -> tuple[Generator, str]:
    """Create a generator and return it with its PAK, shown this once only. A live duplicate name is 409."""
    require_admin(caller)
    require_text(name, "name", max_length=NAME_MAX)
    optional_text(description, "description")
    pak = generate_pak(s.pak_settings)
    now = s.clock.now()
    with s.uow() as uow:
        generator = uow.generators.add(
            Generator(
                id=s.ids.new_id(),
                name=name,
                description=description,
                pak_hash=pak.hash,
                created_at=now,
                updated_at=now,
            )
        )
        uow.commit()
    s.audit_entry(caller, "generator.created", "generator", generator.id, {"name": name})
    return generator, pak.key


def get_generator(s: Services, caller: Caller, generator_id: UUID) -> Generator:
    require_admin_or_generator(caller, generator_id)
    with s.uow() as uow:
        return load_generator(uow, generator_id)


def update_generator(
    s: Services,
    caller: Caller,
    generator_id: UUID,
    *,
    name: str | Keep = KEEP,
    description: str | Keep | None = KEEP,
    is_active: bool | Keep = KEEP,
    body_id: UUID | None = None,
) -> Generator:
    """Change name, description or ``is_active``; ids, timestamps and the PAK hash are not writable."""
    require_admin_or_generator(caller, generator_id)
    require_same_id(generator_id, body_id, field="id", code="generator_id_mismatch")
    if not isinstance(name, Keep):
        require_text(name, "name", max_length=NAME_MAX)
    if not isinstance(description, Keep):
        optional_text(description, "description")
    with s.uow() as uow:
        current = load_generator(uow, generator_id)
        generator = attrs.evolve(
            current,
            name=current.name if isinstance(name, Keep) else name,
            description=current.description if isinstance(description, Keep) else description,
            is_active=current.is_active if isinstance(is_active, Keep) else is_active,
        )
        if generator == current:
            return current
        generator = uow.generators.update(attrs.evolve(generator, updated_at=s.clock.now()))
        uow.commit()
    s.audit_entry(
        caller,
        "generator.updated",
        "generator",
        generator_id,
        {"name": generator.name, "description": generator.description, "is_active": generator.is_active},
    )
    return generator


def delete_generator(s: Services, caller: Caller, generator_id: UUID) -> None:
    """Soft-delete a live generator with its stacks (each with a deletion marker) and its templates."""
    require_admin_or_generator(caller, generator_id)
    now = s.clock.now()
    with s.uow() as uow:
        generator = load_generator(uow, generator_id)
        stacks = uow.stacks.list(generator_id=generator_id)
        for stack in stacks:
            cascade_delete_stack(uow, s, stack, now)
        templates = uow.templates.soft_delete_for_generator(generator_id, now)
        uow.generators.soft_delete(generator_id, now)
        uow.commit()
    s.audit_entry(
        caller,
        "generator.deleted",
        "generator",
        generator_id,
        {"name": generator.name, "stacks_deleted": len(stacks), "templates_deleted": templates},
    )


def rotate_generator_pak(s: Services, caller: Caller, generator_id: UUID) -> tuple[Generator, str]:
    """Give the generator a new PAK; the old one stops working (callers invalidate auth caches)."""
    require_admin_or_generator(caller, generator_id)
    pak = generate_pak(s.pak_settings)
    with s.uow() as uow:
        generator = load_generator(uow, generator_id)
        generator = uow.generators.update(
            attrs.evolve(generator, pak_hash=pak.hash, updated_at=s.clock.now())
        )
        uow.commit()
    s.audit_entry(caller, "pak.rotated", "generator", generator_id, {"generator_name": generator.name})
    return generator, pak.key


__all__ = [
    "create_generator",
    "delete_generator",
    "get_generator",
    "list_generators",
    "rotate_generator_pak",
    "update_generator",
]
