"""The domain's ``Reconciler`` driving ``KubernetesCluster`` against the fake API server, end to end.

The broker is the domain's ``FakeBrokerGateway``; the cluster is real HTTP. These are the agent's promises
that depend on what the API server does (server-side apply, label selectors, cascading deletes), so they are
checked here rather than only against the in-memory cluster.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from brokkr_adapters_k8s import KubernetesCluster
from brokkr_adapters_k8s.testing import FakeApiServer
from brokkr_domain.agent.reconcile import Reconciler, TickReport
from brokkr_domain.model import DeploymentObject
from brokkr_domain.ownership import (
    CREATED_NAMESPACE_ANNOTATION,
    MANAGED_BY_LABEL,
    OWNER_ANNOTATION,
    STACK_ANNOTATION,
    STACK_LABEL,
)
from brokkr_domain.testing import builders as b
from brokkr_domain.testing.fake_broker import FakeBrokerGateway
from brokkr_domain.testing.fakes import FakeClock

SHOP = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels: {team: a}
  annotations: {note: keep}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: "nginx:1.27"}]}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: shop}
data: {a: "1"}
---
apiVersion: shop.example.com/v1
kind: Widget
metadata: {name: w1, namespace: shop}
spec: {size: 1}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.shop.example.com}
spec:
  group: shop.example.com
  scope: Namespaced
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
---
apiVersion: v1
kind: Namespace
metadata: {name: shop}
"""


class World:
    """One agent with its (fake) broker, the real adapter and a fake API server."""

    def __init__(self, server: FakeApiServer, kubeconfig: Path) -> None:
        self.server = server
        self.clock = FakeClock()
        self.cluster = KubernetesCluster.from_kubeconfig(kubeconfig, sleep=lambda _s: None)
        self.broker = FakeBrokerGateway(self.clock)
        self.agent_id: UUID = self.broker.add_agent().id
        self.reconciler = Reconciler(self.cluster, self.broker, clock=self.clock, sleep=lambda _s: None)
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
        self.broker.set_target_state(self.agent_id, self.latest.values())
        return obj

    def tick(self) -> TickReport:
        return self.reconciler.reconcile(self.broker.target_state(self.agent_id), self.agent_id)

    def live(self, group: str, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        try:
            return self.server.state.get_object(group, kind, name, namespace)
        except LookupError:  # the kind is not served (any more)
            return None

    def statuses(self, obj: DeploymentObject) -> list[str]:
        return [e.status for e in self.broker.events_for(obj.id)]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with FakeApiServer.running() as server:
        w = World(server, server.kubeconfig_path(tmp_path))
        yield w
        w.cluster.close()


def test_a_multi_document_stack_is_applied_with_marks_kept_and_crd_first(world: World) -> None:
    stack = uuid.uuid4()
    obj = world.push(stack, SHOP)
    report = world.tick()
    assert report.failed == {}
    assert world.statuses(obj) == ["SUCCESS"]
    deployment = world.live("apps", "Deployment", "web", "shop")
    assert deployment is not None
    assert deployment["metadata"]["labels"] == {
        "team": "a",
        MANAGED_BY_LABEL: "brokkr",
        STACK_LABEL: str(stack),
    }
    annotations = deployment["metadata"]["annotations"]
    assert annotations["note"] == "keep"
    assert annotations[OWNER_ANNOTATION] == str(world.agent_id)
    assert "brokkr.io" not in str(deployment["spec"]["template"])  # marks never cause a rollout
    assert world.live("shop.example.com", "Widget", "w1", "shop") is not None
    shop = world.live("", "Namespace", "shop")
    assert shop is not None
    assert shop["metadata"]["annotations"][CREATED_NAMESPACE_ANNOTATION] == "true"
    # the namespace and the CRD were applied for real before any dry run of the objects that need them
    patches = [(r.path, r.param("dryRun")) for r in world.server.requests.matching("PATCH")]
    first_dry_run = next(i for i, (_, dry) in enumerate(patches) if dry == "All")
    assert {p for p, _ in patches[:first_dry_run]} == {
        "/api/v1/namespaces/shop",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.shop.example.com",
    }


def test_a_steady_state_tick_writes_nothing(world: World) -> None:
    world.push(uuid.uuid4(), SHOP)
    world.tick()
    world.server.requests.clear()
    report = world.tick()
    assert len(report.skipped) == 1
    assert world.server.requests.matching("PATCH") == []
    assert world.server.requests.matching("DELETE") == []


def test_an_update_prunes_what_the_new_version_dropped(world: World) -> None:
    stack = uuid.uuid4()
    world.push(stack, SHOP)
    world.tick()
    without_widget_and_configmap = "\n---\n".join(
        doc
        for doc in SHOP.split("\n---\n")
        if "\nkind: Widget\n" not in doc and "\nkind: ConfigMap\n" not in doc
    )
    updated = world.push(stack, without_widget_and_configmap.replace("nginx:1.27", "nginx:1.28"))
    report = world.tick()
    assert world.statuses(updated) == ["SUCCESS"]
    assert {(r.kind, r.name) for r in report.removed} == {("Widget", "w1"), ("ConfigMap", "settings")}
    assert world.live("", "ConfigMap", "settings", "shop") is None
    assert world.live("shop.example.com", "Widget", "w1", "shop") is None
    deployment = world.live("apps", "Deployment", "web", "shop")
    assert deployment is not None
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"


def test_a_deletion_marker_removes_everything_of_the_stack(world: World) -> None:
    stack = uuid.uuid4()
    world.push(stack, SHOP)
    world.tick()
    marker = world.push(stack, "", marker=True)
    report = world.tick()
    assert report.failed == {}
    assert world.statuses(marker) == ["SUCCESS"]
    assert world.live("", "Namespace", "shop") is None
    assert world.live("apiextensions.k8s.io", "CustomResourceDefinition", "widgets.shop.example.com") is None
    assert world.cluster.list_by_labels(f"{STACK_LABEL}={stack}") == []


def test_a_namespace_we_did_not_create_and_objects_of_other_owners_are_never_deleted(world: World) -> None:
    stack = uuid.uuid4()
    world.server.state.apply_object({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shared"}})
    someone_else = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "theirs",
            "namespace": "shared",
            "labels": {MANAGED_BY_LABEL: "brokkr", STACK_LABEL: str(stack)},
            "annotations": {STACK_ANNOTATION: str(stack), OWNER_ANNOTATION: str(uuid.uuid4())},
        },
        "data": {"k": "v"},
    }
    world.server.state.apply_object(someone_else, manager="other-agent")
    ours = "apiVersion: v1\nkind: Namespace\nmetadata: {name: shared}\n---\n" + (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ours, namespace: shared}\ndata: {k: v}\n"
    )
    world.push(stack, ours)
    world.tick()
    namespace = world.live("", "Namespace", "shared")
    assert namespace is not None
    assert CREATED_NAMESPACE_ANNOTATION not in namespace["metadata"]["annotations"]
    world.push(stack, "", marker=True)
    report = world.tick()
    assert [(r.kind, r.name) for r in report.removed] == [("ConfigMap", "ours")]
    assert world.live("", "Namespace", "shared") is not None
    assert world.live("", "ConfigMap", "theirs", "shared") is not None


def test_a_rejected_object_fails_the_stack_with_the_servers_message(world: World) -> None:
    bad = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: Bad_Name}\ndata: {k: v}\n"
    obj = world.push(uuid.uuid4(), bad)
    report = world.tick()
    (message,) = report.failed.values()
    assert 'ConfigMap "Bad_Name" is invalid' in message
    assert world.broker.events_for(obj.id)[0].status == "FAILURE"
    assert world.server.requests.matching("PATCH")[-1].param("dryRun") == "All"  # nothing was written
