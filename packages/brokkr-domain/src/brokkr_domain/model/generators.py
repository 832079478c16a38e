"""Generators (CI identities that own stacks and templates) and the admin role."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import attrs


@attrs.frozen(kw_only=True)
class Generator:
    id: UUID
    name: str
    description: str | None = None
    pak_hash: str | None = None
    is_active: bool = True
    last_active_at: datetime | None = None
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None


ADMIN_GENERATOR_NAME = "admin-generator"


@attrs.frozen(kw_only=True)
class AdminRole:
    """The single admin identity: only the hash of its PAK is kept."""

    id: UUID
    pak_hash: str
    created_at: datetime
    updated_at: datetime
