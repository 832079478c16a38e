"""Deployment health: pods found through the workloads' selectors, classified, sent in batches."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from brokkr_domain.agent.health import collect_health, health_tick
from brokkr_domain.agent.reconcile import Reconciler
from brokkr_domain.manifests import ObjectRef
from brokkr_domain.model import HealthStatus
from brokkr_domain.testing import builders as b
from brokkr_domain.testing.fake_broker import FakeBrokerGateway
from brokkr_domain.testing.fake_cluster import FakeCluster
from brokkr_domain.testing.fakes import FakeClock

DEPLOYMENT = """
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx}]}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: shop}
"""


def pod(name: str, *, labels: dict[str, str], namespace: str = "shop", **status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"containers": [{"name": "web"}]},
        "status": status,
    }


RUNNING = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
CRASHING = {
    "phase": "Running",
    "conditions": [{"type": "Ready", "status": "False"}],
    "containerStatuses": [
        {"name": "web", "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "boom"}}}
    ],
}
FAILED = {"phase": "Failed", "reason": "Evicted"}


@pytest.fixture
def setup() -> tuple[FakeCluster, FakeBrokerGateway, FakeClock, Reconciler, Any]:
    clock = FakeClock()
    cluster = FakeCluster()
    broker = FakeBrokerGateway(clock)
    agent = broker.add_agent()
    reconciler = Reconciler(cluster, broker, clock=clock)
    obj = b.deployment_object(clock.now(), uuid.uuid4(), yaml_content=DEPLOYMENT, sequence_id=1)
    assert reconciler.reconcile([obj], agent.id).applied == (obj.id,)
    return cluster, broker, clock, reconciler, (agent, obj)


@pytest.mark.parametrize(
    ("pods", "expected", "ready", "total"),
    [
        ([], HealthStatus.UNKNOWN, 0, 0),
        ([RUNNING, RUNNING], HealthStatus.HEALTHY, 2, 2),
        ([RUNNING, CRASHING], HealthStatus.DEGRADED, 1, 2),
        ([RUNNING, CRASHING, FAILED], HealthStatus.FAILING, 1, 3),
    ],
)
def test_each_health_state(
    setup: Any, pods: list[dict[str, Any]], expected: HealthStatus, ready: int, total: int
) -> None:
    cluster, _broker, clock, reconciler, (_agent, obj) = setup
    for i, status in enumerate(pods):
        cluster.put(pod(f"web-{i}", labels={"app": "web"}, **status))
    cluster.put(pod("other", labels={"app": "other"}, phase="Failed"))  # not ours
    cluster.put(
        pod("web-elsewhere", labels={"app": "web"}, namespace="default", phase="Failed")
    )  # other namespace
    [report] = collect_health(cluster, reconciler.deployed(), now=clock.now())
    assert report.deployment_object_id == obj.id
    assert report.status is expected
    assert report.summary is not None
    assert (report.summary.pods_ready, report.summary.pods_total) == (ready, total)
    assert report.checked_at == clock.now()
    if expected is HealthStatus.DEGRADED:
        assert report.summary.conditions == ("CrashLoopBackOff",)


def test_a_cluster_error_makes_the_object_unknown(setup: Any) -> None:
    cluster, _broker, clock, reconciler, _ = setup
    cluster.fail_next(1, operations=["list_pods"])
    [report] = collect_health(cluster, reconciler.deployed(), now=clock.now())
    assert report.status is HealthStatus.UNKNOWN
    assert report.summary is None


def test_bare_pods_are_found_by_name() -> None:
    cluster = FakeCluster()
    cluster.put(pod("solo", labels={}, namespace="default", **RUNNING))
    object_id = uuid.uuid4()
    [report] = collect_health(
        cluster, {object_id: [ObjectRef("v1", "Pod", None, "solo")]}, now=FakeClock().now()
    )
    assert report.status is HealthStatus.HEALTHY


def test_health_tick_sends_reports_in_batches() -> None:
    clock = FakeClock()
    cluster = FakeCluster()
    broker = FakeBrokerGateway(clock)
    agent = broker.add_agent()
    deployed = {uuid.uuid4(): [ObjectRef("v1", "ConfigMap", None, f"c{i}")] for i in range(5)}
    reports = health_tick(broker, cluster, agent.id, deployed, clock=clock, batch_size=2)
    assert len(reports) == 5
    assert broker.calls.count("report_health") == 3
    assert {report.deployment_object_id for _, report in broker.health_reports} == set(deployed)
    assert health_tick(broker, cluster, agent.id, {}, clock=clock) == []
    assert broker.calls.count("report_health") == 3


def test_workloads_sharing_a_selector_are_listed_once(setup: Any) -> None:
    cluster, _broker, clock, reconciler, (_agent, obj) = setup
    refs = reconciler.deployed()[obj.id]
    calls = cluster.count_calls("list_pods")
    collect_health(cluster, {obj.id: refs, uuid.uuid4(): refs}, now=clock.now())
    assert cluster.count_calls("list_pods") == calls + 1
