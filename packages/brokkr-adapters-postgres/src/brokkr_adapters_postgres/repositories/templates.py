"""Stack templates (versioned per owner and name) with their labels and annotations."""

from __future__ import annotations

import builtins
from datetime import datetime
from uuid import UUID

from sqlalchemy import delete, func, insert, or_, select, update

from brokkr_adapters_postgres import mappers as m
from brokkr_adapters_postgres.repositories._base import SqlRepository
from brokkr_adapters_postgres.tables import stack_templates, template_annotations, template_labels
from brokkr_domain.model import StackTemplate, TemplateAnnotation, TemplateLabel

_t = stack_templates


class SqlTemplateRepository(SqlRepository):
    def add(self, template: StackTemplate) -> StackTemplate:
        self._run(insert(_t).values(m.template_to_row(template)))
        return template

    def get(self, template_id: UUID) -> StackTemplate | None:
        row = self._run(select(_t).where(_t.c.id == template_id, _t.c.deleted_at.is_(None))).first()
        return m.template_from_row(row) if row is not None else None

    def list(self, *, visible_to_generator: UUID | None = None) -> builtins.list[StackTemplate]:
        query = (
            select(_t)
            .where(_t.c.deleted_at.is_(None))
            .order_by(_t.c.name.collate("C"), _t.c.version, _t.c.created_at, _t.c.id)
        )
        if visible_to_generator is not None:
            query = query.where(or_(_t.c.generator_id.is_(None), _t.c.generator_id == visible_to_generator))
        return [m.template_from_row(row) for row in self._run(query)]

    def max_version(self, generator_id: UUID | None, name: str) -> int:
        owner = _t.c.generator_id.is_(None) if generator_id is None else _t.c.generator_id == generator_id
        query = select(func.coalesce(func.max(_t.c.version), 0)).where(
            owner, _t.c.name == name, _t.c.deleted_at.is_(None)
        )
        return int(self._run(query).scalar_one())

    def soft_delete(self, template_id: UUID, at: datetime) -> bool:
        statement = (
            update(_t)
            .where(_t.c.id == template_id, _t.c.deleted_at.is_(None))
            .values(deleted_at=at, updated_at=at)
        )
        return self._run(statement).rowcount > 0

    def soft_delete_for_generator(self, generator_id: UUID, at: datetime) -> int:
        statement = (
            update(_t)
            .where(_t.c.generator_id == generator_id, _t.c.deleted_at.is_(None))
            .values(deleted_at=at, updated_at=at)
        )
        return self._run(statement).rowcount

    def list_labels(self, template_id: UUID) -> builtins.list[TemplateLabel]:
        query = (
            select(template_labels)
            .where(template_labels.c.template_id == template_id)
            .order_by(template_labels.c.label.collate("C"))
        )
        return [m.template_label_from_row(row) for row in self._run(query)]

    def add_label(self, label: TemplateLabel) -> TemplateLabel:
        self._run(insert(template_labels).values(m.template_label_to_row(label)))
        return label

    def remove_label(self, template_id: UUID, label: str) -> bool:
        statement = delete(template_labels).where(
            template_labels.c.template_id == template_id, template_labels.c.label == label
        )
        return self._run(statement).rowcount > 0

    def list_annotations(self, template_id: UUID) -> builtins.list[TemplateAnnotation]:
        query = (
            select(template_annotations)
            .where(template_annotations.c.template_id == template_id)
            .order_by(template_annotations.c.key.collate("C"))
        )
        return [m.template_annotation_from_row(row) for row in self._run(query)]

    def add_annotation(self, annotation: TemplateAnnotation) -> TemplateAnnotation:
        self._run(insert(template_annotations).values(m.template_annotation_to_row(annotation)))
        return annotation

    def remove_annotation(self, template_id: UUID, key: str) -> bool:
        statement = delete(template_annotations).where(
            template_annotations.c.template_id == template_id, template_annotations.c.key == key
        )
        return self._run(statement).rowcount > 0


__all__ = ["SqlTemplateRepository"]
