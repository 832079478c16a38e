"""Stacks, their labels and annotations, and which stacks are associated with an agent.

Association (``rules.targeting.is_associated``) is one SQL union: explicit targets, plus stacks sharing a
label, plus stacks sharing an exact ``(key, value)`` annotation pair with the agent. The same union is the
first half of the target-state query (``repositories.objects``).
"""

from __future__ import annotations

import builtins
from datetime import datetime
from uuid import UUID

from sqlalchemy import delete, insert, select, text, update

from brokkr_adapters_postgres import mappers as m
from brokkr_adapters_postgres.repositories._base import SqlRepository, missing
from brokkr_adapters_postgres.tables import stack_annotations, stack_labels, stacks
from brokkr_domain.model import Stack, StackAnnotation, StackLabel

# The ids of the stacks associated with :agent_id (live or not: callers filter on the stack).
ASSOCIATED_STACK_IDS = """
    SELECT t.stack_id FROM agent_targets t WHERE t.agent_id = :agent_id
    UNION
    SELECT sl.stack_id FROM stack_labels sl
      JOIN agent_labels al ON al.label = sl.label
     WHERE al.agent_id = :agent_id
    UNION
    SELECT sa.stack_id FROM stack_annotations sa
      JOIN agent_annotations aa ON aa.key = sa.key AND aa.value = sa.value
     WHERE aa.agent_id = :agent_id
"""

_ASSOCIATED_STACKS = text(
    f"""
    WITH assoc AS ({ASSOCIATED_STACK_IDS})
    SELECT s.* FROM stacks s JOIN assoc ON assoc.stack_id = s.id
     WHERE s.deleted_at IS NULL
     ORDER BY s.id
    """  # noqa: S608
)


class SqlStackRepository(SqlRepository):
    def add(self, stack: Stack) -> Stack:
        self._run(insert(stacks).values(m.stack_to_row(stack)))
        return stack

    def get(self, stack_id: UUID, *, include_deleted: bool = False) -> Stack | None:
        query = select(stacks).where(stacks.c.id == stack_id)
        if not include_deleted:
            query = query.where(stacks.c.deleted_at.is_(None))
        row = self._run(query).first()
        return m.stack_from_row(row) if row is not None else None

    def list(self, *, generator_id: UUID | None = None) -> builtins.list[Stack]:
        query = select(stacks).where(stacks.c.deleted_at.is_(None)).order_by(stacks.c.created_at, stacks.c.id)
        if generator_id is not None:
            query = query.where(stacks.c.generator_id == generator_id)
        return [m.stack_from_row(row) for row in self._run(query)]

    def update(self, stack: Stack) -> Stack:
        values = m.stack_to_row(stack)
        del values["id"]
        result = self._run(update(stacks).where(stacks.c.id == stack.id).values(values))
        if result.rowcount == 0:
            raise missing("stack", stack.id)
        return stack

    def soft_delete(self, stack_id: UUID, at: datetime) -> bool:
        statement = (
            update(stacks)
            .where(stacks.c.id == stack_id, stacks.c.deleted_at.is_(None))
            .values(deleted_at=at, updated_at=at)
        )
        return self._run(statement).rowcount > 0

    def list_labels(self, stack_id: UUID) -> builtins.list[StackLabel]:
        query = (
            select(stack_labels)
            .where(stack_labels.c.stack_id == stack_id)
            .order_by(stack_labels.c.label.collate("C"))
        )
        return [m.stack_label_from_row(row) for row in self._run(query)]

    def add_label(self, label: StackLabel) -> StackLabel:
        self._run(insert(stack_labels).values(m.stack_label_to_row(label)))
        return label

    def remove_label(self, stack_id: UUID, label: str) -> bool:
        statement = delete(stack_labels).where(
            stack_labels.c.stack_id == stack_id, stack_labels.c.label == label
        )
        return self._run(statement).rowcount > 0

    def list_annotations(self, stack_id: UUID) -> builtins.list[StackAnnotation]:
        query = (
            select(stack_annotations)
            .where(stack_annotations.c.stack_id == stack_id)
            .order_by(stack_annotations.c.key.collate("C"))
        )
        return [m.stack_annotation_from_row(row) for row in self._run(query)]

    def add_annotation(self, annotation: StackAnnotation) -> StackAnnotation:
        self._run(insert(stack_annotations).values(m.stack_annotation_to_row(annotation)))
        return annotation

    def remove_annotation(self, stack_id: UUID, key: str) -> bool:
        statement = delete(stack_annotations).where(
            stack_annotations.c.stack_id == stack_id, stack_annotations.c.key == key
        )
        return self._run(statement).rowcount > 0

    def associated_with_agent(self, agent_id: UUID) -> builtins.list[Stack]:
        return [m.stack_from_row(row) for row in self._run(_ASSOCIATED_STACKS, {"agent_id": agent_id})]


__all__ = ["ASSOCIATED_STACK_IDS", "SqlStackRepository"]
