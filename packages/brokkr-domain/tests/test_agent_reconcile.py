"""The reconciler against FakeCluster + FakeBrokerGateway + FakeClock: deploy, update, prune, delete, retry."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from uuid import UUID

import pytest

from brokkr_domain.agent.reconcile import Reconciler, backoff_delay
from brokkr_domain.errors import ValidationError
from brokkr_domain.manifests import ObjectRef
from brokkr_domain.model import Agent, DeploymentObject
from brokkr_domain.ownership import (
    CHECKSUM_ANNOTATION,
    CREATED_NAMESPACE_ANNOTATION,
    MANAGED_BY_LABEL,
    MANAGED_SELECTOR,
    OWNER_ANNOTATION,
    STACK_ANNOTATION,
    STACK_LABEL,
    stack_selector,
)
from brokkr_domain.testing import builders as b
from brokkr_domain.testing.fake_broker import FakeBrokerGateway
from brokkr_domain.testing.fake_cluster import FakeCluster
from brokkr_domain.testing.fakes import FakeClock

CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.shop.example.com}
spec:
  group: shop.example.com
  scope: Namespaced
  names: {kind: Widget, plural: widgets}
  versions: [{name: v1, served: true, storage: true}]
"""
SHOP = f"""
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels: {{team: a}}
  annotations: {{note: keep}}
spec:
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec: {{containers: [{{name: web, image: nginx}}]}}
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: settings, namespace: shop}}
data: {{a: "1"}}
---
apiVersion: shop.example.com/v1
kind: Widget
metadata: {{name: w1, namespace: shop}}
spec: {{size: 1}}
---
{CRD}
---
apiVersion: v1
kind: Namespace
metadata: {{name: shop}}
"""


def cms(*names: str, namespace: str = "default", value: str = "1") -> str:
    return "\n---\n".join(
        f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {n}, namespace: {namespace}}}\ndata: {{v: '{value}'}}"
        for n in names
    )


class World:
    """One agent, its broker and its cluster, with helpers to push versions of stacks."""

    def __init__(self, **options: Any) -> None:
        self.clock = FakeClock()
        self.cluster = FakeCluster()
        self.broker = FakeBrokerGateway(self.clock)
        self.agent: Agent = self.broker.add_agent()
        self.reconciler = Reconciler(self.cluster, self.broker, clock=self.clock, **options)
        self.latest: dict[UUID, DeploymentObject] = {}
        self._sequence = 0

    def push(self, stack_id: UUID, yaml_content: str, *, marker: bool = False) -> DeploymentObject:
        self._sequence += 1
        obj = b.deployment_object(
            self.clock.now(),
            stack_id,
            yaml_content=yaml_content,
            sequence_id=self._sequence,
            is_deletion_marker=marker,
        )
        self.latest[stack_id] = obj
        self.broker.set_target_state(self.agent.id, self.latest.values())
        return obj

    def tick(self) -> Any:
        return self.reconciler.reconcile(self.broker.target_state(self.agent.id), self.agent.id)

    def live(self, api_version: str, kind: str, namespace: str | None, name: str) -> dict[str, Any]:
        found = self.cluster.get(ObjectRef(api_version, kind, namespace, name))
        assert found is not None, f"{kind} {namespace}/{name} missing"
        return found

    def statuses(self, obj: DeploymentObject) -> list[tuple[str, str | None]]:
        return [(e.status, e.message) for e in self.broker.events_for(obj.id)]


@pytest.fixture
def world() -> World:
    return World()


def test_deploys_a_multi_document_stack_in_order_with_marks_and_users_labels(world: World) -> None:
    stack = uuid.uuid4()
    obj = world.push(stack, SHOP)
    report = world.tick()
    assert report.applied == (obj.id,)
    assert not report.failed
    applies = [detail for op, detail in world.cluster.calls if op == "apply"]
    assert applies[:2] == ["Namespace/shop", "CustomResourceDefinition/widgets.shop.example.com"]
    first_dry_run = world.cluster.calls.index(("dry_run", "Deployment/shop/web"))
    assert (
        world.cluster.calls.index(("apply", "CustomResourceDefinition/widgets.shop.example.com"))
        < first_dry_run
    )
    deployment = world.live("apps/v1", "Deployment", "shop", "web")
    labels, annotations = deployment["metadata"]["labels"], deployment["metadata"]["annotations"]
    assert labels["team"] == "a"
    assert labels[STACK_LABEL] == str(stack)
    assert labels[MANAGED_BY_LABEL] == "brokkr"
    assert annotations["note"] == "keep"
    assert annotations[OWNER_ANNOTATION] == str(world.agent.id)
    assert annotations[CHECKSUM_ANNOTATION] == obj.yaml_checksum
    assert annotations[STACK_ANNOTATION] == str(stack)
    assert deployment["spec"]["template"]["metadata"]["labels"] == {"app": "web"}  # no rollout-causing marks
    namespace = world.live("v1", "Namespace", None, "shop")
    assert namespace["metadata"]["annotations"][CREATED_NAMESPACE_ANNOTATION] == "true"
    assert world.live("shop.example.com/v1", "Widget", "shop", "w1")["spec"] == {"size": 1}
    assert world.statuses(obj) == [("SUCCESS", None)]
    assert world.reconciler.deployed()[obj.id]


def test_a_converged_stack_is_skipped_and_reported_once(world: World) -> None:
    obj = world.push(uuid.uuid4(), cms("a", "b"))
    world.tick()
    applies = world.cluster.count_calls("apply")
    report = world.tick()
    assert report.skipped == (obj.stack_id,)
    assert report.applied == ()
    assert world.cluster.count_calls("apply") == applies
    assert world.statuses(obj) == [("SUCCESS", None)]


def test_drift_is_reapplied_without_a_second_event(world: World) -> None:
    obj = world.push(uuid.uuid4(), cms("a", "b"))
    world.tick()
    world.cluster.delete(ObjectRef("v1", "ConfigMap", "default", "a"))
    assert world.tick().applied == (obj.id,)
    world.live("v1", "ConfigMap", "default", "a")
    tampered = world.live("v1", "ConfigMap", "default", "b")
    tampered["metadata"]["annotations"][CHECKSUM_ANNOTATION] = "other"
    world.cluster.put(tampered)
    assert world.tick().applied == (obj.id,)
    assert world.live("v1", "ConfigMap", "default", "b")["metadata"]["annotations"][CHECKSUM_ANNOTATION] == (
        obj.yaml_checksum
    )
    assert world.statuses(obj) == [("SUCCESS", None)]


def test_drift_checks_can_be_spaced_out() -> None:
    world = World(drift_check_seconds=60)
    world.push(uuid.uuid4(), cms("a"))
    world.tick()
    world.cluster.delete(ObjectRef("v1", "ConfigMap", "default", "a"))
    world.clock.advance(30)
    assert world.tick().applied == ()
    world.clock.advance(31)
    assert len(world.tick().applied) == 1


def test_update_changes_objects_and_prunes_removed_ones(world: World) -> None:
    stack = uuid.uuid4()
    world.push(stack, cms("a", "b"))
    world.tick()
    second = world.push(stack, cms("a", "c", value="2"))
    report = world.tick()
    assert report.applied == (second.id,)
    assert set(report.removed) == {ObjectRef("v1", "ConfigMap", "default", "b")}
    assert world.cluster.refs(kinds=["ConfigMap"]) == {
        ObjectRef("v1", "ConfigMap", "default", "a"),
        ObjectRef("v1", "ConfigMap", "default", "c"),
    }
    assert world.live("v1", "ConfigMap", "default", "a")["data"] == {"v": "2"}
    assert world.statuses(second) == [("SUCCESS", None)]


def test_pruning_lists_only_the_stack_unless_a_namespace_may_go(world: World) -> None:
    busy, shop = uuid.uuid4(), uuid.uuid4()
    world.push(busy, cms("a", "b"))
    world.push(shop, SHOP)
    world.tick()
    world.cluster.calls.clear()
    world.push(busy, cms("a", value="2"))
    world.tick()
    selectors = [detail for op, detail in world.cluster.calls if op == "list_by_labels"]
    assert selectors == [stack_selector(busy)], "an update lists the stack's own objects, not the fleet's"
    world.cluster.calls.clear()
    world.push(shop, "", marker=True)
    world.tick()
    selectors = [detail for op, detail in world.cluster.calls if op == "list_by_labels"]
    assert selectors == [stack_selector(shop), MANAGED_SELECTOR], (
        "a namespace is only deleted after a full look"
    )
    assert world.cluster.get(ObjectRef("v1", "Namespace", None, "shop")) is None


def test_deletion_marker_removes_what_we_own_of_that_stack_and_reports(world: World) -> None:
    doomed, other = uuid.uuid4(), uuid.uuid4()
    world.push(doomed, SHOP)
    world.push(other, cms("neighbour"))
    world.tick()
    marker = world.push(doomed, "", marker=True)
    report = world.tick()
    assert report.deleted == (marker.id,)
    assert world.cluster.refs(kinds=["Deployment", "Widget", "CustomResourceDefinition"]) == set()
    assert world.cluster.get(ObjectRef("v1", "Namespace", None, "shop")) is None
    assert world.cluster.refs(kinds=["ConfigMap"]) == {ObjectRef("v1", "ConfigMap", "default", "neighbour")}
    assert world.statuses(marker) == [("SUCCESS", None)]
    deletes = world.cluster.count_calls("delete")
    world.tick()  # the marker stays in this fake's target state: nothing is done twice
    assert world.cluster.count_calls("delete") == deletes
    assert world.statuses(marker) == [("SUCCESS", None)]


def test_objects_of_another_owner_are_never_deleted(world: World) -> None:
    stack = uuid.uuid4()
    world.push(stack, cms("mine"))
    world.tick()
    theirs = world.live("v1", "ConfigMap", "default", "mine")
    theirs["metadata"]["name"] = "theirs"
    theirs["metadata"]["annotations"][OWNER_ANNOTATION] = str(uuid.uuid4())
    world.cluster.put(theirs)
    world.push(stack, cms("new"))
    world.tick()
    world.push(stack, "", marker=True)
    world.tick()
    assert world.cluster.refs(kinds=["ConfigMap"]) == {ObjectRef("v1", "ConfigMap", "default", "theirs")}


def test_a_namespace_we_did_not_create_is_never_deleted(world: World) -> None:
    world.cluster.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}})
    stack = uuid.uuid4()
    world.push(
        stack, "apiVersion: v1\nkind: Namespace\nmetadata: {name: team}\n---\n" + cms("c", namespace="team")
    )
    world.tick()
    namespace = world.live("v1", "Namespace", None, "team")
    assert CREATED_NAMESPACE_ANNOTATION not in namespace["metadata"]["annotations"]
    assert namespace["metadata"]["labels"][STACK_LABEL] == str(stack)
    world.push(stack, "", marker=True)
    world.tick()
    world.live("v1", "Namespace", None, "team")
    assert world.cluster.refs(kinds=["ConfigMap"]) == set()


def test_a_namespace_we_created_survives_while_another_stack_uses_it(world: World) -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    world.push(
        first,
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: shared}\n---\n" + cms("a", namespace="shared"),
    )
    world.tick()
    world.push(second, cms("b", namespace="shared"))
    world.tick()
    world.push(first, "", marker=True)
    world.tick()
    world.live("v1", "Namespace", None, "shared")
    assert world.cluster.refs(kinds=["ConfigMap"]) == {ObjectRef("v1", "ConfigMap", "shared", "b")}


def test_a_user_cannot_claim_a_namespace_was_created_by_us(world: World) -> None:
    world.cluster.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod"}})
    stack = uuid.uuid4()
    forged = f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: prod\n  annotations: {{{CREATED_NAMESPACE_ANNOTATION}: 'true'}}\n"
    world.push(stack, forged)
    world.tick()
    world.push(stack, "", marker=True)
    world.tick()
    world.live("v1", "Namespace", None, "prod")


def test_objects_with_owner_references_are_never_pruned(world: World) -> None:
    stack = uuid.uuid4()
    world.push(stack, cms("a"))
    world.tick()
    child = world.live("v1", "ConfigMap", "default", "a")
    child["metadata"]["name"] = "child"
    child["metadata"]["ownerReferences"] = [{"apiVersion": "v1", "kind": "Pod", "name": "x", "uid": "u-1"}]
    world.cluster.put(child)
    world.push(stack, cms("b"))
    report = world.tick()
    assert ObjectRef("v1", "ConfigMap", "default", "a") in report.removed
    world.live("v1", "ConfigMap", "default", "child")


def test_invalid_manifest_fails_its_stack_only_and_is_applied_after_a_fix(world: World) -> None:
    good, bad = uuid.uuid4(), uuid.uuid4()
    world.push(good, cms("fine"))
    broken = world.push(bad, cms("ok") + "\n---\nkind: ConfigMap\nmetadata: {name: x}\n")
    report = world.tick()
    assert set(report.failed) == {bad}
    assert "document 2" in report.failed[bad]
    assert "apiVersion" in report.failed[bad]
    [(status, message)] = world.statuses(broken)
    assert status == "FAILURE"
    assert message is not None
    assert "document 2" in message
    assert world.cluster.get(ObjectRef("v1", "ConfigMap", "default", "fine")) is not None
    assert world.cluster.get(ObjectRef("v1", "ConfigMap", "default", "ok")) is None
    fixed = world.push(bad, cms("ok"))
    assert world.tick().applied == (fixed.id,)
    assert world.statuses(fixed) == [("SUCCESS", None)]


def test_validation_names_every_rejected_object_and_applies_none(world: World) -> None:
    world.cluster.reject(lambda obj: obj.name.startswith("bad"), "spec: Invalid value")
    obj = world.push(uuid.uuid4(), cms("good", "bad-1", "bad-2"))
    report = world.tick()
    message = report.failed[obj.stack_id]
    assert "ConfigMap/default/bad-1" in message
    assert "ConfigMap/default/bad-2" in message
    assert world.cluster.refs(kinds=["ConfigMap"]) == set()


def test_failed_stack_is_retried_with_backoff_until_it_succeeds(world: World) -> None:
    broken = {"on": True}
    world.cluster.reject(lambda obj: broken["on"] and obj.name == "x", "quota exceeded")
    obj = world.push(uuid.uuid4(), cms("x"))
    attempts: list[int] = []
    for second in range(40):
        before = world.cluster.count_calls("dry_run")
        world.tick()
        if world.cluster.count_calls("dry_run") > before:
            attempts.append(second)
        world.clock.advance(1)
    assert attempts == [0, 5, 15, 35]  # 5 s, then 10 s, then 20 s
    assert world.statuses(obj) == [
        ("FAILURE", 'validation failed: ConfigMap/default/x: ConfigMap "x" is invalid: quota exceeded')
    ]
    broken["on"] = False
    world.clock.advance(40)
    assert world.tick().applied == (obj.id,)
    assert world.statuses(obj)[-1] == ("SUCCESS", None)
    assert world.reconciler.failing() == {}


def test_a_newer_object_supersedes_a_failing_one_at_once(world: World) -> None:
    stack = uuid.uuid4()
    world.cluster.reject(lambda obj: obj.name == "x", "nope")
    world.push(stack, cms("x"))
    world.tick()
    world.clock.advance(1)
    assert world.tick().waiting == (stack,)
    fixed = world.push(stack, cms("y"))
    assert world.tick().applied == (fixed.id,)


def test_backoff_schedule_is_capped() -> None:
    assert [backoff_delay(n, 5, 300) for n in range(1, 9)] == [5, 10, 20, 40, 80, 160, 300, 300]


def test_transient_cluster_errors_fail_the_stack_and_recover(world: World) -> None:
    obj = world.push(uuid.uuid4(), cms("a"))
    world.cluster.fail_next(1, operations=["apply"])
    report = world.tick()
    assert "overloaded" in report.failed[obj.stack_id]
    world.clock.advance(5)
    assert world.tick().applied == (obj.id,)
    assert [status for status, _ in world.statuses(obj)] == ["FAILURE", "SUCCESS"]


def test_a_failed_deletion_is_retried_silently(world: World) -> None:
    stack = uuid.uuid4()
    world.push(stack, cms("a"))
    world.tick()
    marker = world.push(stack, "", marker=True)
    world.cluster.fail_next(1, operations=["delete"])
    assert stack in world.tick().failed
    assert world.statuses(marker) == []  # any event would acknowledge the marker and end the retries
    world.clock.advance(5)
    assert world.tick().deleted == (marker.id,)
    assert world.statuses(marker) == [("SUCCESS", None)]
    assert world.cluster.refs(kinds=["ConfigMap"]) == set()


def test_events_the_broker_missed_are_sent_on_a_later_tick(world: World) -> None:
    obj = world.push(uuid.uuid4(), cms("a"))
    target = world.broker.target_state(world.agent.id)
    world.broker.outage = True
    world.reconciler.reconcile(target, world.agent.id)
    world.broker.outage = False
    assert world.statuses(obj) == []
    world.tick()
    assert world.statuses(obj) == [("SUCCESS", None)]


def test_stacks_that_leave_the_target_state_are_left_alone(world: World) -> None:
    stack = uuid.uuid4()
    world.push(stack, cms("a"))
    world.tick()
    del world.latest[stack]
    world.broker.set_target_state(world.agent.id, [])
    world.tick()
    world.live("v1", "ConfigMap", "default", "a")
    assert world.reconciler.deployed() == {}


def test_objects_are_applied_concurrently_with_an_executor() -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        world = World(executor=pool, max_parallel=3)
        names = [f"c{i}" for i in range(10)]
        obj = world.push(uuid.uuid4(), cms(*names))
        assert world.tick().applied == (obj.id,)
        assert {ref.name for ref in world.cluster.refs(kinds=["ConfigMap"])} == set(names)


class SlowCrdCluster(FakeCluster):
    """A cluster whose discovery learns about new CRDs only after a few polls, like a real API server."""

    def __init__(self, delay_polls: int) -> None:
        super().__init__()
        self.delay_polls = delay_polls

    def is_namespaced(self, api_version: str, kind: str) -> bool:
        if kind == "Widget" and self.delay_polls > 0:
            self.delay_polls -= 1
            raise ValidationError(f'no matches for kind "{kind}"')
        return super().is_namespaced(api_version, kind)


def test_waits_for_fresh_crds_to_be_served_when_it_may_sleep() -> None:
    clock = FakeClock()
    cluster = SlowCrdCluster(delay_polls=3)
    broker = FakeBrokerGateway(clock)
    agent = broker.add_agent()
    slept: list[float] = []
    reconciler = Reconciler(cluster, broker, clock=clock, sleep=slept.append)
    obj = b.deployment_object(clock.now(), uuid.uuid4(), yaml_content=SHOP, sequence_id=1)
    assert reconciler.reconcile([obj], agent.id).applied == (obj.id,)
    assert slept == [0.5, 0.5, 0.5]


def test_the_latest_object_of_a_stack_wins(world: World) -> None:
    stack = uuid.uuid4()
    old = b.deployment_object(world.clock.now(), stack, yaml_content=cms("old"), sequence_id=1)
    new = b.deployment_object(world.clock.now(), stack, yaml_content=cms("new"), sequence_id=2)
    assert world.reconciler.reconcile([new, old], world.agent.id).applied == (new.id,)
    assert world.cluster.refs(kinds=["ConfigMap"]) == {ObjectRef("v1", "ConfigMap", "default", "new")}
