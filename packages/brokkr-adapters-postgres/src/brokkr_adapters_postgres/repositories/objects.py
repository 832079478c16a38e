"""Deployment objects (immutable, globally sequenced), their provenance, agent events, and the target state.

The target state is the hot path: every agent polls it every few seconds. It is one statement, compiled once,
implementing ``brokkr_domain.rules.target_state`` exactly:

1. latest live object (max ``sequence_id``) of every live stack associated with the agent — an index walk
   backwards on ``(stack_id, sequence_id) WHERE deleted_at IS NULL``, one probe per stack;
2. latest live deletion marker of every soft-deleted stack the agent has a live event on (any object of
   the stack), unless the agent has a live event on that marker (its acknowledgement);
3. incremental: minus objects with a live SUCCESS event of the agent (FAILURE never hides an object);
4. newest first.

The per-object checks (acknowledged marker, succeeded object) end in ``OFFSET 0``: it keeps PostgreSQL from
turning them into joins, so each stays one index-only probe per candidate (there are at most as many
candidates as associated stacks plus deleted stacks); as joins the planner sometimes scanned the agent's
whole event history per candidate.
"""

from __future__ import annotations

import builtins
from datetime import datetime
from uuid import UUID

from sqlalchemy import bindparam, func, insert, select, text, update
from sqlalchemy.sql.elements import TextClause

from brokkr_adapters_postgres import mappers as m
from brokkr_adapters_postgres.repositories._base import SqlRepository, columns
from brokkr_adapters_postgres.repositories.stacks import ASSOCIATED_STACK_IDS
from brokkr_adapters_postgres.tables import agent_events, deployment_objects, rendered_deployment_objects
from brokkr_domain.model import AgentEvent, DeploymentObject, RenderedProvenance
from brokkr_domain.ports.repositories import TargetStateQuery

# Constant SQL fragments only; every value is a bound parameter.
_TARGET_STATE = f"""
WITH assoc AS ({ASSOCIATED_STACK_IDS}),
latest AS (
    SELECT o.*
      FROM assoc
      JOIN stacks s ON s.id = assoc.stack_id AND s.deleted_at IS NULL
     CROSS JOIN LATERAL (
           SELECT * FROM deployment_objects d
            WHERE d.stack_id = s.id AND d.deleted_at IS NULL
            ORDER BY d.sequence_id DESC
            LIMIT 1
     ) o
    {{incremental}}
),
markers AS (
    SELECT DISTINCT ON (o.stack_id) o.*
      FROM deployment_objects o
      JOIN stacks s ON s.id = o.stack_id AND s.deleted_at IS NOT NULL
     WHERE o.is_deletion_marker AND o.deleted_at IS NULL
       AND EXISTS (
           SELECT 1 FROM agent_events e
            WHERE e.agent_id = :agent_id AND e.stack_id = o.stack_id AND e.deleted_at IS NULL)
     ORDER BY o.stack_id, o.sequence_id DESC
),
wanted AS (
    SELECT * FROM latest
    UNION ALL
    SELECT * FROM markers mk
     WHERE NOT EXISTS (
           SELECT 1 FROM agent_events e
            WHERE e.agent_id = :agent_id AND e.deployment_object_id = mk.id AND e.deleted_at IS NULL
           OFFSET 0)
)
SELECT w.* FROM wanted w
ORDER BY w.sequence_id DESC
"""  # noqa: S608

# Incremental mode filters the latest objects only: a marker with a live event of the agent (of any status)
# is already left out, so a SUCCESS event cannot matter for markers. Filtering inside the branch keeps the
# probe an index-only lookup per stack (ix_agent_events_live_success).
_NOT_SUCCEEDED = """
     WHERE NOT EXISTS (
           SELECT 1 FROM agent_events e
            WHERE e.agent_id = :agent_id AND e.deployment_object_id = o.id AND e.deleted_at IS NULL
              AND upper(e.status) = 'SUCCESS'
           OFFSET 0)"""

TARGET_STATE_FULL: TextClause = text(_TARGET_STATE.format(incremental=""))
TARGET_STATE_INCREMENTAL: TextClause = text(_TARGET_STATE.format(incremental=_NOT_SUCCEEDED))


# The event's stack is copied from its object in the same statement (NULL, then a foreign-key violation on
# the object, when the object does not exist).
_ADD_EVENT = insert(agent_events).values(
    {
        **{col.name: bindparam(col.name) for col in agent_events.c if col.name != "stack_id"},
        "stack_id": select(deployment_objects.c.stack_id)
        .where(deployment_objects.c.id == bindparam("deployment_object_id"))
        .scalar_subquery(),
    }
)


class SqlDeploymentObjectRepository(SqlRepository):
    def add(self, obj: DeploymentObject) -> DeploymentObject:
        statement = (
            insert(deployment_objects)
            .values(m.deployment_object_to_row(obj))
            .returning(deployment_objects.c.sequence_id)
        )
        sequence_id = self._run(statement).scalar_one()
        return DeploymentObject(
            id=obj.id,
            stack_id=obj.stack_id,
            sequence_id=sequence_id,
            yaml_content=obj.yaml_content,
            yaml_checksum=obj.yaml_checksum,
            is_deletion_marker=obj.is_deletion_marker,
            submitted_at=obj.submitted_at,
            created_at=obj.created_at,
            updated_at=obj.updated_at,
            deleted_at=obj.deleted_at,
        )

    def get(self, object_id: UUID, *, include_deleted: bool = False) -> DeploymentObject | None:
        query = select(deployment_objects).where(deployment_objects.c.id == object_id)
        if not include_deleted:
            query = query.where(deployment_objects.c.deleted_at.is_(None))
        row = self._run(query).first()
        return m.deployment_object_from_row(row) if row is not None else None

    def list_for_stack(self, stack_id: UUID) -> builtins.list[DeploymentObject]:
        query = (
            select(deployment_objects)
            .where(deployment_objects.c.stack_id == stack_id, deployment_objects.c.deleted_at.is_(None))
            .order_by(deployment_objects.c.sequence_id.desc())
        )
        return [m.deployment_object_from_row(row) for row in self._run(query)]

    def soft_delete_for_stack(self, stack_id: UUID, at: datetime) -> int:
        statement = (
            update(deployment_objects)
            .where(deployment_objects.c.stack_id == stack_id, deployment_objects.c.deleted_at.is_(None))
            .values(deleted_at=at, updated_at=at)
        )
        return self._run(statement).rowcount

    def count(self) -> int:
        query = (
            select(func.count())
            .select_from(deployment_objects)
            .where(deployment_objects.c.deleted_at.is_(None))
        )
        return int(self._run(query).scalar_one())

    def target_state(self, query: TargetStateQuery) -> builtins.list[DeploymentObject]:
        statement = TARGET_STATE_INCREMENTAL if query.incremental else TARGET_STATE_FULL
        return [
            m.deployment_object_from_row(row) for row in self._run(statement, {"agent_id": query.agent_id})
        ]

    def add_provenance(self, provenance: RenderedProvenance) -> RenderedProvenance:
        self._run(insert(rendered_deployment_objects).values(m.provenance_to_row(provenance)))
        return provenance

    def get_provenance(self, object_id: UUID) -> RenderedProvenance | None:
        query = select(rendered_deployment_objects).where(
            rendered_deployment_objects.c.deployment_object_id == object_id
        )
        row = self._run(query).first()
        return m.provenance_from_row(row) if row is not None else None


class SqlAgentEventRepository(SqlRepository):
    def add(self, event: AgentEvent) -> AgentEvent:
        self._run(_ADD_EVENT, m.agent_event_to_row(event))
        return event

    def get(self, event_id: UUID) -> AgentEvent | None:
        query = select(agent_events).where(agent_events.c.id == event_id, agent_events.c.deleted_at.is_(None))
        row = self._run(query).first()
        return m.agent_event_from_row(row) if row is not None else None

    def list(self, *, agent_id: UUID | None = None) -> builtins.list[AgentEvent]:
        query = (
            select(*columns(agent_events))
            .where(agent_events.c.deleted_at.is_(None))
            .order_by(agent_events.c.created_at.desc(), agent_events.c.id.desc())
        )
        if agent_id is not None:
            query = query.where(agent_events.c.agent_id == agent_id)
        return [m.agent_event_from_row(row) for row in self._run(query)]

    def soft_delete_for_agent(self, agent_id: UUID, at: datetime) -> int:
        statement = (
            update(agent_events)
            .where(agent_events.c.agent_id == agent_id, agent_events.c.deleted_at.is_(None))
            .values(deleted_at=at, updated_at=at)
        )
        return self._run(statement).rowcount


__all__ = [
    "TARGET_STATE_FULL",
    "TARGET_STATE_INCREMENTAL",
    "SqlAgentEventRepository",
    "SqlDeploymentObjectRepository",
]
