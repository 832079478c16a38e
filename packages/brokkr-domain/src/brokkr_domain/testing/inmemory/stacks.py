"""In-memory stacks, deployment objects (with the target-state rule) and agent events."""

from __future__ import annotations

import builtins
from collections import defaultdict
from datetime import datetime
from uuid import UUID

import attrs

from brokkr_domain.model import (
    AgentEvent,
    DeploymentObject,
    RenderedProvenance,
    Stack,
    StackAnnotation,
    StackLabel,
)
from brokkr_domain.ports.repositories import TargetStateQuery
from brokkr_domain.rules.target_state import compute_target_state
from brokkr_domain.rules.targeting import StackTargetingFacts, associated_stack_ids
from brokkr_domain.testing.inmemory import constraints as c
from brokkr_domain.testing.inmemory.store import Tables, Tx, missing, unique_violation


def associated_live_stack_ids(tables: Tables, agent_id: UUID) -> frozenset[UUID]:
    """Live stacks associated with the agent, by ``rules.targeting`` over the current rows."""
    labels: dict[UUID, set[str]] = defaultdict(set)
    for stack_label in tables.stack_labels.values():
        labels[stack_label.stack_id].add(stack_label.label)
    annotations: dict[UUID, set[tuple[str, str]]] = defaultdict(set)
    for annotation in tables.stack_annotations.values():
        annotations[annotation.stack_id].add((annotation.key, annotation.value))
    facts = [
        StackTargetingFacts(
            stack_id=stack.id,
            labels=frozenset(labels[stack.id]),
            annotations=frozenset(annotations[stack.id]),
        )
        for stack in tables.stacks.values()
        if stack.deleted_at is None
    ]
    return associated_stack_ids(
        stacks=facts,
        agent_labels=[row.label for row in tables.agent_labels.values() if row.agent_id == agent_id],
        agent_annotations=[
            (row.key, row.value) for row in tables.agent_annotations.values() if row.agent_id == agent_id
        ],
        targeted_stack_ids={
            row.stack_id for row in tables.agent_targets.values() if row.agent_id == agent_id
        },
    )


class InMemoryStackRepository:
    def __init__(self, tx: Tx) -> None:
        self._tx = tx

    def _check_unique(self, stack: Stack) -> None:
        for other in self._tx.tables.stacks.values():
            if (
                other.id != stack.id
                and other.deleted_at is None
                and stack.deleted_at is None
                and other.name == stack.name
            ):
                raise unique_violation(c.UNIQUE_STACK_NAME)

    def _require(self, stack_id: UUID) -> None:
        if stack_id not in self._tx.tables.stacks:
            raise missing("stack", stack_id)

    def add(self, stack: Stack) -> Stack:
        tables = self._tx.tables
        if stack.id in tables.stacks:
            raise unique_violation(c.primary_key("stacks"))
        if stack.generator_id not in tables.generators:
            raise missing("generator", stack.generator_id)
        self._check_unique(stack)
        tables.stacks[stack.id] = stack
        return stack

    def get(self, stack_id: UUID, *, include_deleted: bool = False) -> Stack | None:
        stack = self._tx.tables.stacks.get(stack_id)
        if stack is None or (stack.deleted_at is not None and not include_deleted):
            return None
        return stack

    def list(self, *, generator_id: UUID | None = None) -> builtins.list[Stack]:
        live = [
            stack
            for stack in self._tx.tables.stacks.values()
            if stack.deleted_at is None and (generator_id is None or stack.generator_id == generator_id)
        ]
        return sorted(live, key=lambda stack: (stack.created_at, stack.id))

    def update(self, stack: Stack) -> Stack:
        self._require(stack.id)
        if stack.generator_id not in self._tx.tables.generators:
            raise missing("generator", stack.generator_id)
        self._check_unique(stack)
        self._tx.tables.stacks[stack.id] = stack
        return stack

    def soft_delete(self, stack_id: UUID, at: datetime) -> bool:
        stack = self.get(stack_id)
        if stack is None:
            return False
        self._tx.tables.stacks[stack_id] = attrs.evolve(stack, deleted_at=at, updated_at=at)
        return True

    def list_labels(self, stack_id: UUID) -> builtins.list[StackLabel]:
        rows = [row for row in self._tx.tables.stack_labels.values() if row.stack_id == stack_id]
        return sorted(rows, key=lambda row: row.label)

    def add_label(self, label: StackLabel) -> StackLabel:
        self._require(label.stack_id)
        rows = self._tx.tables.stack_labels
        if label.id in rows:
            raise unique_violation(c.primary_key("stack_labels"))
        if any(row.stack_id == label.stack_id and row.label == label.label for row in rows.values()):
            raise unique_violation(c.STACK_LABEL)
        rows[label.id] = label
        return label

    def remove_label(self, stack_id: UUID, label: str) -> bool:
        rows = self._tx.tables.stack_labels
        doomed = [row.id for row in rows.values() if row.stack_id == stack_id and row.label == label]
        for row_id in doomed:
            del rows[row_id]
        return bool(doomed)

    def list_annotations(self, stack_id: UUID) -> builtins.list[StackAnnotation]:
        rows = [row for row in self._tx.tables.stack_annotations.values() if row.stack_id == stack_id]
        return sorted(rows, key=lambda row: row.key)

    def add_annotation(self, annotation: StackAnnotation) -> StackAnnotation:
        self._require(annotation.stack_id)
        rows = self._tx.tables.stack_annotations
        if annotation.id in rows:
            raise unique_violation(c.primary_key("stack_annotations"))
        if any(row.stack_id == annotation.stack_id and row.key == annotation.key for row in rows.values()):
            raise unique_violation(c.STACK_ANNOTATION_KEY)
        rows[annotation.id] = annotation
        return annotation

    def remove_annotation(self, stack_id: UUID, key: str) -> bool:
        rows = self._tx.tables.stack_annotations
        doomed = [row.id for row in rows.values() if row.stack_id == stack_id and row.key == key]
        for row_id in doomed:
            del rows[row_id]
        return bool(doomed)

    def associated_with_agent(self, agent_id: UUID) -> builtins.list[Stack]:
        tables = self._tx.tables
        ids = associated_live_stack_ids(tables, agent_id)
        return [tables.stacks[stack_id] for stack_id in sorted(ids)]


class InMemoryDeploymentObjectRepository:
    def __init__(self, tx: Tx) -> None:
        self._tx = tx

    def add(self, obj: DeploymentObject) -> DeploymentObject:
        tables = self._tx.tables
        if obj.id in tables.deployment_objects:
            raise unique_violation(c.primary_key("deployment_objects"))
        if obj.stack_id not in tables.stacks:
            raise missing("stack", obj.stack_id)
        stored = attrs.evolve(obj, sequence_id=self._tx.store.next_sequence())
        tables.deployment_objects[stored.id] = stored
        return stored

    def get(self, object_id: UUID, *, include_deleted: bool = False) -> DeploymentObject | None:
        obj = self._tx.tables.deployment_objects.get(object_id)
        if obj is None or (obj.deleted_at is not None and not include_deleted):
            return None
        return obj

    def list_for_stack(self, stack_id: UUID) -> builtins.list[DeploymentObject]:
        live = [
            obj
            for obj in self._tx.tables.deployment_objects.values()
            if obj.stack_id == stack_id and obj.deleted_at is None
        ]
        return sorted(live, key=lambda obj: obj.sequence_id, reverse=True)

    def soft_delete_for_stack(self, stack_id: UUID, at: datetime) -> int:
        rows = self._tx.tables.deployment_objects
        doomed = [obj for obj in rows.values() if obj.stack_id == stack_id and obj.deleted_at is None]
        for obj in doomed:
            rows[obj.id] = attrs.evolve(obj, deleted_at=at, updated_at=at)
        return len(doomed)

    def count(self) -> int:
        return sum(1 for obj in self._tx.tables.deployment_objects.values() if obj.deleted_at is None)

    def target_state(self, query: TargetStateQuery) -> builtins.list[DeploymentObject]:
        tables = self._tx.tables
        return compute_target_state(
            agent_id=query.agent_id,
            associated_stack_ids=associated_live_stack_ids(tables, query.agent_id),
            stacks=tables.stacks.values(),
            objects=tables.deployment_objects.values(),
            events=[event for event in tables.agent_events.values() if event.agent_id == query.agent_id],
            incremental=query.incremental,
        )

    def add_provenance(self, provenance: RenderedProvenance) -> RenderedProvenance:
        tables = self._tx.tables
        if provenance.id in tables.provenance:
            raise unique_violation(c.primary_key("rendered_deployment_objects"))
        if provenance.deployment_object_id not in tables.deployment_objects:
            raise missing("deployment_object", provenance.deployment_object_id)
        if provenance.template_id not in tables.templates:
            raise missing("template", provenance.template_id)
        if self.get_provenance(provenance.deployment_object_id) is not None:
            raise unique_violation(c.RENDERED_OBJECT)
        tables.provenance[provenance.id] = provenance
        return provenance

    def get_provenance(self, object_id: UUID) -> RenderedProvenance | None:
        for row in self._tx.tables.provenance.values():
            if row.deployment_object_id == object_id:
                return row
        return None


class InMemoryAgentEventRepository:
    def __init__(self, tx: Tx) -> None:
        self._tx = tx

    def add(self, event: AgentEvent) -> AgentEvent:
        tables = self._tx.tables
        if event.id in tables.agent_events:
            raise unique_violation(c.primary_key("agent_events"))
        if event.agent_id not in tables.agents:
            raise missing("agent", event.agent_id)
        if event.deployment_object_id not in tables.deployment_objects:
            raise missing("deployment_object", event.deployment_object_id)
        tables.agent_events[event.id] = event
        return event

    def get(self, event_id: UUID) -> AgentEvent | None:
        event = self._tx.tables.agent_events.get(event_id)
        return event if event is not None and event.deleted_at is None else None

    def list(self, *, agent_id: UUID | None = None) -> builtins.list[AgentEvent]:
        live = [
            event
            for event in self._tx.tables.agent_events.values()
            if event.deleted_at is None and (agent_id is None or event.agent_id == agent_id)
        ]
        return sorted(live, key=lambda event: (event.created_at, event.id), reverse=True)

    def soft_delete_for_agent(self, agent_id: UUID, at: datetime) -> int:
        rows = self._tx.tables.agent_events
        doomed = [event for event in rows.values() if event.agent_id == agent_id and event.deleted_at is None]
        for event in doomed:
            rows[event.id] = attrs.evolve(event, deleted_at=at, updated_at=at)
        return len(doomed)


__all__ = [
    "InMemoryAgentEventRepository",
    "InMemoryDeploymentObjectRepository",
    "InMemoryStackRepository",
    "associated_live_stack_ids",
]
