"""Template use cases against the in-memory adapters: versioning, access, labels and instantiation."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import pytest
import yaml

from brokkr_domain.errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    UnprocessableError,
    ValidationError,
)
from brokkr_domain.model import Actor, Caller, Generator, Stack, StackTemplate
from brokkr_domain.testing import FakeClock, InMemoryUnitOfWorkFactory, RecordingAuditSink, SequentialIds
from brokkr_domain.testing import builders as b
from brokkr_domain.usecases import templates as uc
from brokkr_domain.usecases.context import Services

MISSING = UUID(int=2**127)  # never handed out by SequentialIds or uuid4
ADMIN = Caller(actor=Actor.admin())
CONTENT = (
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ name }}\n"
    'data:\n  replicas: "{{ replicas | default(value=1) }}"\n'
)
SCHEMA = json.dumps(
    {
        "type": "object",
        "properties": {"name": {"type": "string"}, "replicas": {"type": "integer", "minimum": 1}},
        "required": ["name"],
    }
)


class World:
    def __init__(self) -> None:
        self.clock = FakeClock()
        self.audit = RecordingAuditSink()
        self.uow = InMemoryUnitOfWorkFactory()
        self.s = Services(uow=self.uow, clock=self.clock, ids=SequentialIds(), audit=self.audit)

    def generator(self) -> Generator:
        generator = b.generator(self.clock.now())
        with self.uow() as uow:
            uow.generators.add(generator)
            uow.commit()
        return generator

    def stack(
        self, owner: Generator, labels: tuple[str, ...] = (), annotations: dict[str, str] | None = None
    ) -> Stack:
        stack = b.stack(self.clock.now(), owner.id)
        with self.uow() as uow:
            uow.stacks.add(stack)
            for label in labels:
                uow.stacks.add_label(b.stack_label(stack.id, label))
            for key, value in (annotations or {}).items():
                uow.stacks.add_annotation(b.stack_annotation(stack.id, key, value))
            uow.webhooks.add(b.subscription(self.clock.now(), event_types=("deployment.*",)))
            uow.commit()
        return stack


def gen(generator: Generator) -> Caller:
    return Caller(actor=Actor.generator(generator.id))


@pytest.fixture
def w() -> World:
    return World()


def create(w: World, caller: Caller = ADMIN, **kwargs: Any) -> StackTemplate:
    fields: dict[str, Any] = {"name": "web", "template_content": CONTENT, "parameters_schema": SCHEMA}
    return uc.create_template(w.s, caller, **(fields | kwargs))


# --- create, versions, access -----------------------------------------------------------------------------


def test_admin_creates_system_templates_and_versions_count_per_family(w: World) -> None:
    g = w.generator()
    first = create(w, description="v1")
    second = create(w)
    owned = create(w, gen(g))
    assert (first.version, first.generator_id, first.is_system) == (1, None, True)
    assert second.version == 2
    assert (owned.version, owned.generator_id) == (1, g.id)  # another owner is another family
    assert first.checksum == second.checksum  # same content, same checksum
    assert w.audit.actions() == ["template.created"] * 3
    assert w.audit.entries[-1].actor_id == g.id


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"template_content": "{{ unclosed"}, "invalid_template_syntax"),
        ({"template_content": "  "}, "invalid_template_syntax"),
        ({"parameters_schema": "not json"}, "invalid_parameters_schema"),
        ({"parameters_schema": '{"type": 12}'}, "invalid_parameters_schema"),
        ({"name": " "}, "invalid_name"),
        ({"description": ""}, "invalid_description"),
    ],
)
def test_create_validates(w: World, kwargs: dict[str, Any], code: str) -> None:
    with pytest.raises(ValidationError) as err:
        create(w, **kwargs)
    assert err.value.code == code
    assert w.uow.store.snapshot().templates == {}


def test_soft_deleting_the_latest_version_frees_its_number(w: World) -> None:
    create(w)
    second = create(w)
    uc.delete_template(w.s, ADMIN, second.id)
    with pytest.raises(NotFoundError) as err:
        uc.get_template(w.s, ADMIN, second.id)
    assert err.value.code == "template_not_found"
    assert create(w).version == 2


def test_generators_see_system_and_own_templates_only(w: World) -> None:
    g1, g2 = w.generator(), w.generator()
    system = create(w, name="sys")
    mine = create(w, gen(g1), name="mine")
    theirs = create(w, gen(g2), name="theirs")
    assert {t.id for t in uc.list_templates(w.s, gen(g1))} == {system.id, mine.id}
    assert {t.id for t in uc.list_templates(w.s, ADMIN)} == {system.id, mine.id, theirs.id}
    assert uc.get_template(w.s, gen(g1), system.id) == system
    with pytest.raises(ForbiddenError) as err:
        uc.get_template(w.s, gen(g1), theirs.id)
    assert err.value.code == "template_not_accessible"


def test_agents_have_no_access_to_templates(w: World) -> None:
    template = create(w)
    agent = Caller(actor=Actor.agent(UUID(int=5)))
    with pytest.raises(ForbiddenError) as listing:
        uc.list_templates(w.s, agent)
    assert listing.value.code == "templates_not_accessible"
    with pytest.raises(ForbiddenError) as reading:
        uc.get_template(w.s, agent, template.id)
    assert reading.value.code == "template_not_accessible"


def test_update_adds_a_version_and_carries_labels_and_annotations(w: World) -> None:
    old = create(w, description="first")
    uc.add_template_label(w.s, ADMIN, old.id, "web")
    uc.add_template_annotation(w.s, ADMIN, old.id, key="tier", value="gold")
    new = uc.update_template(
        w.s, ADMIN, old.id, template_content=CONTENT + "# v2\n", parameters_schema=SCHEMA
    )
    assert new.id != old.id
    assert (new.version, new.name, new.description) == (2, "web", "first")
    assert uc.get_template(w.s, ADMIN, old.id) == old  # the old version is untouched
    assert [row.label for row in uc.list_template_labels(w.s, ADMIN, new.id)] == ["web"]
    assert [(r.key, r.value) for r in uc.list_template_annotations(w.s, ADMIN, new.id)] == [("tier", "gold")]
    assert [row.label for row in uc.list_template_labels(w.s, ADMIN, old.id)] == ["web"]
    described = uc.update_template(
        w.s, ADMIN, old.id, template_content=CONTENT, parameters_schema=SCHEMA, description="third"
    )
    assert (described.version, described.description) == (3, "third")
    assert w.audit.actions()[-1] == "template.updated"


def test_only_owners_modify(w: World) -> None:
    g1, g2 = w.generator(), w.generator()
    system = create(w)
    mine = create(w, gen(g1), name="mine")
    for caller, template_id in ((gen(g1), system.id), (gen(g2), mine.id)):
        with pytest.raises(ForbiddenError) as err:
            uc.update_template(w.s, caller, template_id, template_content=CONTENT, parameters_schema=SCHEMA)
        assert err.value.code == "template_not_owned"
        with pytest.raises(ForbiddenError):
            uc.delete_template(w.s, caller, template_id)
        with pytest.raises(ForbiddenError):
            uc.add_template_label(w.s, caller, template_id, "x")
    uc.delete_template(w.s, gen(g1), mine.id)
    uc.delete_template(w.s, ADMIN, system.id)


# --- labels and annotations -------------------------------------------------------------------------------


def test_label_and_annotation_lifecycle(w: World) -> None:
    template = create(w)
    uc.add_template_label(w.s, ADMIN, template.id, "env=prod")
    with pytest.raises(ConflictError):
        uc.add_template_label(w.s, ADMIN, template.id, "env=prod")
    with pytest.raises(ValidationError) as bad_label:
        uc.add_template_label(w.s, ADMIN, template.id, "two words")
    assert bad_label.value.code == "invalid_label"
    with pytest.raises(ValidationError) as bad_annotation:
        uc.add_template_annotation(w.s, ADMIN, template.id, key="k", value="")
    assert bad_annotation.value.code == "invalid_annotation"
    uc.add_template_annotation(w.s, ADMIN, template.id, key="tier", value="gold")
    uc.remove_template_label(w.s, ADMIN, template.id, "env=prod")
    uc.remove_template_annotation(w.s, ADMIN, template.id, "tier")
    assert uc.list_template_labels(w.s, ADMIN, template.id) == []
    with pytest.raises(NotFoundError) as no_label:
        uc.remove_template_label(w.s, ADMIN, template.id, "env=prod")
    assert no_label.value.code == "template_label_not_found"
    with pytest.raises(NotFoundError) as no_annotation:
        uc.remove_template_annotation(w.s, ADMIN, template.id, "tier")
    assert no_annotation.value.code == "template_annotation_not_found"
    with pytest.raises(NotFoundError) as no_template:
        uc.add_template_label(w.s, ADMIN, MISSING, "x")
    assert no_template.value.code == "template_not_found"


# --- instantiation ----------------------------------------------------------------------------------------


def test_instantiate_renders_stores_provenance_and_emits(w: World) -> None:
    g = w.generator()
    stack = w.stack(g)
    template = create(w)
    obj = uc.instantiate_template(
        w.s, gen(g), stack.id, template_id=template.id, parameters={"name": "shop", "replicas": 3}
    )
    assert yaml.safe_load(obj.yaml_content) == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "shop"},
        "data": {"replicas": "3"},
    }
    assert obj.sequence_id > 0 and not obj.is_deletion_marker
    with w.uow() as uow:
        provenance = uow.deployment_objects.get_provenance(obj.id)
    assert provenance is not None
    assert (provenance.template_id, provenance.template_version) == (template.id, 1)
    assert provenance.template_parameters == {"name": "shop", "replicas": 3}
    [delivery] = w.uow.store.snapshot().webhook_deliveries.values()
    assert json.loads(delivery.payload)["data"]["deployment_object_id"] == str(obj.id)
    assert w.audit.entries[-1].action == "deployment_object.created"
    assert w.audit.entries[-1].details == {
        "stack_id": str(stack.id),
        "sequence_id": obj.sequence_id,
        "template_id": str(template.id),
        "template_version": 1,
    }


def test_instantiate_uses_the_exact_version_given(w: World) -> None:
    g = w.generator()
    stack = w.stack(g)
    v1 = create(w)
    create(w, template_content="apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ name }}\n")
    obj = uc.instantiate_template(w.s, ADMIN, stack.id, template_id=v1.id, parameters={"name": "a"})
    assert "ConfigMap" in obj.yaml_content


def test_mismatch_is_422_listing_what_the_stack_lacks(w: World) -> None:
    g = w.generator()
    stack = w.stack(g, labels=("web",), annotations={"tier": "silver"})
    template = create(w)
    for label in ("web", "prod"):
        uc.add_template_label(w.s, ADMIN, template.id, label)
    uc.add_template_annotation(w.s, ADMIN, template.id, key="tier", value="gold")
    with pytest.raises(UnprocessableError) as err:
        uc.instantiate_template(w.s, ADMIN, stack.id, template_id=template.id, parameters={"name": "x"})
    assert err.value.code == "template_stack_mismatch"
    assert err.value.details == {
        "missing_labels": ["prod"],
        "missing_annotations": [{"key": "tier", "value": "gold"}],
    }
    matching = w.stack(g, labels=("web", "prod", "extra"), annotations={"tier": "gold"})
    uc.instantiate_template(w.s, ADMIN, matching.id, template_id=template.id, parameters={"name": "x"})


def test_matching_comes_before_parameter_validation(w: World) -> None:
    g = w.generator()
    stack = w.stack(g)
    template = create(w)
    uc.add_template_label(w.s, ADMIN, template.id, "prod")
    with pytest.raises(UnprocessableError):
        uc.instantiate_template(w.s, ADMIN, stack.id, template_id=template.id, parameters={})


def test_invalid_parameters_list_every_violation(w: World) -> None:
    g = w.generator()
    stack = w.stack(g)
    template = create(w)
    with pytest.raises(ValidationError) as err:
        uc.instantiate_template(w.s, ADMIN, stack.id, template_id=template.id, parameters={"replicas": 0})
    assert err.value.code == "invalid_parameters"
    errors = err.value.details["validation_errors"]
    assert isinstance(errors, list) and len(errors) == 2
    with pytest.raises(ValidationError) as not_object:
        uc.instantiate_template(w.s, ADMIN, stack.id, template_id=template.id, parameters=[1])
    assert not_object.value.code == "invalid_parameters"
    assert w.uow.store.snapshot().deployment_objects == {}


@pytest.mark.parametrize(
    "content",
    [
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ missing }}\n",  # undefined variable
        "{{ name }}: [unbalanced\n",  # renders, but not YAML
        "{% if false %}x{% endif %}",  # renders to nothing
    ],
)
def test_render_failures_are_400(w: World, content: str) -> None:
    g = w.generator()
    stack = w.stack(g)
    template = create(w, template_content=content, parameters_schema='{"type": "object"}')
    with pytest.raises(ValidationError) as err:
        uc.instantiate_template(w.s, ADMIN, stack.id, template_id=template.id, parameters={"name": "x"})
    assert err.value.code == "template_render_failed"


def test_instantiate_access(w: World) -> None:
    g1, g2 = w.generator(), w.generator()
    stack = w.stack(g1)
    theirs = create(w, gen(g2))
    mine = create(w, gen(g1), name="mine")
    with pytest.raises(ForbiddenError) as not_readable:
        uc.instantiate_template(w.s, gen(g1), stack.id, template_id=theirs.id, parameters={"name": "x"})
    assert not_readable.value.code == "template_not_accessible"
    with pytest.raises(ForbiddenError) as not_owner:
        uc.instantiate_template(w.s, gen(g2), stack.id, template_id=mine.id, parameters={"name": "x"})
    assert not_owner.value.code == "stack_not_owned"
    with pytest.raises(NotFoundError) as no_template:
        uc.instantiate_template(w.s, gen(g1), stack.id, template_id=MISSING, parameters={})
    assert no_template.value.code == "template_not_found"
    with pytest.raises(NotFoundError) as no_stack:
        uc.instantiate_template(w.s, ADMIN, MISSING, template_id=mine.id, parameters={})
    assert no_stack.value.code == "stack_not_found"
