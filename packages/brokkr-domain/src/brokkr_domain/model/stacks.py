"""Stacks and their immutable, sequence-numbered deployment objects."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import attrs


@attrs.frozen(kw_only=True)
class Stack:
    id: UUID
    name: str
    description: str | None = None
    generator_id: UUID
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None


@attrs.frozen(kw_only=True)
class StackLabel:
    id: UUID
    stack_id: UUID
    label: str


@attrs.frozen(kw_only=True)
class StackAnnotation:
    id: UUID
    stack_id: UUID
    key: str
    value: str


@attrs.frozen(kw_only=True)
class DeploymentObject:
    """One immutable version of a stack's manifests.

    ``sequence_id`` is global and monotonic; it is assigned by the repository when the object is added (0 before).
    A deletion marker (empty YAML) tells agents that deployed the stack to remove what they own of it.
    """

    id: UUID
    stack_id: UUID
    sequence_id: int = 0
    yaml_content: str
    yaml_checksum: str
    is_deletion_marker: bool = False
    submitted_at: datetime
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None
