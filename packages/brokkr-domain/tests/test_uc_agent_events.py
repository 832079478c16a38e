"""Agent events: reporting (validation, emission with filterable context) and identity-scoped reading."""

from __future__ import annotations

import json
from uuid import UUID

import pytest

from brokkr_domain.errors import ForbiddenError, NotFoundError, ValidationError
from brokkr_domain.model import Actor, Caller, WebhookFilters
from brokkr_domain.testing import FakeClock, InMemoryUnitOfWorkFactory, RecordingAuditSink, SequentialIds
from brokkr_domain.usecases import agent_events, agents, generators, stacks
from brokkr_domain.usecases.context import Services
from domain_support import deliveries, subscribe

ADMIN = Caller(actor=Actor.admin())
YAML = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {}\n"


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
    """Two generators with one stack and one object each; agent A deploys both objects, agent B nothing."""

    def __init__(self, s: Services) -> None:
        self.s = s
        self.gen1 = generators.create_generator(s, ADMIN, name="g1")[0].id
        self.gen2 = generators.create_generator(s, ADMIN, name="g2")[0].id
        self.stack1 = stacks.create_stack(s, ADMIN, name="s1", generator_id=self.gen1).id
        self.stack2 = stacks.create_stack(s, ADMIN, name="s2", generator_id=self.gen2).id
        self.obj1 = stacks.create_deployment_object(s, ADMIN, self.stack1, yaml_content=YAML.format("one")).id
        self.obj2 = stacks.create_deployment_object(s, ADMIN, self.stack2, yaml_content=YAML.format("two")).id
        self.a = agents.create_agent(s, ADMIN, name="a", cluster_name="c")[0].id
        self.b = agents.create_agent(s, ADMIN, name="b", cluster_name="c")[0].id

    def report(self, agent_id: UUID, obj: UUID, status: str = "SUCCESS") -> UUID:
        event = agent_events.create_agent_event(
            self.s, as_agent(agent_id), agent_id, deployment_object_id=obj, event_type="DEPLOY", status=status
        )
        return event.id


@pytest.fixture
def w(s: Services) -> World:
    return World(s)


# --- reporting --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "stored", "event"),
    [("success", "SUCCESS", "deployment.applied"), ("Failure", "FAILURE", "deployment.failed")],
)
def test_report_normalises_status_and_emits_the_matching_event(
    s: Services, w: World, status: str, stored: str, event: str
) -> None:
    sub = subscribe(s, "deployment.*")
    created = agent_events.create_agent_event(
        s, as_agent(w.a), w.a, deployment_object_id=w.obj1, event_type="DEPLOY", status=status, message="ok"
    )
    assert created.status == stored
    [delivery] = deliveries(s, sub)
    payload = json.loads(delivery.payload)
    assert payload["event_type"] == event
    assert payload["data"]["agent_event_id"] == str(created.id)
    assert payload["data"]["status"] == stored
    assert payload["data"]["message"] == "ok"


def test_report_context_lets_filters_select_by_agent_stack_and_labels(s: Services, w: World) -> None:
    agents.add_agent_label(s, ADMIN, w.a, "edge")
    agents.add_agent_annotation(s, ADMIN, w.a, key="region", value="eu")
    by_agent = subscribe(s, "*", filters=WebhookFilters(agent_id=w.a))
    by_other_agent = subscribe(s, "*", filters=WebhookFilters(agent_id=w.b))
    by_stack = subscribe(s, "deployment.applied", filters=WebhookFilters(stack_id=w.stack1))
    by_other_stack = subscribe(s, "deployment.applied", filters=WebhookFilters(stack_id=w.stack2))
    by_annotation = subscribe(s, "deployment.applied", filters=WebhookFilters(labels={"region": "eu"}))
    by_label = subscribe(s, "deployment.applied", filters=WebhookFilters(labels={"edge": ""}))
    by_wrong_label = subscribe(s, "deployment.applied", filters=WebhookFilters(labels={"region": "us"}))
    w.report(w.a, w.obj1)
    assert [len(deliveries(s, sub)) for sub in (by_agent, by_stack, by_annotation, by_label)] == [1, 1, 1, 1]
    assert [len(deliveries(s, sub)) for sub in (by_other_agent, by_other_stack, by_wrong_label)] == [0, 0, 0]


@pytest.mark.parametrize("status", ["", "OK", "SUCCEEDED", "pending"])
def test_report_rejects_unknown_statuses(s: Services, w: World, status: str) -> None:
    with pytest.raises(ValidationError) as caught:
        w.report(w.a, w.obj1, status)
    assert (caught.value.code, caught.value.details["field"]) == ("invalid_status", "status")


def test_report_validates_event_type_message_and_body_id(s: Services, w: World) -> None:
    def report(**overrides: object) -> None:
        fields: dict[str, object] = {
            "deployment_object_id": w.obj1,
            "event_type": "DEPLOY",
            "status": "SUCCESS",
        } | overrides
        agent_events.create_agent_event(s, as_agent(w.a), w.a, **fields)  # type: ignore[arg-type]

    for overrides, field in (
        ({"event_type": " "}, "event_type"),
        ({"event_type": "E" * 51}, "event_type"),
        ({"message": "m" * 70_000}, "message"),
        ({"body_agent_id": w.b}, "agent_id"),
    ):
        with pytest.raises(ValidationError) as caught:
            report(**overrides)
        assert caught.value.details["field"] == field
    with pytest.raises(ValidationError) as mismatch:
        report(body_agent_id=w.b)
    assert mismatch.value.code == "agent_id_mismatch"
    assert agent_events.list_agent_events(s, ADMIN, w.a) == []


def test_report_on_an_unknown_object_is_404_and_writes_nothing(s: Services, w: World) -> None:
    sub = subscribe(s, "*")
    with pytest.raises(NotFoundError) as caught:
        w.report(w.a, UUID(int=404))
    assert caught.value.code == "deployment_object_not_found"
    assert agent_events.list_agent_events(s, ADMIN, w.a) == []
    assert deliveries(s, sub) == []


def test_report_on_an_object_of_a_since_deleted_stack_is_accepted(s: Services, w: World) -> None:
    stacks.delete_stack(s, ADMIN, w.stack1)
    w.report(w.a, w.obj1)
    [marker] = agents.get_target_state(s, as_agent(w.a), w.a)
    assert marker.is_deletion_marker and marker.stack_id == w.stack1


def test_only_admin_or_self_reports_and_lists(s: Services, w: World) -> None:
    for caller in (as_agent(w.b), as_generator(w.gen1)):
        with pytest.raises(ForbiddenError) as caught:
            agent_events.create_agent_event(
                s, caller, w.a, deployment_object_id=w.obj1, event_type="DEPLOY", status="SUCCESS"
            )
        assert caught.value.code == "agent_pak_mismatch"
        with pytest.raises(ForbiddenError):
            agent_events.list_agent_events(s, caller, w.a)
    agent_events.create_agent_event(
        s, ADMIN, w.a, deployment_object_id=w.obj1, event_type="DEPLOY", status="FAILURE"
    )
    assert len(agent_events.list_agent_events(s, as_agent(w.a), w.a)) == 1


# --- reading ----------------------------------------------------------------------------------------------


def test_listing_is_scoped_by_identity(s: Services, w: World) -> None:
    e1 = w.report(w.a, w.obj1)
    e2 = w.report(w.a, w.obj2)
    e3 = w.report(w.b, w.obj2)

    def ids(caller: Caller) -> set[UUID]:
        return {event.id for event in agent_events.list_events(s, caller)}

    assert ids(ADMIN) == {e1, e2, e3}
    assert ids(as_agent(w.a)) == {e1, e2}
    assert ids(as_agent(w.b)) == {e3}
    assert ids(as_generator(w.gen1)) == {e1}
    assert ids(as_generator(w.gen2)) == {e2, e3}


def test_get_is_scoped_by_identity(s: Services, w: World) -> None:
    event_id = w.report(w.a, w.obj1)
    for caller in (ADMIN, as_agent(w.a), as_generator(w.gen1)):
        assert agent_events.get_event(s, caller, event_id).id == event_id
    for caller in (as_agent(w.b), as_generator(w.gen2)):
        with pytest.raises(ForbiddenError) as caught:
            agent_events.get_event(s, caller, event_id)
        assert caught.value.code == "agent_event_not_accessible"
    with pytest.raises(NotFoundError) as missing:
        agent_events.get_event(s, ADMIN, UUID(int=404))
    assert missing.value.code == "agent_event_not_found"


def test_a_generator_still_sees_events_of_its_deleted_stack(s: Services, w: World) -> None:
    event_id = w.report(w.a, w.obj1)
    stacks.delete_stack(s, ADMIN, w.stack1)
    assert [e.id for e in agent_events.list_events(s, as_generator(w.gen1))] == [event_id]


def test_the_system_identity_reads_no_events(s: Services, w: World) -> None:
    w.report(w.a, w.obj1)
    with pytest.raises(ForbiddenError):
        agent_events.list_events(s, Caller.system())
