"""Random but consistent "worlds" of agents, stacks, objects and events, for target-state properties.

A world is plain data that satisfies every repository constraint, so the same world can be loaded into any
unit of work (in-memory or PostgreSQL) with :func:`load_world` and its ``target_state`` compared with the pure
rule.
"""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

import attrs
from hypothesis import strategies as st

from brokkr_domain.model import (
    Agent,
    AgentAnnotation,
    AgentEvent,
    AgentLabel,
    AgentTarget,
    DeploymentObject,
    Generator,
    Stack,
    StackAnnotation,
    StackLabel,
)
from brokkr_domain.ports import UnitOfWork
from brokkr_domain.testing import builders as b
from brokkr_domain.testing import strategies as bst


@attrs.frozen(kw_only=True)
class World:
    """Rows in insertion order. ``objects`` have placeholder sequence ids until loaded."""

    generator: Generator
    agents: tuple[Agent, ...]
    agent_labels: tuple[AgentLabel, ...]
    agent_annotations: tuple[AgentAnnotation, ...]
    agent_targets: tuple[AgentTarget, ...]
    stacks: tuple[Stack, ...]
    stack_labels: tuple[StackLabel, ...]
    stack_annotations: tuple[StackAnnotation, ...]
    objects: tuple[DeploymentObject, ...]
    events: tuple[AgentEvent, ...]

    def labels_of_agent(self, agent: Agent) -> frozenset[str]:
        return frozenset(row.label for row in self.agent_labels if row.agent_id == agent.id)

    def annotations_of_agent(self, agent: Agent) -> frozenset[tuple[str, str]]:
        return frozenset((row.key, row.value) for row in self.agent_annotations if row.agent_id == agent.id)

    def labels_of_stack(self, stack: Stack) -> frozenset[str]:
        return frozenset(row.label for row in self.stack_labels if row.stack_id == stack.id)

    def annotations_of_stack(self, stack: Stack) -> frozenset[tuple[str, str]]:
        return frozenset((row.key, row.value) for row in self.stack_annotations if row.stack_id == stack.id)

    def targets_of_agent(self, agent: Agent) -> frozenset[UUID]:
        return frozenset(row.stack_id for row in self.agent_targets if row.agent_id == agent.id)


@st.composite
def worlds(draw: st.DrawFn, max_agents: int = 3, max_stacks: int = 5, max_objects: int = 4) -> World:
    """A world where labels and annotations come from small pools, so associations happen often."""
    at = bst.EPOCH
    generator = b.generator(at)
    agents = [b.agent(at + timedelta(seconds=i)) for i in range(draw(st.integers(1, max_agents)))]
    stacks = [
        b.stack(at, generator.id, deleted_at=at + timedelta(days=1) if draw(st.booleans()) else None)
        for _ in range(draw(st.integers(0, max_stacks)))
    ]
    agent_labels = [b.agent_label(a.id, label) for a in agents for label in sorted(draw(bst.label_sets()))]
    agent_annotations = [
        b.agent_annotation(a.id, k, v) for a in agents for k, v in sorted(draw(bst.annotation_maps()).items())
    ]
    agent_targets = [
        b.agent_target(a.id, s.id) for a in agents for s in stacks if draw(st.integers(0, 3)) == 0
    ]
    stack_labels = [b.stack_label(s.id, label) for s in stacks for label in sorted(draw(bst.label_sets()))]
    stack_annotations = [
        b.stack_annotation(s.id, k, v) for s in stacks for k, v in sorted(draw(bst.annotation_maps()).items())
    ]
    objects: list[DeploymentObject] = []
    for _ in range(draw(st.integers(0, max_objects * max(len(stacks), 1)))):
        if not stacks:
            break
        stack = draw(st.sampled_from(stacks))
        marker = draw(st.integers(0, 3)) == 0
        deleted = draw(st.integers(0, 2)) == 0
        build = b.deletion_marker if marker else b.deployment_object
        objects.append(
            build(
                at,
                stack.id,
                sequence_id=len(objects) + 1,
                deleted_at=at + timedelta(hours=1) if deleted else None,
            )
        )
    events: list[AgentEvent] = []
    if objects:
        for _ in range(draw(st.integers(0, 2 * len(objects)))):
            agent = draw(st.sampled_from(agents))
            obj = draw(st.sampled_from(objects))
            status = draw(st.sampled_from(("SUCCESS", "FAILURE")))
            deleted_at = at + timedelta(days=2) if draw(st.integers(0, 4)) == 0 else None
            created = at + timedelta(seconds=len(events))
            events.append(b.agent_event(created, agent.id, obj.id, status, deleted_at=deleted_at))
    return World(
        generator=generator,
        agents=tuple(agents),
        agent_labels=tuple(agent_labels),
        agent_annotations=tuple(agent_annotations),
        agent_targets=tuple(agent_targets),
        stacks=tuple(stacks),
        stack_labels=tuple(stack_labels),
        stack_annotations=tuple(stack_annotations),
        objects=tuple(objects),
        events=tuple(events),
    )


def load_world(uow: UnitOfWork, world: World) -> World:
    """Add every row of the world through the ports; returns the world with the stored objects' sequence ids.

    Soft-deleted rows are inserted already deleted (the ports store what they are given).
    """
    uow.generators.add(world.generator)
    for agent in world.agents:
        uow.agents.add(agent)
    for stack in world.stacks:
        uow.stacks.add(stack)
    for label in world.agent_labels:
        uow.agents.add_label(label)
    for annotation in world.agent_annotations:
        uow.agents.add_annotation(annotation)
    for target in world.agent_targets:
        uow.agents.add_target(target)
    for stack_label in world.stack_labels:
        uow.stacks.add_label(stack_label)
    for stack_annotation in world.stack_annotations:
        uow.stacks.add_annotation(stack_annotation)
    stored = tuple(uow.deployment_objects.add(obj) for obj in world.objects)
    for event in world.events:
        uow.agent_events.add(event)
    return attrs.evolve(world, objects=stored)


__all__ = ["World", "load_world", "worlds"]
