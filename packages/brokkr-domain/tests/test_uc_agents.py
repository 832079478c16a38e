"""Agent use cases: registration, self-service, deletion cascade, target state, labels/annotations/targets."""

from __future__ import annotations

from uuid import UUID

import pytest

from brokkr_domain.errors import ConflictError, ForbiddenError, NotFoundError, ValidationError
from brokkr_domain.model import Actor, ActorType, Caller, EventType
from brokkr_domain.testing import FakeClock, InMemoryUnitOfWorkFactory, RecordingAuditSink, SequentialIds
from brokkr_domain.usecases import agent_events, agents, generators, stacks
from brokkr_domain.usecases.auth import authenticate
from brokkr_domain.usecases.context import Services
from domain_support import deliveries, subscribe

ADMIN = Caller(actor=Actor.admin(), ip_address="192.0.2.10", user_agent="brokkr-cli")
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


def as_agent(agent_id: UUID) -> Caller:
    return Caller(actor=Actor.agent(agent_id), ip_address="198.51.100.7", user_agent="brokkr-agent")


def as_generator(generator_id: UUID) -> Caller:
    return Caller(actor=Actor.generator(generator_id))


def new_agent(s: Services, name: str = "a1", cluster: str = "c1") -> UUID:
    agent, _ = agents.create_agent(s, ADMIN, name=name, cluster_name=cluster)
    return agent.id


def new_stack(s: Services, name: str = "web") -> UUID:
    generator, _ = generators.create_generator(s, ADMIN, name=f"gen-{name}")
    return stacks.create_stack(s, ADMIN, name=name, generator_id=generator.id).id


# --- create / list / find / get ---------------------------------------------------------------------------


def test_create_registers_an_inactive_agent_emits_and_audits(s: Services, audit: RecordingAuditSink) -> None:
    wanted = subscribe(s, "agent.*")
    unwanted = subscribe(s, "stack.*")
    disabled = subscribe(s, "*", enabled=False)
    agent, key = agents.create_agent(s, ADMIN, name="edge", cluster_name="eu-1")

    assert agent.status == "INACTIVE"
    assert authenticate(s, key) == Actor.agent(agent.id)
    [delivery] = deliveries(s, wanted)
    assert delivery.event_type == EventType.AGENT_REGISTERED.value
    assert f'"agent_id":"{agent.id}"' in delivery.payload
    assert deliveries(s, unwanted) == []
    assert deliveries(s, disabled) == []
    [entry] = audit.entries
    assert (entry.action, entry.actor_type, entry.resource_id) == ("agent.created", ActorType.ADMIN, agent.id)
    assert (entry.ip_address, entry.user_agent) == ("192.0.2.10", "brokkr-cli")
    assert entry.details == {"name": "edge", "cluster_name": "eu-1"}


@pytest.mark.parametrize(
    ("name", "cluster", "field"),
    [
        ("", "c", "name"),
        ("  ", "c", "name"),
        ("a", "", "cluster_name"),
        ("x" * 256, "c", "name"),
        ("a\0", "c", "name"),
    ],
)
def test_create_validates_names(s: Services, name: str, cluster: str, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        agents.create_agent(s, ADMIN, name=name, cluster_name=cluster)
    assert caught.value.details["field"] == field
    assert agents.list_agents(s, ADMIN) == []


def test_create_duplicate_is_409_but_the_name_is_free_again_after_deletion(s: Services) -> None:
    first = new_agent(s)
    with pytest.raises(ConflictError) as caught:
        new_agent(s)
    assert caught.value.code == "unique_violation"
    new_agent(s, cluster="c2")
    agents.delete_agent(s, ADMIN, first)
    new_agent(s)


@pytest.mark.parametrize("caller", [as_agent(UUID(int=5)), as_generator(UUID(int=6))])
def test_only_the_admin_lists_creates_and_deletes(s: Services, caller: Caller) -> None:
    agent_id = new_agent(s)
    for call in (
        lambda: agents.list_agents(s, caller),
        lambda: agents.create_agent(s, caller, name="x", cluster_name="y"),
        lambda: agents.delete_agent(s, caller, agent_id),
    ):
        with pytest.raises(ForbiddenError) as caught:
            call()
        assert caught.value.code == "admin_required"
    assert [a.id for a in agents.list_agents(s, ADMIN)] == [agent_id]


def test_find_by_name_and_cluster(s: Services) -> None:
    me = new_agent(s, "a1", "c1")
    other = new_agent(s, "a2", "c1")
    assert agents.find_agent(s, ADMIN, name="a2", cluster_name="c1").id == other
    assert agents.find_agent(s, as_agent(me), name="a1", cluster_name="c1").id == me
    with pytest.raises(NotFoundError) as caught:
        agents.find_agent(s, ADMIN, name="nope", cluster_name="c1")
    assert caught.value.code == "agent_not_found"
    # An agent learns nothing about others, not even whether they exist.
    for name in ("a2", "nope"):
        with pytest.raises(ForbiddenError) as forbidden:
            agents.find_agent(s, as_agent(me), name=name, cluster_name="c1")
        assert forbidden.value.code == "agent_pak_mismatch"
    with pytest.raises(ForbiddenError):
        agents.find_agent(s, as_generator(UUID(int=9)), name="a1", cluster_name="c1")
    with pytest.raises(ValidationError) as invalid:
        agents.find_agent(s, ADMIN, name="a1", cluster_name=None)
    assert (invalid.value.code, invalid.value.details["field"]) == (
        "name_and_cluster_required",
        "cluster_name",
    )


def test_get_is_admin_or_self(s: Services) -> None:
    me, other = new_agent(s, "a1"), new_agent(s, "a2")
    assert agents.get_agent(s, as_agent(me), me).id == me
    with pytest.raises(ForbiddenError) as caught:
        agents.get_agent(s, as_agent(me), other)
    assert caught.value.code == "agent_pak_mismatch"
    with pytest.raises(NotFoundError):
        agents.get_agent(s, ADMIN, UUID(int=999))


# --- update / delete / heartbeat / rotate -----------------------------------------------------------------


def test_update_applies_given_fields_and_audits_the_real_actor(
    s: Services, clock: FakeClock, audit: RecordingAuditSink
) -> None:
    me = new_agent(s)
    clock.advance(60)
    updated = agents.update_agent(s, as_agent(me), me, status="ACTIVE")
    assert (updated.name, updated.status, updated.updated_at) == ("a1", "ACTIVE", clock.now())
    entry = audit.entries[-1]
    assert (entry.action, entry.actor_type, entry.actor_id) == ("agent.updated", ActorType.AGENT, me)
    renamed = agents.update_agent(s, ADMIN, me, name="b1", cluster_name="c9")
    assert (renamed.name, renamed.cluster_name, renamed.status) == ("b1", "c9", "ACTIVE")


def test_update_without_changes_writes_and_audits_nothing(s: Services, audit: RecordingAuditSink) -> None:
    me = new_agent(s)
    before = len(audit.entries)
    assert agents.update_agent(s, ADMIN, me, name="a1").name == "a1"
    assert len(audit.entries) == before


def test_update_rejects_bad_input_and_duplicates(s: Services) -> None:
    me = new_agent(s, "a1")
    new_agent(s, "a2")
    with pytest.raises(ValidationError) as caught:
        agents.update_agent(s, ADMIN, me, status=" ")
    assert caught.value.details["field"] == "status"
    with pytest.raises(ValidationError):
        agents.update_agent(s, ADMIN, me, status="X" * 51)
    with pytest.raises(ConflictError):
        agents.update_agent(s, ADMIN, me, name="a2")
    with pytest.raises(NotFoundError):
        agents.update_agent(s, ADMIN, UUID(int=12345), name="zzz")
    assert agents.get_agent(s, ADMIN, me).name == "a1"


def test_delete_cascades_to_events_emits_once_and_reports_absence(
    s: Services, audit: RecordingAuditSink
) -> None:
    me = new_agent(s)
    stack_id = new_stack(s)
    obj = stacks.create_deployment_object(s, ADMIN, stack_id, yaml_content=YAML.format("x"))
    agent_events.create_agent_event(
        s, as_agent(me), me, deployment_object_id=obj.id, event_type="DEPLOY", status="SUCCESS"
    )
    sub = subscribe(s, "agent.deregistered")

    assert agents.delete_agent(s, ADMIN, me) is True
    assert agents.delete_agent(s, ADMIN, me) is False
    with s.uow() as uow:
        assert uow.agent_events.list() == []
        assert uow.agents.get(me, include_deleted=True) is not None
    assert [d.event_type for d in deliveries(s, sub)] == ["agent.deregistered"]
    assert audit.actions().count("agent.deleted") == 1


def test_heartbeat_is_the_agents_own(s: Services, clock: FakeClock, audit: RecordingAuditSink) -> None:
    me, other = new_agent(s, "a1"), new_agent(s, "a2")
    clock.advance(30)
    before = len(audit.entries)
    agents.heartbeat(s, as_agent(me), me)
    assert agents.get_agent(s, ADMIN, me).last_heartbeat == clock.now()
    assert len(audit.entries) == before
    for caller in (ADMIN, as_agent(other), as_generator(UUID(int=3))):
        with pytest.raises(ForbiddenError) as caught:
            agents.heartbeat(s, caller, me)
        assert caught.value.code == "agent_pak_mismatch"


def test_heartbeat_of_a_deleted_agent_is_404(s: Services) -> None:
    me = new_agent(s)
    agents.delete_agent(s, ADMIN, me)
    with pytest.raises(NotFoundError):
        agents.heartbeat(s, as_agent(me), me)


def test_rotate_pak_by_self_revokes_the_old_key(s: Services, audit: RecordingAuditSink) -> None:
    agent, old = agents.create_agent(s, ADMIN, name="a", cluster_name="c")
    rotated, new = agents.rotate_agent_pak(s, as_agent(agent.id), agent.id)
    assert rotated.pak_hash != agent.pak_hash and new != old
    assert authenticate(s, new) == Actor.agent(agent.id)
    entry = audit.entries[-1]
    assert (entry.action, entry.resource_type, entry.actor_id) == ("pak.rotated", "agent", agent.id)
    with pytest.raises(NotFoundError):
        agents.rotate_agent_pak(s, ADMIN, UUID(int=4242))


# --- target state and associated stacks -------------------------------------------------------------------


def test_target_state_full_and_incremental(s: Services) -> None:
    me = new_agent(s)
    stack_id = new_stack(s)
    agents.add_agent_target(s, as_agent(me), me, stack_id)
    first = stacks.create_deployment_object(s, ADMIN, stack_id, yaml_content=YAML.format("one"))
    assert [o.id for o in agents.get_target_state(s, as_agent(me), me)] == [first.id]
    agent_events.create_agent_event(
        s, as_agent(me), me, deployment_object_id=first.id, event_type="DEPLOY", status="SUCCESS"
    )
    assert agents.get_target_state(s, as_agent(me), me) == []
    assert agents.get_target_state(s, as_agent(me), me, mode="bogus") == []
    assert [o.id for o in agents.get_target_state(s, ADMIN, me, mode="full")] == [first.id]
    second = stacks.create_deployment_object(s, ADMIN, stack_id, yaml_content=YAML.format("two"))
    assert [o.id for o in agents.get_target_state(s, as_agent(me), me)] == [second.id]


def test_target_state_of_an_unknown_agent_is_404_for_the_admin(s: Services) -> None:
    with pytest.raises(NotFoundError):
        agents.get_target_state(s, ADMIN, UUID(int=77))


def test_associated_stacks_is_the_union_of_targets_labels_and_annotations(s: Services) -> None:
    me = new_agent(s)
    by_target, by_label, by_annotation, unrelated = (new_stack(s, n) for n in ("t", "l", "a", "u"))
    agents.add_agent_target(s, ADMIN, me, by_target)
    agents.add_agent_label(s, ADMIN, me, "edge")
    stacks.add_stack_label(s, ADMIN, by_label, "edge")
    agents.add_agent_annotation(s, ADMIN, me, key="tier", value="gold")
    stacks.add_stack_annotation(s, ADMIN, by_annotation, key="tier", value="gold")
    stacks.add_stack_annotation(s, ADMIN, unrelated, key="tier", value="silver")
    found = {stack.id for stack in agents.associated_stacks(s, as_agent(me), me)}
    assert found == {by_target, by_label, by_annotation}


# --- labels, annotations, targets -------------------------------------------------------------------------


def test_labels_are_admin_managed_and_validated(s: Services, audit: RecordingAuditSink) -> None:
    me = new_agent(s)
    row = agents.add_agent_label(s, ADMIN, me, "env=prod", body_agent_id=me)
    assert (row.agent_id, row.label) == (me, "env=prod")
    assert [r.label for r in agents.list_agent_labels(s, as_agent(me), me)] == ["env=prod"]
    assert audit.entries[-1].details == {"label": "env=prod"}
    with pytest.raises(ConflictError):
        agents.add_agent_label(s, ADMIN, me, "env=prod")
    for bad in ("", "has space", "x" * 65):
        with pytest.raises(ValidationError) as caught:
            agents.add_agent_label(s, ADMIN, me, bad)
        assert (caught.value.code, caught.value.details["field"]) == ("invalid_label", "label")
    with pytest.raises(ValidationError) as mismatch:
        agents.add_agent_label(s, ADMIN, me, "other", body_agent_id=UUID(int=999_999))
    assert mismatch.value.code == "agent_id_mismatch"
    with pytest.raises(ForbiddenError):
        agents.add_agent_label(s, as_agent(me), me, "self-promoted")
    agents.remove_agent_label(s, ADMIN, me, "env=prod")
    with pytest.raises(NotFoundError) as missing:
        agents.remove_agent_label(s, ADMIN, me, "env=prod")
    assert missing.value.code == "agent_label_not_found"
    with pytest.raises(NotFoundError) as no_agent:
        agents.add_agent_label(s, ADMIN, UUID(int=31337), "x")
    assert no_agent.value.code == "agent_not_found"


def test_annotations_have_one_value_per_key(s: Services) -> None:
    me = new_agent(s)
    agents.add_agent_annotation(s, ADMIN, me, key="region", value="eu")
    with pytest.raises(ConflictError):
        agents.add_agent_annotation(s, ADMIN, me, key="region", value="us")
    with pytest.raises(ValidationError) as caught:
        agents.add_agent_annotation(s, ADMIN, me, key="zone", value="a b")
    assert (caught.value.code, caught.value.details["field"]) == ("invalid_annotation", "value")
    assert [(r.key, r.value) for r in agents.list_agent_annotations(s, as_agent(me), me)] == [
        ("region", "eu")
    ]
    agents.remove_agent_annotation(s, ADMIN, me, "region")
    with pytest.raises(NotFoundError) as missing:
        agents.remove_agent_annotation(s, ADMIN, me, "region")
    assert missing.value.code == "agent_annotation_not_found"


def test_targets_are_managed_by_admin_or_self(s: Services, audit: RecordingAuditSink) -> None:
    me, other = new_agent(s, "a1"), new_agent(s, "a2")
    stack_id = new_stack(s)
    target = agents.add_agent_target(s, as_agent(me), me, stack_id, body_agent_id=me)
    assert (target.agent_id, target.stack_id) == (me, stack_id)
    assert audit.entries[-1].actor_id == me
    with pytest.raises(ConflictError):
        agents.add_agent_target(s, ADMIN, me, stack_id)
    with pytest.raises(ForbiddenError):
        agents.add_agent_target(s, as_agent(other), me, stack_id)
    with pytest.raises(NotFoundError) as no_stack:
        agents.add_agent_target(s, ADMIN, me, UUID(int=404))
    assert no_stack.value.code == "stack_not_found"
    assert [t.stack_id for t in agents.list_agent_targets(s, ADMIN, me)] == [stack_id]
    agents.remove_agent_target(s, as_agent(me), me, stack_id)
    with pytest.raises(NotFoundError) as missing:
        agents.remove_agent_target(s, ADMIN, me, stack_id)
    assert missing.value.code == "agent_target_not_found"


def test_a_failed_mutation_leaves_no_audit_entry_and_no_rows(s: Services, audit: RecordingAuditSink) -> None:
    me = new_agent(s)
    agents.add_agent_label(s, ADMIN, me, "edge")
    before = list(audit.entries)
    with pytest.raises(ConflictError):
        agents.add_agent_label(s, ADMIN, me, "edge")
    assert audit.entries == before
    assert len(agents.list_agent_labels(s, ADMIN, me)) == 1
