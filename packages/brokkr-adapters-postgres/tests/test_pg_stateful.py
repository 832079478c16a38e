"""PostgreSQL against the in-memory adapter on random operation sequences (hypothesis stateful testing).

Both adapters receive the same operations; every outcome (result or error kind) must agree, and after every
step every agent's association and target state (full and incremental) must be identical. The in-memory
adapter computes the target state with the reference rule (``rules.target_state``), so this checks the one
SQL statement of the hot path against the rule on states no hand-written test thought of.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import Engine

from brokkr_adapters_postgres.testing import truncate_all
from brokkr_adapters_postgres.uow import SqlUnitOfWorkFactory
from brokkr_domain.errors import BrokkrError
from brokkr_domain.model import Agent, DeploymentObject, Stack
from brokkr_domain.ports import TargetStateQuery, UnitOfWork, UnitOfWorkFactory
from brokkr_domain.testing import InMemoryUnitOfWorkFactory
from brokkr_domain.testing import builders as b
from brokkr_domain.testing.fakes import FakeClock, PlainCipher

LABELS = st.sampled_from(["prod", "eu", "edge"])
KEYS = st.sampled_from(["tier", "zone"])
VALUES = st.sampled_from(["gold", "a"])
STATUSES = st.sampled_from(["SUCCESS", "FAILURE"])


def _outcome(factory: UnitOfWorkFactory, action: Callable[[UnitOfWork], Any]) -> Any:
    """Run ``action`` in its own committed unit of work; errors become comparable tuples."""
    try:
        with factory() as uow:
            result = action(uow)
            uow.commit()
    except BrokkrError as exc:
        return ("error", type(exc).__name__, exc.code, exc.details.get("constraint"))
    return result


class PgMatchesMemory(RuleBasedStateMachine):
    engine: Engine  # set by the test before running

    agents = Bundle("agents")
    stacks = Bundle("stacks")
    objects = Bundle("objects")

    def __init__(self) -> None:
        super().__init__()
        truncate_all(self.engine)
        self.pg = SqlUnitOfWorkFactory(self.engine, PlainCipher())
        self.memory = InMemoryUnitOfWorkFactory()
        self.clock = FakeClock()
        self.known_agents: list[Agent] = []

    def both(self, action: Callable[[UnitOfWork], Any]) -> Any:
        expected = _outcome(self.memory, action)
        actual = _outcome(self.pg, action)
        assert actual == expected
        return expected

    @initialize(target=stacks)
    def generator_and_first_stack(self) -> Stack:
        generator = b.generator(self.clock.now())
        self.both(lambda uow: uow.generators.add(generator))
        self.generator_id = generator.id
        stack = b.stack(self.clock.now(), generator.id)
        self.both(lambda uow: uow.stacks.add(stack))
        return stack

    @rule(target=agents)
    def add_agent(self) -> Agent:
        agent = b.agent(self.clock.advance())
        self.both(lambda uow: uow.agents.add(agent))
        self.known_agents.append(agent)
        return agent

    @rule(target=stacks)
    def add_stack(self) -> Stack:
        stack = b.stack(self.clock.advance(), self.generator_id)
        self.both(lambda uow: uow.stacks.add(stack))
        return stack

    @rule(target=objects, stack=stacks, marker=st.booleans())
    def add_object(self, stack: Stack, marker: bool) -> DeploymentObject:
        at = self.clock.advance()
        obj = b.deletion_marker(at, stack.id) if marker else b.deployment_object(at, stack.id)
        self.both(lambda uow: uow.deployment_objects.add(obj).id)
        return obj

    @rule(agent=agents, label=LABELS)
    def label_agent(self, agent: Agent, label: str) -> None:
        self.both(lambda uow: uow.agents.add_label(b.agent_label(agent.id, label)).label)

    @rule(agent=agents, label=LABELS)
    def unlabel_agent(self, agent: Agent, label: str) -> None:
        self.both(lambda uow: uow.agents.remove_label(agent.id, label))

    @rule(stack=stacks, label=LABELS)
    def label_stack(self, stack: Stack, label: str) -> None:
        self.both(lambda uow: uow.stacks.add_label(b.stack_label(stack.id, label)).label)

    @rule(stack=stacks, label=LABELS)
    def unlabel_stack(self, stack: Stack, label: str) -> None:
        self.both(lambda uow: uow.stacks.remove_label(stack.id, label))

    @rule(agent=agents, key=KEYS, value=VALUES)
    def annotate_agent(self, agent: Agent, key: str, value: str) -> None:
        self.both(lambda uow: uow.agents.add_annotation(b.agent_annotation(agent.id, key, value)).key)

    @rule(stack=stacks, key=KEYS, value=VALUES)
    def annotate_stack(self, stack: Stack, key: str, value: str) -> None:
        self.both(lambda uow: uow.stacks.add_annotation(b.stack_annotation(stack.id, key, value)).key)

    @rule(stack=stacks, key=KEYS)
    def unannotate_stack(self, stack: Stack, key: str) -> None:
        self.both(lambda uow: uow.stacks.remove_annotation(stack.id, key))

    @rule(agent=agents, stack=stacks)
    def target(self, agent: Agent, stack: Stack) -> None:
        self.both(lambda uow: uow.agents.add_target(b.agent_target(agent.id, stack.id)).stack_id)

    @rule(agent=agents, stack=stacks)
    def untarget(self, agent: Agent, stack: Stack) -> None:
        self.both(lambda uow: uow.agents.remove_target(agent.id, stack.id))

    @rule(agent=agents, obj=objects, status=STATUSES, deleted=st.booleans())
    def report(self, agent: Agent, obj: DeploymentObject, status: str, deleted: bool) -> None:
        at = self.clock.advance()
        event = b.agent_event(at, agent.id, obj.id, status, deleted_at=at if deleted else None)
        self.both(lambda uow: uow.agent_events.add(event).id)

    @rule(agent=agents, pick=st.integers(0, 3), status=STATUSES)
    def report_on_target_state(self, agent: Agent, pick: int, status: str) -> None:
        """An agent reports on an object it was told to deploy: the events that matter most."""
        query = TargetStateQuery(agent_id=agent.id)
        with self.memory() as uow:
            wanted = uow.deployment_objects.target_state(query)
        if wanted:
            obj = wanted[pick % len(wanted)]
            event = b.agent_event(self.clock.advance(), agent.id, obj.id, status)
            self.both(lambda uow: uow.agent_events.add(event).id)

    @rule(target=objects, stack=stacks)
    def delete_stack(self, stack: Stack) -> DeploymentObject:
        """The stack-deletion use case: soft-delete stack and objects, then add a deletion marker."""
        at = self.clock.advance()
        marker = b.deletion_marker(at, stack.id)

        def delete(uow: UnitOfWork) -> tuple[bool, int]:
            deleted = uow.stacks.soft_delete(stack.id, at)
            count = uow.deployment_objects.soft_delete_for_stack(stack.id, at)
            uow.deployment_objects.add(marker)
            return deleted, count

        self.both(delete)
        return marker

    @rule(agent=agents)
    def delete_agent_events(self, agent: Agent) -> None:
        self.both(lambda uow: uow.agent_events.soft_delete_for_agent(agent.id, self.clock.advance()))

    @invariant()
    def same_association_and_target_state(self) -> None:
        for agent in self.known_agents:
            self.both(lambda uow, a=agent: [s.id for s in uow.stacks.associated_with_agent(a.id)])
            for incremental in (False, True):
                query = TargetStateQuery(agent_id=agent.id, incremental=incremental)
                self.both(lambda uow, q=query: [o.id for o in uow.deployment_objects.target_state(q)])


def test_postgres_matches_the_in_memory_adapter(engine: Engine) -> None:
    PgMatchesMemory.engine = engine
    run_state_machine_as_test(
        PgMatchesMemory,
        settings=settings(
            max_examples=30,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
