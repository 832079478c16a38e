"""Properties of the target-state rule, and of the in-memory repository that applies it."""

from __future__ import annotations

from uuid import UUID

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brokkr_domain.model import Agent, DeploymentObject
from brokkr_domain.ports import TargetStateQuery
from brokkr_domain.rules.target_state import compute_target_state
from brokkr_domain.testing import InMemoryUnitOfWorkFactory
from brokkr_domain.testing import builders as b
from brokkr_domain.testing.fakes import DEFAULT_START
from brokkr_domain.testing.worlds import World, load_world, worlds

PROPERTY_SETTINGS = settings(max_examples=75, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def naive_associated(world: World, agent: Agent) -> set[UUID]:
    """Live stacks associated with the agent, straight from the definition."""
    labels = world.labels_of_agent(agent)
    pairs = world.annotations_of_agent(agent)
    targets = world.targets_of_agent(agent)
    return {
        stack.id
        for stack in world.stacks
        if stack.deleted_at is None
        and (
            stack.id in targets
            or bool(labels & world.labels_of_stack(stack))
            or bool(pairs & world.annotations_of_stack(stack))
        )
    }


def state(world: World, agent: Agent, *, incremental: bool) -> list[DeploymentObject]:
    return compute_target_state(
        agent_id=agent.id,
        associated_stack_ids=naive_associated(world, agent),
        stacks=world.stacks,
        objects=world.objects,
        events=world.events,
        incremental=incremental,
    )


def live_events_of(world: World, agent: Agent) -> list[tuple[UUID, str]]:
    return [
        (e.deployment_object_id, e.status)
        for e in world.events
        if e.agent_id == agent.id and e.deleted_at is None
    ]


@PROPERTY_SETTINGS
@given(world=worlds(), incremental=st.booleans())
def test_at_most_one_object_per_stack_sorted_newest_first(world: World, incremental: bool) -> None:
    for agent in world.agents:
        result = state(world, agent, incremental=incremental)
        stack_ids = [obj.stack_id for obj in result]
        assert len(stack_ids) == len(set(stack_ids))
        sequences = [obj.sequence_id for obj in result]
        assert sequences == sorted(sequences, reverse=True)
        assert all(obj.deleted_at is None for obj in result)


@PROPERTY_SETTINGS
@given(world=worlds())
def test_live_stacks_give_their_latest_live_object_exactly_when_associated(world: World) -> None:
    for agent in world.agents:
        by_stack = {obj.stack_id: obj for obj in state(world, agent, incremental=False)}
        associated = naive_associated(world, agent)
        for stack in world.stacks:
            if stack.deleted_at is not None:
                continue
            live = [o for o in world.objects if o.stack_id == stack.id and o.deleted_at is None]
            if stack.id in associated and live:
                assert by_stack[stack.id] == max(live, key=lambda o: o.sequence_id)
            else:
                assert stack.id not in by_stack


@PROPERTY_SETTINGS
@given(world=worlds())
def test_markers_of_deleted_stacks_reach_exactly_the_agents_that_deployed_them(world: World) -> None:
    for agent in world.agents:
        by_stack = {obj.stack_id: obj for obj in state(world, agent, incremental=False)}
        evented = {object_id for object_id, _ in live_events_of(world, agent)}
        for stack in world.stacks:
            if stack.deleted_at is None:
                continue
            objects = [o for o in world.objects if o.stack_id == stack.id]
            deployed = any(o.id in evented for o in objects)
            markers = [o for o in objects if o.is_deletion_marker and o.deleted_at is None]
            latest = max(markers, key=lambda o: o.sequence_id) if markers else None
            if deployed and latest is not None and latest.id not in evented:
                assert by_stack[stack.id] == latest
            else:
                assert stack.id not in by_stack


@PROPERTY_SETTINGS
@given(world=worlds())
def test_incremental_is_full_minus_successes(world: World) -> None:
    for agent in world.agents:
        full = state(world, agent, incremental=False)
        incremental = state(world, agent, incremental=True)
        succeeded = {object_id for object_id, status in live_events_of(world, agent) if status == "SUCCESS"}
        assert incremental == [obj for obj in full if obj.id not in succeeded]
        failed_only = {
            object_id for object_id, status in live_events_of(world, agent) if status == "FAILURE"
        } - succeeded
        assert {obj.id for obj in full} & failed_only <= {obj.id for obj in incremental}


@PROPERTY_SETTINGS
@given(world=worlds(), incremental=st.booleans())
def test_the_in_memory_repository_applies_the_rule(world: World, incremental: bool) -> None:
    factory = InMemoryUnitOfWorkFactory()
    with factory() as uow:
        loaded = load_world(uow, world)
        uow.commit()
    with factory() as uow:
        for agent in loaded.agents:
            got = uow.deployment_objects.target_state(
                TargetStateQuery(agent_id=agent.id, incremental=incremental)
            )
            assert got == state(loaded, agent, incremental=incremental)
            associated = [s.id for s in uow.stacks.associated_with_agent(agent.id)]
            assert associated == sorted(naive_associated(loaded, agent))


def test_rule_ignores_other_agents_and_deleted_events() -> None:
    at = DEFAULT_START
    generator = b.generator(at)
    stack = b.stack(at, generator.id)
    obj = b.deployment_object(at, stack.id, sequence_id=1)
    me, other = b.agent(at), b.agent(at)
    events = [
        b.agent_event(at, other.id, obj.id, "SUCCESS"),
        b.agent_event(at, me.id, obj.id, "SUCCESS", deleted_at=at),
    ]
    got = compute_target_state(
        agent_id=me.id,
        associated_stack_ids={stack.id},
        stacks=[stack],
        objects=[obj],
        events=events,
        incremental=True,
    )
    assert got == [obj]
