"""Agents (with labels, annotations and explicit targets), generators and the admin role."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from datetime import datetime
from uuid import UUID

from sqlalchemy import bindparam, delete, exists, insert, literal, select, text, update

from brokkr_adapters_postgres import mappers as m
from brokkr_adapters_postgres.repositories._base import SqlRepository, missing
from brokkr_adapters_postgres.tables import (
    admin_role,
    agent_annotations,
    agent_labels,
    agent_targets,
    agents,
    app_initialization,
    generators,
)
from brokkr_domain.model import AdminRole, Agent, AgentAnnotation, AgentLabel, AgentTarget, Generator

# Hot paths (every authenticated request, every heartbeat): statements built once.
_AGENT_BY_PAK = (
    select(agents)
    .where(agents.c.pak_hash == bindparam("pak_hash"), agents.c.pak_hash != "", agents.c.deleted_at.is_(None))
    .limit(1)
)
_GENERATOR_BY_PAK = (
    select(generators)
    .where(generators.c.pak_hash == bindparam("pak_hash"), generators.c.deleted_at.is_(None))
    .limit(1)
)
# One text for any number of heartbeats (arrays, not a VALUES list), so the server prepares it once.
_HEARTBEATS = text(
    "UPDATE agents SET last_heartbeat = beat.at"
    " FROM unnest(CAST(:ids AS uuid[]), CAST(:ats AS timestamptz[])) AS beat(id, at)"
    " WHERE agents.id = beat.id AND agents.deleted_at IS NULL"
    " RETURNING agents.id"
)


class SqlAgentRepository(SqlRepository):
    def add(self, agent: Agent) -> Agent:
        self._run(insert(agents).values(m.agent_to_row(agent)))
        return agent

    def get(self, agent_id: UUID, *, include_deleted: bool = False) -> Agent | None:
        query = select(agents).where(agents.c.id == agent_id)
        if not include_deleted:
            query = query.where(agents.c.deleted_at.is_(None))
        row = self._run(query).first()
        return m.agent_from_row(row) if row is not None else None

    def find_by_name(self, name: str, cluster_name: str) -> Agent | None:
        query = select(agents).where(
            agents.c.name == name, agents.c.cluster_name == cluster_name, agents.c.deleted_at.is_(None)
        )
        row = self._run(query).first()
        return m.agent_from_row(row) if row is not None else None

    def find_by_pak_hash(self, pak_hash: str) -> Agent | None:
        row = self._run(_AGENT_BY_PAK, {"pak_hash": pak_hash}).first()
        return m.agent_from_row(row) if row is not None else None

    def list(self) -> builtins.list[Agent]:
        query = select(agents).where(agents.c.deleted_at.is_(None)).order_by(agents.c.created_at, agents.c.id)
        return [m.agent_from_row(row) for row in self._run(query)]

    def update(self, agent: Agent) -> Agent:
        values = m.agent_to_row(agent)
        del values["id"]
        result = self._run(update(agents).where(agents.c.id == agent.id).values(values))
        if result.rowcount == 0:
            raise missing("agent", agent.id)
        return agent

    def touch_heartbeats(self, beats: Mapping[UUID, datetime]) -> frozenset[UUID]:
        if not beats:
            return frozenset()
        rows = self._run(_HEARTBEATS, {"ids": list(beats), "ats": list(beats.values())})
        return frozenset(row[0] for row in rows)

    def soft_delete(self, agent_id: UUID, at: datetime) -> bool:
        statement = (
            update(agents)
            .where(agents.c.id == agent_id, agents.c.deleted_at.is_(None))
            .values(deleted_at=at, updated_at=at)
        )
        return self._run(statement).rowcount > 0

    def list_labels(self, agent_id: UUID) -> builtins.list[AgentLabel]:
        query = (
            select(agent_labels)
            .where(agent_labels.c.agent_id == agent_id)
            .order_by(agent_labels.c.label.collate("C"))
        )
        return [m.agent_label_from_row(row) for row in self._run(query)]

    def add_label(self, label: AgentLabel) -> AgentLabel:
        self._run(insert(agent_labels).values(m.agent_label_to_row(label)))
        return label

    def remove_label(self, agent_id: UUID, label: str) -> bool:
        statement = delete(agent_labels).where(
            agent_labels.c.agent_id == agent_id, agent_labels.c.label == label
        )
        return self._run(statement).rowcount > 0

    def list_annotations(self, agent_id: UUID) -> builtins.list[AgentAnnotation]:
        query = (
            select(agent_annotations)
            .where(agent_annotations.c.agent_id == agent_id)
            .order_by(agent_annotations.c.key.collate("C"))
        )
        return [m.agent_annotation_from_row(row) for row in self._run(query)]

    def add_annotation(self, annotation: AgentAnnotation) -> AgentAnnotation:
        self._run(insert(agent_annotations).values(m.agent_annotation_to_row(annotation)))
        return annotation

    def remove_annotation(self, agent_id: UUID, key: str) -> bool:
        statement = delete(agent_annotations).where(
            agent_annotations.c.agent_id == agent_id, agent_annotations.c.key == key
        )
        return self._run(statement).rowcount > 0

    def list_targets(self, agent_id: UUID) -> builtins.list[AgentTarget]:
        query = (
            select(agent_targets)
            .where(agent_targets.c.agent_id == agent_id)
            .order_by(agent_targets.c.stack_id)
        )
        return [m.agent_target_from_row(row) for row in self._run(query)]

    def add_target(self, target: AgentTarget) -> AgentTarget:
        self._run(insert(agent_targets).values(m.agent_target_to_row(target)))
        return target

    def remove_target(self, agent_id: UUID, stack_id: UUID) -> bool:
        statement = delete(agent_targets).where(
            agent_targets.c.agent_id == agent_id, agent_targets.c.stack_id == stack_id
        )
        return self._run(statement).rowcount > 0

    def is_targeted(self, agent_id: UUID, stack_id: UUID) -> bool:
        query = select(
            exists().where(agent_targets.c.agent_id == agent_id, agent_targets.c.stack_id == stack_id)
        )
        return bool(self._run(query).scalar())


class SqlGeneratorRepository(SqlRepository):
    def add(self, generator: Generator) -> Generator:
        self._run(insert(generators).values(m.generator_to_row(generator)))
        return generator

    def get(self, generator_id: UUID, *, include_deleted: bool = False) -> Generator | None:
        query = select(generators).where(generators.c.id == generator_id)
        if not include_deleted:
            query = query.where(generators.c.deleted_at.is_(None))
        row = self._run(query).first()
        return m.generator_from_row(row) if row is not None else None

    def find_by_name(self, name: str) -> Generator | None:
        query = select(generators).where(generators.c.name == name, generators.c.deleted_at.is_(None))
        row = self._run(query).first()
        return m.generator_from_row(row) if row is not None else None

    def find_by_pak_hash(self, pak_hash: str) -> Generator | None:
        if not pak_hash:
            return None
        row = self._run(_GENERATOR_BY_PAK, {"pak_hash": pak_hash}).first()
        return m.generator_from_row(row) if row is not None else None

    def list(self) -> builtins.list[Generator]:
        query = (
            select(generators)
            .where(generators.c.deleted_at.is_(None))
            .order_by(generators.c.created_at, generators.c.id)
        )
        return [m.generator_from_row(row) for row in self._run(query)]

    def update(self, generator: Generator) -> Generator:
        values = m.generator_to_row(generator)
        del values["id"]
        result = self._run(update(generators).where(generators.c.id == generator.id).values(values))
        if result.rowcount == 0:
            raise missing("generator", generator.id)
        return generator

    def soft_delete(self, generator_id: UUID, at: datetime) -> bool:
        statement = (
            update(generators)
            .where(generators.c.id == generator_id, generators.c.deleted_at.is_(None))
            .values(deleted_at=at, updated_at=at)
        )
        return self._run(statement).rowcount > 0


_ADMIN_LOCK = text("SELECT pg_advisory_xact_lock(hashtext('brokkr-admin-role'))")


class SqlAdminRepository(SqlRepository):
    def get(self) -> AdminRole | None:
        row = self._run(
            select(admin_role).order_by(admin_role.c.created_at, admin_role.c.id).limit(1)
        ).first()
        return m.admin_role_from_row(row) if row is not None else None

    def upsert(self, role: AdminRole) -> AdminRole:
        # Serialise first starts of several replicas: exactly one admin row ever exists.
        self._run(_ADMIN_LOCK)
        current = self.get()
        if current is None:
            self._run(insert(admin_role).values(m.admin_role_to_row(role)))
            return role
        self._run(
            update(admin_role)
            .where(admin_role.c.id == current.id)
            .values(pak_hash=role.pak_hash, updated_at=role.updated_at)
        )
        return AdminRole(
            id=current.id, pak_hash=role.pak_hash, created_at=current.created_at, updated_at=role.updated_at
        )

    def is_initialized(self) -> bool:
        return bool(self._run(select(exists().select_from(app_initialization))).scalar())

    def mark_initialized(self, at: datetime) -> None:
        self._run(_ADMIN_LOCK)
        statement = insert(app_initialization).from_select(
            ["initialized_at"],
            select(literal(at, type_=app_initialization.c.initialized_at.type)).where(
                ~exists().select_from(app_initialization)
            ),
        )
        self._run(statement)


__all__ = ["SqlAdminRepository", "SqlAgentRepository", "SqlGeneratorRepository"]
