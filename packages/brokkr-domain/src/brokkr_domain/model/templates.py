"""Stack templates: versioned per (owner, name); owner None means a system template created by the admin."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import attrs


@attrs.frozen(kw_only=True)
class StackTemplate:
    id: UUID
    generator_id: UUID | None = None
    name: str
    description: str | None = None
    version: int = 1
    template_content: str
    parameters_schema: str
    checksum: str
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None

    @property
    def is_system(self) -> bool:
        return self.generator_id is None


@attrs.frozen(kw_only=True)
class TemplateLabel:
    id: UUID
    template_id: UUID
    label: str
    created_at: datetime


@attrs.frozen(kw_only=True)
class TemplateAnnotation:
    id: UUID
    template_id: UUID
    key: str
    value: str
    created_at: datetime


@attrs.frozen(kw_only=True)
class RenderedProvenance:
    """Which template version and parameters produced a deployment object."""

    id: UUID
    deployment_object_id: UUID
    template_id: UUID
    template_version: int
    template_parameters: dict[str, Any]
    created_at: datetime
