"""In-memory stack templates with their labels and annotations."""

from __future__ import annotations

import builtins
from datetime import datetime
from uuid import UUID

import attrs

from brokkr_domain.model import StackTemplate, TemplateAnnotation, TemplateLabel
from brokkr_domain.testing.inmemory import constraints as c
from brokkr_domain.testing.inmemory.store import Tx, missing, unique_violation


class InMemoryTemplateRepository:
    def __init__(self, tx: Tx) -> None:
        self._tx = tx

    def _require(self, template_id: UUID) -> None:
        if template_id not in self._tx.tables.templates:
            raise missing("template", template_id)

    def add(self, template: StackTemplate) -> StackTemplate:
        tables = self._tx.tables
        if template.id in tables.templates:
            raise unique_violation(c.primary_key("stack_templates"))
        if template.generator_id is not None and template.generator_id not in tables.generators:
            raise missing("generator", template.generator_id)
        key = (template.generator_id, template.name, template.version)
        for other in tables.templates.values():
            if other.deleted_at is None and (other.generator_id, other.name, other.version) == key:
                raise unique_violation(c.UNIQUE_TEMPLATE_VERSION)
        tables.templates[template.id] = template
        return template

    def get(self, template_id: UUID) -> StackTemplate | None:
        template = self._tx.tables.templates.get(template_id)
        return template if template is not None and template.deleted_at is None else None

    def list(self, *, visible_to_generator: UUID | None = None) -> builtins.list[StackTemplate]:
        live = [
            template
            for template in self._tx.tables.templates.values()
            if template.deleted_at is None
            and (
                visible_to_generator is None
                or template.generator_id is None
                or template.generator_id == visible_to_generator
            )
        ]
        return sorted(live, key=lambda t: (t.name, t.version, t.created_at, t.id))

    def max_version(self, generator_id: UUID | None, name: str) -> int:
        versions = [
            template.version
            for template in self._tx.tables.templates.values()
            if template.deleted_at is None and template.generator_id == generator_id and template.name == name
        ]
        return max(versions, default=0)

    def soft_delete(self, template_id: UUID, at: datetime) -> bool:
        template = self.get(template_id)
        if template is None:
            return False
        self._tx.tables.templates[template_id] = attrs.evolve(template, deleted_at=at, updated_at=at)
        return True

    def soft_delete_for_generator(self, generator_id: UUID, at: datetime) -> int:
        rows = self._tx.tables.templates
        doomed = [t for t in rows.values() if t.generator_id == generator_id and t.deleted_at is None]
        for template in doomed:
            rows[template.id] = attrs.evolve(template, deleted_at=at, updated_at=at)
        return len(doomed)

    def list_labels(self, template_id: UUID) -> builtins.list[TemplateLabel]:
        rows = [row for row in self._tx.tables.template_labels.values() if row.template_id == template_id]
        return sorted(rows, key=lambda row: row.label)

    def add_label(self, label: TemplateLabel) -> TemplateLabel:
        self._require(label.template_id)
        rows = self._tx.tables.template_labels
        if label.id in rows:
            raise unique_violation(c.primary_key("template_labels"))
        if any(row.template_id == label.template_id and row.label == label.label for row in rows.values()):
            raise unique_violation(c.TEMPLATE_LABEL)
        rows[label.id] = label
        return label

    def remove_label(self, template_id: UUID, label: str) -> bool:
        rows = self._tx.tables.template_labels
        doomed = [row.id for row in rows.values() if row.template_id == template_id and row.label == label]
        for row_id in doomed:
            del rows[row_id]
        return bool(doomed)

    def list_annotations(self, template_id: UUID) -> builtins.list[TemplateAnnotation]:
        rows = [
            row for row in self._tx.tables.template_annotations.values() if row.template_id == template_id
        ]
        return sorted(rows, key=lambda row: row.key)

    def add_annotation(self, annotation: TemplateAnnotation) -> TemplateAnnotation:
        self._require(annotation.template_id)
        rows = self._tx.tables.template_annotations
        if annotation.id in rows:
            raise unique_violation(c.primary_key("template_annotations"))
        if any(
            row.template_id == annotation.template_id and row.key == annotation.key for row in rows.values()
        ):
            raise unique_violation(c.TEMPLATE_ANNOTATION_KEY)
        rows[annotation.id] = annotation
        return annotation

    def remove_annotation(self, template_id: UUID, key: str) -> bool:
        rows = self._tx.tables.template_annotations
        doomed = [row.id for row in rows.values() if row.template_id == template_id and row.key == key]
        for row_id in doomed:
            del rows[row_id]
        return bool(doomed)


__all__ = ["InMemoryTemplateRepository"]
