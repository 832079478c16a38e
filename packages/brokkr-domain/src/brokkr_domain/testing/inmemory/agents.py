"""In-memory agents (with labels, annotations, targets) and generators."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from datetime import datetime
from uuid import UUID

import attrs

from brokkr_domain.model import Agent, AgentAnnotation, AgentLabel, AgentTarget, Generator
from brokkr_domain.testing.inmemory import constraints as c
from brokkr_domain.testing.inmemory.store import Tx, missing, unique_violation


class InMemoryAgentRepository:
    def __init__(self, tx: Tx) -> None:
        self._tx = tx

    def _check_unique(self, agent: Agent) -> None:
        for other in self._tx.tables.agents.values():
            if (
                other.id != agent.id
                and other.deleted_at is None
                and agent.deleted_at is None
                and (other.name, other.cluster_name) == (agent.name, agent.cluster_name)
            ):
                raise unique_violation(c.UNIQUE_AGENT_CLUSTER)

    def _require(self, agent_id: UUID) -> None:
        if agent_id not in self._tx.tables.agents:
            raise missing("agent", agent_id)

    def add(self, agent: Agent) -> Agent:
        agents = self._tx.tables.agents
        if agent.id in agents:
            raise unique_violation(c.primary_key("agents"))
        self._check_unique(agent)
        agents[agent.id] = agent
        return agent

    def get(self, agent_id: UUID, *, include_deleted: bool = False) -> Agent | None:
        agent = self._tx.tables.agents.get(agent_id)
        if agent is None or (agent.deleted_at is not None and not include_deleted):
            return None
        return agent

    def find_by_name(self, name: str, cluster_name: str) -> Agent | None:
        for agent in self._tx.tables.agents.values():
            if agent.deleted_at is None and agent.name == name and agent.cluster_name == cluster_name:
                return agent
        return None

    def find_by_pak_hash(self, pak_hash: str) -> Agent | None:
        for agent in self._tx.tables.agents.values():
            if agent.deleted_at is None and agent.pak_hash and agent.pak_hash == pak_hash:
                return agent
        return None

    def list(self) -> builtins.list[Agent]:
        live = [agent for agent in self._tx.tables.agents.values() if agent.deleted_at is None]
        return sorted(live, key=lambda agent: (agent.created_at, agent.id))

    def update(self, agent: Agent) -> Agent:
        self._require(agent.id)
        self._check_unique(agent)
        self._tx.tables.agents[agent.id] = agent
        return agent

    def touch_heartbeats(self, beats: Mapping[UUID, datetime]) -> frozenset[UUID]:
        live = set()
        for agent_id, at in beats.items():
            agent = self.get(agent_id)
            if agent is not None:
                self._tx.tables.agents[agent_id] = attrs.evolve(agent, last_heartbeat=at)
                live.add(agent_id)
        return frozenset(live)

    def soft_delete(self, agent_id: UUID, at: datetime) -> bool:
        agent = self.get(agent_id)
        if agent is None:
            return False
        self._tx.tables.agents[agent_id] = attrs.evolve(agent, deleted_at=at, updated_at=at)
        return True

    def list_labels(self, agent_id: UUID) -> builtins.list[AgentLabel]:
        rows = [row for row in self._tx.tables.agent_labels.values() if row.agent_id == agent_id]
        return sorted(rows, key=lambda row: row.label)

    def add_label(self, label: AgentLabel) -> AgentLabel:
        self._require(label.agent_id)
        rows = self._tx.tables.agent_labels
        if label.id in rows:
            raise unique_violation(c.primary_key("agent_labels"))
        if any(row.agent_id == label.agent_id and row.label == label.label for row in rows.values()):
            raise unique_violation(c.AGENT_LABEL)
        rows[label.id] = label
        return label

    def remove_label(self, agent_id: UUID, label: str) -> bool:
        rows = self._tx.tables.agent_labels
        doomed = [row.id for row in rows.values() if row.agent_id == agent_id and row.label == label]
        for row_id in doomed:
            del rows[row_id]
        return bool(doomed)

    def list_annotations(self, agent_id: UUID) -> builtins.list[AgentAnnotation]:
        rows = [row for row in self._tx.tables.agent_annotations.values() if row.agent_id == agent_id]
        return sorted(rows, key=lambda row: row.key)

    def add_annotation(self, annotation: AgentAnnotation) -> AgentAnnotation:
        self._require(annotation.agent_id)
        rows = self._tx.tables.agent_annotations
        if annotation.id in rows:
            raise unique_violation(c.primary_key("agent_annotations"))
        if any(row.agent_id == annotation.agent_id and row.key == annotation.key for row in rows.values()):
            raise unique_violation(c.AGENT_ANNOTATION_KEY)
        rows[annotation.id] = annotation
        return annotation

    def remove_annotation(self, agent_id: UUID, key: str) -> bool:
        rows = self._tx.tables.agent_annotations
        doomed = [row.id for row in rows.values() if row.agent_id == agent_id and row.key == key]
        for row_id in doomed:
            del rows[row_id]
        return bool(doomed)

    def list_targets(self, agent_id: UUID) -> builtins.list[AgentTarget]:
        rows = [row for row in self._tx.tables.agent_targets.values() if row.agent_id == agent_id]
        return sorted(rows, key=lambda row: row.stack_id)

    def add_target(self, target: AgentTarget) -> AgentTarget:
        self._require(target.agent_id)
        if target.stack_id not in self._tx.tables.stacks:
            raise missing("stack", target.stack_id)
        rows = self._tx.tables.agent_targets
        if target.id in rows:
            raise unique_violation(c.primary_key("agent_targets"))
        if self.is_targeted(target.agent_id, target.stack_id):
            raise unique_violation(c.AGENT_TARGET)
        rows[target.id] = target
        return target

    def remove_target(self, agent_id: UUID, stack_id: UUID) -> bool:
        rows = self._tx.tables.agent_targets
        doomed = [row.id for row in rows.values() if row.agent_id == agent_id and row.stack_id == stack_id]
        for row_id in doomed:
            del rows[row_id]
        return bool(doomed)

    def is_targeted(self, agent_id: UUID, stack_id: UUID) -> bool:
        return any(
            row.agent_id == agent_id and row.stack_id == stack_id
            for row in self._tx.tables.agent_targets.values()
        )


class InMemoryGeneratorRepository:
    def __init__(self, tx: Tx) -> None:
        self._tx = tx

    def _check_unique(self, generator: Generator) -> None:
        for other in self._tx.tables.generators.values():
            if (
                other.id != generator.id
                and other.deleted_at is None
                and generator.deleted_at is None
                and other.name == generator.name
            ):
                raise unique_violation(c.UNIQUE_GENERATOR_NAME)

    def add(self, generator: Generator) -> Generator:
        rows = self._tx.tables.generators
        if generator.id in rows:
            raise unique_violation(c.primary_key("generators"))
        self._check_unique(generator)
        rows[generator.id] = generator
        return generator

    def get(self, generator_id: UUID, *, include_deleted: bool = False) -> Generator | None:
        generator = self._tx.tables.generators.get(generator_id)
        if generator is None or (generator.deleted_at is not None and not include_deleted):
            return None
        return generator

    def find_by_name(self, name: str) -> Generator | None:
        for generator in self._tx.tables.generators.values():
            if generator.deleted_at is None and generator.name == name:
                return generator
        return None

    def find_by_pak_hash(self, pak_hash: str) -> Generator | None:
        for generator in self._tx.tables.generators.values():
            if generator.deleted_at is None and generator.pak_hash and generator.pak_hash == pak_hash:
                return generator
        return None

    def list(self) -> builtins.list[Generator]:
        live = [row for row in self._tx.tables.generators.values() if row.deleted_at is None]
        return sorted(live, key=lambda row: (row.created_at, row.id))

    def update(self, generator: Generator) -> Generator:
        if generator.id not in self._tx.tables.generators:
            raise missing("generator", generator.id)
        self._check_unique(generator)
        self._tx.tables.generators[generator.id] = generator
        return generator

    def soft_delete(self, generator_id: UUID, at: datetime) -> bool:
        generator = self.get(generator_id)
        if generator is None:
            return False
        self._tx.tables.generators[generator_id] = attrs.evolve(generator, deleted_at=at, updated_at=at)
        return True


__all__ = ["InMemoryAgentRepository", "InMemoryGeneratorRepository"]
