"""Stack use cases: ownership, the deletion cascade, labels/annotations, and pushing deployment objects."""

from __future__ import annotations

import hashlib
import json
from uuid import UUID

import pytest

from brokkr_domain.errors import ConflictError, ForbiddenError, NotFoundError, ValidationError
from brokkr_domain.model import Actor, ActorType, Caller, WebhookFilters
from brokkr_domain.testing import FakeClock, InMemoryUnitOfWorkFactory, RecordingAuditSink, SequentialIds
from brokkr_domain.usecases import agents, generators, stacks
from brokkr_domain.usecases.context import Services
from domain_support import deliveries, subscribe

ADMIN = Caller(actor=Actor.admin())
YAML = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {}\n"


@pytest.fixture
def audit() -> RecordingAuditSink:
    return RecordingAuditSink()


@pytest.fixture
def s(audit: RecordingAuditSink) -> Services:
    return Services(
        uow=InMemoryUnitOfWorkFactory(), clock=FakeClock(), ids=SequentialIds(seed=1), audit=audit
    )


def as_generator(generator_id: UUID) -> Caller:
    return Caller(actor=Actor.generator(generator_id), ip_address="203.0.113.9")


def as_agent(agent_id: UUID) -> Caller:
    return Caller(actor=Actor.agent(agent_id))


class World:
    def __init__(self, s: Services) -> None:
        self.owner = generators.create_generator(s, ADMIN, name="owner")[0].id
        self.other = generators.create_generator(s, ADMIN, name="other")[0].id
        self.stack = stacks.create_stack(s, as_generator(self.owner), name="web", generator_id=self.owner).id
        self.agent = agents.create_agent(s, ADMIN, name="a", cluster_name="c")[0].id


@pytest.fixture
def w(s: Services) -> World:
    return World(s)


# --- stacks -----------------------------------------------------------------------------------------------


def test_create_by_owner_emits_and_audits_the_generator(
    s: Services, w: World, audit: RecordingAuditSink
) -> None:
    sub = subscribe(s, "stack.created")
    stack = stacks.create_stack(s, as_generator(w.other), name="api", description="API", generator_id=w.other)
    assert (stack.name, stack.description, stack.generator_id) == ("api", "API", w.other)
    [delivery] = deliveries(s, sub)
    assert json.loads(delivery.payload)["data"]["stack_id"] == str(stack.id)
    entry = audit.entries[-1]
    assert (entry.action, entry.actor_type, entry.actor_id) == ("stack.created", ActorType.GENERATOR, w.other)
    assert entry.details == {"name": "api", "generator_id": str(w.other)}


def test_create_authorization_and_validation(s: Services, w: World) -> None:
    with pytest.raises(ForbiddenError) as agent:
        stacks.create_stack(s, as_agent(w.agent), name="x", generator_id=w.owner)
    assert agent.value.code == "stack_create_denied"
    with pytest.raises(ForbiddenError) as mismatch:
        stacks.create_stack(s, as_generator(w.other), name="x", generator_id=w.owner)
    assert mismatch.value.code == "stack_generator_mismatch"
    with pytest.raises(NotFoundError) as unknown:
        stacks.create_stack(s, ADMIN, name="x", generator_id=UUID(int=404))
    assert unknown.value.code == "generator_not_found"
    with pytest.raises(ConflictError):
        stacks.create_stack(s, ADMIN, name="web", generator_id=w.other)  # names are global
    for name, description, field in (("", None, "name"), ("s" * 256, None, "name"), ("x", "", "description")):
        with pytest.raises(ValidationError) as caught:
            stacks.create_stack(s, ADMIN, name=name, description=description, generator_id=w.owner)
        assert caught.value.details["field"] == field


def test_list_is_scoped(s: Services, w: World) -> None:
    theirs = stacks.create_stack(s, ADMIN, name="theirs", generator_id=w.other).id
    assert {st.id for st in stacks.list_stacks(s, ADMIN)} == {w.stack, theirs}
    assert [st.id for st in stacks.list_stacks(s, as_generator(w.owner))] == [w.stack]
    with pytest.raises(ForbiddenError):
        stacks.list_stacks(s, as_agent(w.agent))


def test_get_is_admin_or_owner(s: Services, w: World) -> None:
    assert stacks.get_stack(s, as_generator(w.owner), w.stack).id == w.stack
    for caller in (as_generator(w.other), as_agent(w.agent)):
        with pytest.raises(ForbiddenError) as caught:
            stacks.get_stack(s, caller, w.stack)
        assert caught.value.code == "stack_not_owned"
    with pytest.raises(NotFoundError) as missing:
        stacks.get_stack(s, ADMIN, UUID(int=404))
    assert missing.value.code == "stack_not_found"


def test_update_renames_but_only_the_admin_moves_ownership(
    s: Services, w: World, audit: RecordingAuditSink
) -> None:
    renamed = stacks.update_stack(
        s, as_generator(w.owner), w.stack, name="web2", description=None, body_id=w.stack
    )
    assert (renamed.name, renamed.description) == ("web2", None)
    assert audit.entries[-1].action == "stack.updated"
    with pytest.raises(ValidationError) as mismatch:
        stacks.update_stack(s, ADMIN, w.stack, name="x", body_id=w.other)
    assert mismatch.value.code == "stack_id_mismatch"
    with pytest.raises(ForbiddenError) as give_away:
        stacks.update_stack(s, as_generator(w.owner), w.stack, generator_id=w.other)
    assert give_away.value.code == "stack_generator_mismatch"
    with pytest.raises(NotFoundError):
        stacks.update_stack(s, ADMIN, w.stack, generator_id=UUID(int=404))
    moved = stacks.update_stack(s, ADMIN, w.stack, generator_id=w.other)
    assert moved.generator_id == w.other
    with pytest.raises(ForbiddenError):
        stacks.get_stack(s, as_generator(w.owner), w.stack)
    before = len(audit.entries)
    stacks.update_stack(s, ADMIN, w.stack, name="web2", generator_id=w.other)
    assert len(audit.entries) == before


def test_delete_soft_deletes_objects_adds_a_marker_and_emits(
    s: Services, w: World, audit: RecordingAuditSink
) -> None:
    stacks.add_stack_label(s, ADMIN, w.stack, "prod")
    objs = [
        stacks.create_deployment_object(s, ADMIN, w.stack, yaml_content=YAML.format(n)).id for n in ("a", "b")
    ]
    by_stack = subscribe(s, "stack.deleted", filters=WebhookFilters(stack_id=w.stack))
    by_label = subscribe(s, "stack.*", filters=WebhookFilters(labels={"prod": ""}))

    stacks.delete_stack(s, as_generator(w.owner), w.stack)

    with s.uow() as uow:
        [marker] = uow.deployment_objects.list_for_stack(w.stack)
        assert all(uow.deployment_objects.get(obj) is None for obj in objs)
    assert marker.is_deletion_marker and marker.yaml_content == ""
    assert marker.yaml_checksum == hashlib.sha256(b"").hexdigest()
    assert len(deliveries(s, by_stack)) == len(deliveries(s, by_label)) == 1
    assert (audit.entries[-1].action, audit.entries[-1].actor_id) == ("stack.deleted", w.owner)
    with pytest.raises(NotFoundError):
        stacks.get_stack(s, ADMIN, w.stack)
    with pytest.raises(NotFoundError):
        stacks.delete_stack(s, ADMIN, w.stack)
    stacks.create_stack(s, ADMIN, name="web", generator_id=w.owner)


def test_delete_by_another_generator_is_forbidden_and_changes_nothing(s: Services, w: World) -> None:
    with pytest.raises(ForbiddenError):
        stacks.delete_stack(s, as_generator(w.other), w.stack)
    assert stacks.list_deployment_objects(s, ADMIN, w.stack) == []
    assert stacks.get_stack(s, ADMIN, w.stack).deleted_at is None


# --- labels and annotations -------------------------------------------------------------------------------


def test_labels_are_readable_by_associated_agents_and_writable_by_owners(s: Services, w: World) -> None:
    label = stacks.add_stack_label(s, as_generator(w.owner), w.stack, "edge")
    assert (label.stack_id, label.label) == (w.stack, "edge")
    with pytest.raises(ForbiddenError) as unassociated:
        stacks.list_stack_labels(s, as_agent(w.agent), w.stack)
    assert unassociated.value.code == "stack_not_accessible"
    agents.add_agent_label(s, ADMIN, w.agent, "edge")  # association by label, not by explicit target
    assert [r.label for r in stacks.list_stack_labels(s, as_agent(w.agent), w.stack)] == ["edge"]
    with pytest.raises(ForbiddenError) as other:
        stacks.list_stack_labels(s, as_generator(w.other), w.stack)
    assert other.value.code == "stack_not_accessible"
    with pytest.raises(ForbiddenError) as agent_write:
        stacks.add_stack_label(s, as_agent(w.agent), w.stack, "x")
    assert agent_write.value.code == "stack_not_owned"
    with pytest.raises(ConflictError):
        stacks.add_stack_label(s, ADMIN, w.stack, "edge")
    with pytest.raises(ValidationError) as invalid:
        stacks.add_stack_label(s, ADMIN, w.stack, "two words")
    assert (invalid.value.code, invalid.value.details["field"]) == ("invalid_label", "label")
    stacks.remove_stack_label(s, ADMIN, w.stack, "edge")
    with pytest.raises(NotFoundError) as missing:
        stacks.remove_stack_label(s, ADMIN, w.stack, "edge")
    assert missing.value.code == "stack_label_not_found"
    with pytest.raises(NotFoundError):
        stacks.list_stack_labels(s, ADMIN, UUID(int=404))


def test_annotations(s: Services, w: World, audit: RecordingAuditSink) -> None:
    row = stacks.add_stack_annotation(
        s, as_generator(w.owner), w.stack, key="tier", value="gold", body_stack_id=w.stack
    )
    assert (row.key, row.value) == ("tier", "gold")
    assert audit.entries[-1].details == {"key": "tier", "value": "gold"}
    with pytest.raises(ValidationError) as mismatch:
        stacks.add_stack_annotation(s, ADMIN, w.stack, key="k", value="v", body_stack_id=w.other)
    assert mismatch.value.code == "stack_id_mismatch"
    with pytest.raises(ConflictError):
        stacks.add_stack_annotation(s, ADMIN, w.stack, key="tier", value="silver")
    with pytest.raises(ValidationError) as invalid:
        stacks.add_stack_annotation(s, ADMIN, w.stack, key="", value="v")
    assert invalid.value.code == "invalid_annotation"
    agents.add_agent_target(s, ADMIN, w.agent, w.stack)
    assert [r.key for r in stacks.list_stack_annotations(s, as_agent(w.agent), w.stack)] == ["tier"]
    with pytest.raises(ForbiddenError):
        stacks.remove_stack_annotation(s, as_generator(w.other), w.stack, "tier")
    stacks.remove_stack_annotation(s, ADMIN, w.stack, "tier")
    with pytest.raises(NotFoundError) as missing:
        stacks.remove_stack_annotation(s, ADMIN, w.stack, "tier")
    assert missing.value.code == "stack_annotation_not_found"


# --- deployment objects -----------------------------------------------------------------------------------


def test_push_checksums_sequences_lists_emits_and_audits(
    s: Services, w: World, audit: RecordingAuditSink
) -> None:
    sub = subscribe(s, "deployment.created", filters=WebhookFilters(stack_id=w.stack))
    first = stacks.create_deployment_object(s, as_generator(w.owner), w.stack, yaml_content=YAML.format("a"))
    second = stacks.create_deployment_object(s, ADMIN, w.stack, yaml_content=YAML.format("b"))
    assert first.yaml_checksum == hashlib.sha256(YAML.format("a").encode()).hexdigest()
    assert second.sequence_id > first.sequence_id
    assert not first.is_deletion_marker
    assert [o.id for o in stacks.list_deployment_objects(s, as_generator(w.owner), w.stack)] == [
        second.id,
        first.id,
    ]
    data = [json.loads(d.payload)["data"] for d in deliveries(s, sub)]
    assert sorted(d["sequence_id"] for d in data) == [first.sequence_id, second.sequence_id]
    entry = audit.entries[-2]
    assert (entry.action, entry.resource_type, entry.resource_id, entry.actor_id) == (
        "deployment_object.created",
        "deployment_object",
        first.id,
        w.owner,
    )


@pytest.mark.parametrize(
    ("yaml_content", "code", "fragment"),
    [
        ("", "yaml_content_required", "empty"),
        ("  \n", "yaml_content_required", "empty"),
        (YAML.format("a") + "---\nkind: [unclosed\n", "invalid_deployment_object", "document 2"),
        ("just a string\n", "invalid_deployment_object", "document 1"),
        ("#" * (4 * 1024 * 1024 + 1), "yaml_content_too_large", "bytes"),
    ],
)
def test_push_rejects_unusable_yaml(
    s: Services, w: World, yaml_content: str, code: str, fragment: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        stacks.create_deployment_object(s, ADMIN, w.stack, yaml_content=yaml_content)
    assert caught.value.code == code
    assert caught.value.details["field"] == "yaml_content"
    assert fragment in caught.value.message
    assert stacks.list_deployment_objects(s, ADMIN, w.stack) == []


def test_an_explicit_deletion_marker_may_be_empty(s: Services, w: World) -> None:
    marker = stacks.create_deployment_object(s, ADMIN, w.stack, yaml_content="", is_deletion_marker=True)
    assert marker.is_deletion_marker and marker.yaml_checksum == hashlib.sha256(b"").hexdigest()


def test_push_and_list_are_admin_or_owner(s: Services, w: World) -> None:
    agents.add_agent_target(s, ADMIN, w.agent, w.stack)
    for caller, code in ((as_generator(w.other), "stack_not_owned"), (as_agent(w.agent), "stack_not_owned")):
        with pytest.raises(ForbiddenError) as pushing:
            stacks.create_deployment_object(s, caller, w.stack, yaml_content=YAML.format("x"))
        with pytest.raises(ForbiddenError) as listing:
            stacks.list_deployment_objects(s, caller, w.stack)
        assert pushing.value.code == listing.value.code == code
    with pytest.raises(NotFoundError):
        stacks.create_deployment_object(s, ADMIN, UUID(int=404), yaml_content=YAML.format("x"))
