"""The authorization matrix of the identity and deployment use cases.

Every use case of the agents, agent-events, generators, stacks, deployment-objects and health modules is
called by five identities against the same world; the table says who is allowed. A denial must be a
``ForbiddenError`` and must leave no trace: no row changed, no audit entry. A completeness check fails when a
new use case is added to those modules without a row here.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from brokkr_domain.errors import ForbiddenError
from brokkr_domain.model import Actor, Caller
from brokkr_domain.testing import FakeClock, InMemoryUnitOfWorkFactory, RecordingAuditSink, SequentialIds
from brokkr_domain.usecases import agent_events, agents, deployment_objects, generators, health, stacks
from brokkr_domain.usecases.context import Services
from brokkr_domain.usecases.health import HealthUpdate

ADMIN = Caller(actor=Actor.admin())
YAML = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {}\n"
CALLERS = ("admin", "same_agent", "other_agent", "own_generator", "other_generator")


class World:
    """One owning generator with two stacks; agent ``me`` targets and shares a label with stack ``stack``."""

    def __init__(self) -> None:
        self.audit = RecordingAuditSink()
        self.uow = InMemoryUnitOfWorkFactory()
        self.s = Services(uow=self.uow, clock=FakeClock(), ids=SequentialIds(seed=1), audit=self.audit)
        s = self.s
        self.gen = generators.create_generator(s, ADMIN, name="own")[0].id
        self.other_gen = generators.create_generator(s, ADMIN, name="other")[0].id
        self.stack = stacks.create_stack(s, ADMIN, name="web", generator_id=self.gen).id
        self.stack2 = stacks.create_stack(s, ADMIN, name="api", generator_id=self.gen).id
        stacks.add_stack_label(s, ADMIN, self.stack, "edge")
        stacks.add_stack_annotation(s, ADMIN, self.stack, key="tier", value="gold")
        self.obj = stacks.create_deployment_object(s, ADMIN, self.stack, yaml_content=YAML.format("a")).id
        self.me = agents.create_agent(s, ADMIN, name="me", cluster_name="c")[0].id
        self.other = agents.create_agent(s, ADMIN, name="other", cluster_name="c")[0].id
        agents.add_agent_target(s, ADMIN, self.me, self.stack)
        agents.add_agent_label(s, ADMIN, self.me, "edge")
        agents.add_agent_annotation(s, ADMIN, self.me, key="tier", value="gold")
        self.event = agent_events.create_agent_event(
            s, ADMIN, self.me, deployment_object_id=self.obj, event_type="DEPLOY", status="SUCCESS"
        ).id

    def caller(self, name: str) -> Caller:
        return {
            "admin": ADMIN,
            "same_agent": Caller(actor=Actor.agent(self.me)),
            "other_agent": Caller(actor=Actor.agent(self.other)),
            "own_generator": Caller(actor=Actor.generator(self.gen)),
            "other_generator": Caller(actor=Actor.generator(self.other_gen)),
        }[name]


Op = Callable[[Services, Caller, World], Any]

# name: (call, allowed for admin / same agent / other agent / owning generator / other generator)
MATRIX: dict[str, tuple[Op, str]] = {
    "agents.list_agents": (lambda s, c, w: agents.list_agents(s, c), "A...."),
    "agents.create_agent": (lambda s, c, w: agents.create_agent(s, c, name="new", cluster_name="c"), "A...."),
    "agents.find_agent": (lambda s, c, w: agents.find_agent(s, c, name="me", cluster_name="c"), "AA..."),
    "agents.get_agent": (lambda s, c, w: agents.get_agent(s, c, w.me), "AA..."),
    "agents.update_agent": (lambda s, c, w: agents.update_agent(s, c, w.me, status="ACTIVE"), "AA..."),
    "agents.delete_agent": (lambda s, c, w: agents.delete_agent(s, c, w.me), "A...."),
    "agents.heartbeat": (lambda s, c, w: agents.heartbeat(s, c, w.me), ".A..."),
    "agents.rotate_agent_pak": (lambda s, c, w: agents.rotate_agent_pak(s, c, w.me), "AA..."),
    "agents.get_target_state": (lambda s, c, w: agents.get_target_state(s, c, w.me, "full"), "AA..."),
    "agents.associated_stacks": (lambda s, c, w: agents.associated_stacks(s, c, w.me), "AA..."),
    "agents.list_agent_labels": (lambda s, c, w: agents.list_agent_labels(s, c, w.me), "AA..."),
    "agents.add_agent_label": (lambda s, c, w: agents.add_agent_label(s, c, w.me, "new"), "A...."),
    "agents.remove_agent_label": (lambda s, c, w: agents.remove_agent_label(s, c, w.me, "edge"), "A...."),
    "agents.list_agent_annotations": (lambda s, c, w: agents.list_agent_annotations(s, c, w.me), "AA..."),
    "agents.add_agent_annotation": (
        lambda s, c, w: agents.add_agent_annotation(s, c, w.me, key="k", value="v"),
        "A....",
    ),
    "agents.remove_agent_annotation": (
        lambda s, c, w: agents.remove_agent_annotation(s, c, w.me, "tier"),
        "A....",
    ),
    "agents.list_agent_targets": (lambda s, c, w: agents.list_agent_targets(s, c, w.me), "AA..."),
    "agents.add_agent_target": (lambda s, c, w: agents.add_agent_target(s, c, w.me, w.stack2), "AA..."),
    "agents.remove_agent_target": (lambda s, c, w: agents.remove_agent_target(s, c, w.me, w.stack), "AA..."),
    "agent_events.list_events": (lambda s, c, w: agent_events.list_events(s, c), "AAAAA"),
    "agent_events.get_event": (lambda s, c, w: agent_events.get_event(s, c, w.event), "AA.A."),
    "agent_events.list_agent_events": (lambda s, c, w: agent_events.list_agent_events(s, c, w.me), "AA..."),
    "agent_events.create_agent_event": (
        lambda s, c, w: agent_events.create_agent_event(
            s, c, w.me, deployment_object_id=w.obj, event_type="DEPLOY", status="FAILURE"
        ),
        "AA...",
    ),
    "generators.list_generators": (lambda s, c, w: generators.list_generators(s, c), "A...."),
    "generators.create_generator": (lambda s, c, w: generators.create_generator(s, c, name="new"), "A...."),
    "generators.get_generator": (lambda s, c, w: generators.get_generator(s, c, w.gen), "A..A."),
    "generators.update_generator": (
        lambda s, c, w: generators.update_generator(s, c, w.gen, description="changed"),
        "A..A.",
    ),
    "generators.delete_generator": (lambda s, c, w: generators.delete_generator(s, c, w.gen), "A..A."),
    "generators.rotate_generator_pak": (
        lambda s, c, w: generators.rotate_generator_pak(s, c, w.gen),
        "A..A.",
    ),
    "stacks.list_stacks": (lambda s, c, w: stacks.list_stacks(s, c), "A..AA"),
    "stacks.create_stack": (
        lambda s, c, w: stacks.create_stack(s, c, name="new", generator_id=w.gen),
        "A..A.",
    ),
    "stacks.get_stack": (lambda s, c, w: stacks.get_stack(s, c, w.stack), "A..A."),
    "stacks.update_stack": (lambda s, c, w: stacks.update_stack(s, c, w.stack, name="renamed"), "A..A."),
    "stacks.delete_stack": (lambda s, c, w: stacks.delete_stack(s, c, w.stack), "A..A."),
    "stacks.list_stack_labels": (lambda s, c, w: stacks.list_stack_labels(s, c, w.stack), "AA.A."),
    "stacks.add_stack_label": (lambda s, c, w: stacks.add_stack_label(s, c, w.stack, "new"), "A..A."),
    "stacks.remove_stack_label": (lambda s, c, w: stacks.remove_stack_label(s, c, w.stack, "edge"), "A..A."),
    "stacks.list_stack_annotations": (lambda s, c, w: stacks.list_stack_annotations(s, c, w.stack), "AA.A."),
    "stacks.add_stack_annotation": (
        lambda s, c, w: stacks.add_stack_annotation(s, c, w.stack, key="k", value="v"),
        "A..A.",
    ),
    "stacks.remove_stack_annotation": (
        lambda s, c, w: stacks.remove_stack_annotation(s, c, w.stack, "tier"),
        "A..A.",
    ),
    "stacks.list_deployment_objects": (
        lambda s, c, w: stacks.list_deployment_objects(s, c, w.stack),
        "A..A.",
    ),
    "stacks.create_deployment_object": (
        lambda s, c, w: stacks.create_deployment_object(s, c, w.stack, yaml_content=YAML.format("b")),
        "A..A.",
    ),
    "deployment_objects.get_deployment_object": (
        lambda s, c, w: deployment_objects.get_deployment_object(s, c, w.obj),
        "AA.A.",
    ),
    "deployment_objects.deployment_object_health": (
        lambda s, c, w: deployment_objects.deployment_object_health(s, c, w.obj),
        "A....",
    ),
    "health.report_health": (
        lambda s, c, w: health.report_health(
            s,
            c,
            w.me,
            [HealthUpdate(deployment_object_id=w.obj, status="healthy", checked_at=w.s.clock.now())],
        ),
        "AA...",
    ),
    "health.stack_health": (lambda s, c, w: health.stack_health(s, c, w.stack), "A...."),
}

CASES = [
    (op, who, expected[i] == "A") for op, (_, expected) in MATRIX.items() for i, who in enumerate(CALLERS)
]


@pytest.mark.parametrize(("op", "who", "allowed"), CASES, ids=[f"{op}-{who}" for op, who, _ in CASES])
def test_authorization_matrix(op: str, who: str, allowed: bool) -> None:
    world = World()
    call, _ = MATRIX[op]
    before_rows = world.uow.store.snapshot()
    before_audit = list(world.audit.entries)
    if allowed:
        call(world.s, world.caller(who), world)
        return
    with pytest.raises(ForbiddenError):
        call(world.s, world.caller(who), world)
    assert world.uow.store.snapshot() == before_rows, "a denied call changed state"
    assert world.audit.entries == before_audit, "a denied call was audited"


MODULES: tuple[ModuleType, ...] = (agents, agent_events, generators, stacks, deployment_objects, health)


def test_the_matrix_covers_every_use_case() -> None:
    use_cases = set()
    for module in MODULES:
        for name in module.__all__:
            fn = getattr(module, name)
            if inspect.isfunction(fn) and list(inspect.signature(fn).parameters)[:2] == ["s", "caller"]:
                use_cases.add(f"{module.__name__.rsplit('.', 1)[1]}.{name}")
    assert use_cases == set(MATRIX)
