"""Reading deployment objects (admin, owner, associated or deploying agent) and object health."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import pytest

from brokkr_domain.errors import ForbiddenError, NotFoundError
from brokkr_domain.model import Actor, Caller, HealthStatus
from brokkr_domain.testing import FakeClock, InMemoryUnitOfWorkFactory, RecordingAuditSink, SequentialIds
from brokkr_domain.usecases import agent_events, agents, deployment_objects, generators, health, stacks
from brokkr_domain.usecases.context import Services
from brokkr_domain.usecases.health import HealthUpdate

ADMIN = Caller(actor=Actor.admin())
YAML = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {}\n"
CHECKED = datetime(2024, 1, 1, 12, tzinfo=UTC)


@pytest.fixture
def s() -> Services:
    return Services(
        uow=InMemoryUnitOfWorkFactory(),
        clock=FakeClock(),
        ids=SequentialIds(seed=1),
        audit=RecordingAuditSink(),
    )


def as_agent(agent_id: UUID) -> Caller:
    return Caller(actor=Actor.agent(agent_id))


def as_generator(generator_id: UUID) -> Caller:
    return Caller(actor=Actor.generator(generator_id))


class World:
    def __init__(self, s: Services) -> None:
        self.owner = generators.create_generator(s, ADMIN, name="owner")[0].id
        self.other = generators.create_generator(s, ADMIN, name="other")[0].id
        self.stack = stacks.create_stack(s, ADMIN, name="web", generator_id=self.owner).id
        self.obj = stacks.create_deployment_object(s, ADMIN, self.stack, yaml_content=YAML.format("a")).id
        self.agent = agents.create_agent(s, ADMIN, name="a", cluster_name="c")[0].id


@pytest.fixture
def w(s: Services) -> World:
    return World(s)


def test_admin_and_owner_read_other_generators_do_not(s: Services, w: World) -> None:
    assert deployment_objects.get_deployment_object(s, ADMIN, w.obj).id == w.obj
    assert deployment_objects.get_deployment_object(s, as_generator(w.owner), w.obj).id == w.obj
    with pytest.raises(ForbiddenError) as caught:
        deployment_objects.get_deployment_object(s, as_generator(w.other), w.obj)
    assert caught.value.code == "generator_not_associated"


def test_unknown_and_soft_deleted_objects_are_404(s: Services, w: World) -> None:
    with pytest.raises(NotFoundError) as unknown:
        deployment_objects.get_deployment_object(s, ADMIN, UUID(int=404))
    assert unknown.value.code == "deployment_object_not_found"
    stacks.delete_stack(s, ADMIN, w.stack)
    with pytest.raises(NotFoundError):
        deployment_objects.get_deployment_object(s, as_generator(w.owner), w.obj)


def test_an_unassociated_agent_is_refused(s: Services, w: World) -> None:
    with pytest.raises(ForbiddenError) as caught:
        deployment_objects.get_deployment_object(s, as_agent(w.agent), w.obj)
    assert caught.value.code == "agent_not_associated"


@pytest.mark.parametrize("how", ["target", "label", "annotation"])
def test_an_agent_associated_by_any_means_reads(s: Services, w: World, how: str) -> None:
    if how == "target":
        agents.add_agent_target(s, ADMIN, w.agent, w.stack)
    elif how == "label":
        agents.add_agent_label(s, ADMIN, w.agent, "edge")
        stacks.add_stack_label(s, ADMIN, w.stack, "edge")
    else:
        agents.add_agent_annotation(s, ADMIN, w.agent, key="tier", value="gold")
        stacks.add_stack_annotation(s, ADMIN, w.stack, key="tier", value="gold")
    assert deployment_objects.get_deployment_object(s, as_agent(w.agent), w.obj).id == w.obj


def test_the_marker_of_a_deleted_stack_is_readable_by_the_agents_that_deployed_it(
    s: Services, w: World
) -> None:
    bystander = agents.create_agent(s, ADMIN, name="b", cluster_name="c")[0].id
    for agent_id in (w.agent, bystander):
        agents.add_agent_target(s, ADMIN, agent_id, w.stack)
    agent_events.create_agent_event(
        s, as_agent(w.agent), w.agent, deployment_object_id=w.obj, event_type="DEPLOY", status="SUCCESS"
    )
    stacks.delete_stack(s, ADMIN, w.stack)
    [marker] = agents.get_target_state(s, as_agent(w.agent), w.agent)

    assert deployment_objects.get_deployment_object(s, as_agent(w.agent), marker.id).id == marker.id
    assert deployment_objects.get_deployment_object(s, as_generator(w.owner), marker.id).id == marker.id
    with pytest.raises(ForbiddenError):
        deployment_objects.get_deployment_object(s, as_agent(bystander), marker.id)


def test_object_health_rolls_up_every_agents_report(s: Services, w: World) -> None:
    assert deployment_objects.deployment_object_health(s, ADMIN, w.obj).overall_status is HealthStatus.UNKNOWN
    second = agents.create_agent(s, ADMIN, name="b", cluster_name="c")[0].id
    health.report_health(
        s,
        as_agent(w.agent),
        w.agent,
        [HealthUpdate(deployment_object_id=w.obj, status="healthy", checked_at=CHECKED)],
    )
    health.report_health(
        s,
        as_agent(second),
        second,
        [HealthUpdate(deployment_object_id=w.obj, status="degraded", checked_at=CHECKED)],
    )
    report = deployment_objects.deployment_object_health(s, ADMIN, w.obj)
    assert report.deployment_object_id == w.obj
    assert report.overall_status is HealthStatus.DEGRADED
    assert {(r.agent_id, r.status) for r in report.health_records} == {
        (w.agent, HealthStatus.HEALTHY),
        (second, HealthStatus.DEGRADED),
    }


def test_object_health_is_admin_only_and_404_for_unknown_ids(s: Services, w: World) -> None:
    for caller in (as_agent(w.agent), as_generator(w.owner)):
        with pytest.raises(ForbiddenError) as caught:
            deployment_objects.deployment_object_health(s, caller, w.obj)
        assert caught.value.code == "admin_required"
    with pytest.raises(NotFoundError):
        deployment_objects.deployment_object_health(s, ADMIN, UUID(int=404))
