"""Generator use cases: admin creation, self-service, and the deletion cascade over stacks and templates."""

from __future__ import annotations

import json
from uuid import UUID

import pytest

from brokkr_domain.errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    UnauthorizedError,
    ValidationError,
)
from brokkr_domain.model import Actor, ActorType, Caller, WebhookSubscription
from brokkr_domain.testing import (
    FakeClock,
    InMemoryUnitOfWorkFactory,
    RecordingAuditSink,
    SequentialIds,
    builders,
)
from brokkr_domain.usecases import agent_events, agents, generators, stacks
from brokkr_domain.usecases.auth import authenticate
from brokkr_domain.usecases.context import Services

ADMIN = Caller(actor=Actor.admin())
YAML = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {}\n"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def audit() -> RecordingAuditSink:
    return RecordingAuditSink()


@pytest.fixture
def s(clock: FakeClock, audit: RecordingAuditSink) -> Services:
    return Services(uow=InMemoryUnitOfWorkFactory(), clock=clock, ids=SequentialIds(seed=1), audit=audit)


def as_generator(generator_id: UUID) -> Caller:
    return Caller(actor=Actor.generator(generator_id), ip_address="203.0.113.9", user_agent="ci")


def as_agent(agent_id: UUID) -> Caller:
    return Caller(actor=Actor.agent(agent_id))


def test_create_returns_a_working_key_and_audits(s: Services, audit: RecordingAuditSink) -> None:
    generator, key = generators.create_generator(s, ADMIN, name="ci", description="the CI")
    assert (generator.name, generator.description, generator.is_active) == ("ci", "the CI", True)
    assert authenticate(s, key) == Actor.generator(generator.id)
    assert audit.actions() == ["generator.created"]
    assert generators.list_generators(s, ADMIN) == [generator]


def test_create_validates_and_rejects_duplicates(s: Services) -> None:
    generators.create_generator(s, ADMIN, name="ci")
    with pytest.raises(ConflictError) as conflict:
        generators.create_generator(s, ADMIN, name="ci")
    assert conflict.value.details["constraint"] == "unique_generator_name"
    for name, description, field in (
        ("", None, "name"),
        ("n" * 256, None, "name"),
        ("x", " ", "description"),
    ):
        with pytest.raises(ValidationError) as caught:
            generators.create_generator(s, ADMIN, name=name, description=description)
        assert caught.value.details["field"] == field


@pytest.mark.parametrize("caller", [as_generator(UUID(int=1)), as_agent(UUID(int=2))])
def test_only_the_admin_lists_and_creates(s: Services, caller: Caller) -> None:
    with pytest.raises(ForbiddenError) as listing:
        generators.list_generators(s, caller)
    with pytest.raises(ForbiddenError) as creating:
        generators.create_generator(s, caller, name="x")
    assert listing.value.code == creating.value.code == "admin_required"


def test_get_update_rotate_are_admin_or_self(s: Services, audit: RecordingAuditSink) -> None:
    me = generators.create_generator(s, ADMIN, name="me")[0].id
    other = generators.create_generator(s, ADMIN, name="other")[0].id
    assert generators.get_generator(s, as_generator(me), me).id == me
    for caller in (as_generator(other), as_agent(me)):
        with pytest.raises(ForbiddenError) as caught:
            generators.get_generator(s, caller, me)
        assert caught.value.code == "generator_not_owned"
    with pytest.raises(NotFoundError) as missing:
        generators.get_generator(s, ADMIN, UUID(int=404))
    assert missing.value.code == "generator_not_found"

    updated = generators.update_generator(
        s, as_generator(me), me, name="me2", description=None, is_active=False
    )
    assert (updated.name, updated.description, updated.is_active) == ("me2", None, False)
    entry = audit.entries[-1]
    assert (entry.action, entry.actor_type, entry.actor_id, entry.ip_address) == (
        "generator.updated",
        ActorType.GENERATOR,
        me,
        "203.0.113.9",
    )
    with pytest.raises(ConflictError):
        generators.update_generator(s, ADMIN, me, name="other")
    with pytest.raises(ValidationError) as mismatch:
        generators.update_generator(s, ADMIN, me, name="x", body_id=other)
    assert mismatch.value.code == "generator_id_mismatch"

    _, old_key = generators.create_generator(s, ADMIN, name="rot")
    rotated_id = authenticate(s, old_key).id
    assert rotated_id is not None
    _, new_key = generators.rotate_generator_pak(s, as_generator(rotated_id), rotated_id)
    with pytest.raises(UnauthorizedError):
        authenticate(s, old_key)
    assert authenticate(s, new_key) == Actor.generator(rotated_id)
    assert (audit.entries[-1].action, audit.entries[-1].resource_type) == ("pak.rotated", "generator")


def test_update_without_changes_is_not_audited(s: Services, audit: RecordingAuditSink) -> None:
    me = generators.create_generator(s, ADMIN, name="me")[0].id
    generators.update_generator(s, ADMIN, me, name="me", is_active=True)
    assert audit.actions() == ["generator.created"]


def test_delete_cascades_to_stacks_objects_markers_and_templates(
    s: Services, clock: FakeClock, audit: RecordingAuditSink
) -> None:
    me = generators.create_generator(s, ADMIN, name="me")[0].id
    bystander = generators.create_generator(s, ADMIN, name="bystander")[0].id
    deployed = stacks.create_stack(s, as_generator(me), name="deployed", generator_id=me).id
    idle = stacks.create_stack(s, as_generator(me), name="idle", generator_id=me).id
    kept = stacks.create_stack(s, ADMIN, name="kept", generator_id=bystander).id
    obj = stacks.create_deployment_object(s, as_generator(me), deployed, yaml_content=YAML.format("a"))
    stacks.create_deployment_object(s, as_generator(me), idle, yaml_content=YAML.format("b"))
    agent = agents.create_agent(s, ADMIN, name="a", cluster_name="c")[0].id
    agents.add_agent_target(s, ADMIN, agent, deployed)
    agent_events.create_agent_event(
        s, as_agent(agent), agent, deployment_object_id=obj.id, event_type="DEPLOY", status="SUCCESS"
    )
    with s.uow() as uow:
        own_template = uow.templates.add(builders.template(clock.now(), me))
        other_template = uow.templates.add(builders.template(clock.now(), bystander))
        uow.webhooks.add(
            WebhookSubscription(
                id=s.ids.new_id(),
                name="hook",
                url="https://receiver.test/",
                event_types=("stack.deleted",),
                created_at=clock.now(),
                updated_at=clock.now(),
            )
        )
        uow.commit()
    clock.advance(10)

    generators.delete_generator(s, as_generator(me), me)

    with s.uow() as uow:
        assert uow.generators.get(me) is None
        assert {st.id for st in uow.stacks.list()} == {kept}
        for stack_id in (deployed, idle):
            live = uow.deployment_objects.list_for_stack(stack_id)
            assert [o.is_deletion_marker for o in live] == [True], "only the marker stays live"
        assert uow.templates.get(own_template.id) is None
        assert uow.templates.get(other_template.id) is not None
        [sub] = uow.webhooks.list()
        stack_ids = {
            json.loads(d.payload)["data"]["stack_id"] for d in uow.deliveries.list_for_subscription(sub.id)
        }
    assert stack_ids == {str(deployed), str(idle)}
    [marker] = agents.get_target_state(s, as_agent(agent), agent)
    assert marker.stack_id == deployed and marker.is_deletion_marker
    entry = audit.entries[-1]
    assert entry.action == "generator.deleted" and entry.actor_id == me
    assert entry.details == {"name": "me", "stacks_deleted": 2, "templates_deleted": 1}
    generators.create_generator(s, ADMIN, name="me")  # the name is free again


def test_delete_is_admin_or_self_and_404_when_absent(s: Services) -> None:
    me = generators.create_generator(s, ADMIN, name="me")[0].id
    other = generators.create_generator(s, ADMIN, name="other")[0].id
    with pytest.raises(ForbiddenError):
        generators.delete_generator(s, as_generator(other), me)
    generators.delete_generator(s, ADMIN, me)
    with pytest.raises(NotFoundError):
        generators.delete_generator(s, ADMIN, me)
