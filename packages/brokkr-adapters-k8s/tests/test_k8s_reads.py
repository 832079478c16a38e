"""Reads through ``KubernetesCluster``: list-by-labels across kinds, pods, events, log tails, discovery, config."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from brokkr_adapters_k8s import KubernetesCluster
from brokkr_adapters_k8s.discovery import ApiResource, Discovery
from brokkr_adapters_k8s.testing import FakeApiServer, container_status, running, waiting
from brokkr_domain.errors import NotFoundError, TransientError, ValidationError
from brokkr_domain.manifests import KubeObject
from brokkr_domain.testing.contracts.cluster import config_map, crd, namespace


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def server() -> Iterator[FakeApiServer]:
    with FakeApiServer.running() as srv:
        yield srv


@pytest.fixture
def time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def cluster(server: FakeApiServer, tmp_path: Path, time: FakeTime) -> Iterator[KubernetesCluster]:
    with KubernetesCluster.from_kubeconfig(
        server.kubeconfig_path(tmp_path), clock=time.clock, sleep=time.sleep
    ) as adapter:
        yield adapter


def _names(items: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return sorted((i["kind"], i["metadata"].get("namespace") or "", i["metadata"]["name"]) for i in items)


# ---------------------------------------------------------------------------------------------- list_by_labels


def test_list_by_labels_spans_core_group_cluster_scoped_and_custom_kinds(
    cluster: KubernetesCluster, server: FakeApiServer
) -> None:
    mine = {"app.kubernetes.io/managed-by": "brokkr"}
    cluster.apply(namespace("team", labels=mine))
    cluster.apply(config_map("settings", "team", labels=mine))
    cluster.apply(config_map("unlabelled", "team"))
    cluster.apply(crd("shop.example.com", "Widget", "widgets"))
    widget = {
        "apiVersion": "shop.example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "labels": mine},
    }
    cluster.apply(KubeObject.from_manifest(widget))
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "reader", "labels": mine},
        "rules": [],
    }
    cluster.apply(KubeObject.from_manifest(role))
    server.state.put_pod("team", "p", labels=mine)
    found = cluster.list_by_labels("app.kubernetes.io/managed-by=brokkr")
    assert _names(found) == [
        ("ClusterRole", "", "reader"),
        ("ConfigMap", "team", "settings"),
        ("Namespace", "", "team"),
        ("Pod", "team", "p"),
        ("Widget", "default", "w"),
    ]
    by_kind = {item["kind"]: item["apiVersion"] for item in found}
    assert by_kind["ClusterRole"] == "rbac.authorization.k8s.io/v1"  # filled in: built-in list items lack it
    assert by_kind["Widget"] == "shop.example.com/v1"
    lists = [r for r in server.requests.matching("GET") if r.param("labelSelector")]
    assert all("/namespaces/" not in r.path for r in lists)  # one list per kind across all namespaces
    assert not any(r.path.endswith(("/status", "/log")) for r in server.requests.entries)


def test_kinds_we_may_not_list_are_skipped_one_by_one(
    cluster: KubernetesCluster, server: FakeApiServer
) -> None:
    cluster.apply(config_map("visible", labels={"x": "1"}))
    cluster.apply(namespace("also-visible", labels={"x": "1"}))
    server.faults.add(r"^/apis/rbac\.authorization\.k8s\.io/v1/clusterroles$", 403, times=None)
    server.faults.add(r"^/api/v1/secrets$", 404, times=None)
    server.faults.add(r"^/apis/apps/v1/deployments$", 405, times=None)
    assert _names(cluster.list_by_labels("x=1")) == [
        ("ConfigMap", "default", "visible"),
        ("Namespace", "", "also-visible"),
    ]


def test_a_failing_list_is_an_error_not_a_silent_gap(
    cluster: KubernetesCluster, server: FakeApiServer
) -> None:
    cluster.discovery.listable()
    server.faults.add(r"^/api/v1/configmaps$", 500, times=None)
    with pytest.raises(TransientError):
        cluster.list_by_labels("x=1")


def test_each_group_is_listed_at_its_preferred_version_only(
    cluster: KubernetesCluster, server: FakeApiServer
) -> None:
    two_versions = crd("multi.example.com", "Gadget", "gadgets").body
    served = two_versions["spec"]["versions"][0]
    two_versions["spec"]["versions"] = [served | {"name": "v1beta1", "storage": False}, served]
    cluster.apply(KubeObject.from_manifest(two_versions))
    cluster.invalidate_discovery()
    gadget = {
        "apiVersion": "multi.example.com/v1beta1",
        "kind": "Gadget",
        "metadata": {"name": "g", "labels": {"t": "1"}},
    }
    cluster.apply(KubeObject.from_manifest(gadget))
    server.requests.clear()
    (found,) = cluster.list_by_labels("t=1")
    assert found["apiVersion"] == "multi.example.com/v1"
    assert [r.path for r in server.requests.matching("GET", "gadgets")] == [
        "/apis/multi.example.com/v1/gadgets"
    ]


class _AliasedDiscovery(Discovery):
    """Discovery that also serves ConfigMaps under a second name, as events are in core v1 and events.k8s.io."""

    def listable(self) -> list[ApiResource]:
        found = super().listable()
        return found + [r for r in found if r.kind == "ConfigMap"]


def test_an_object_served_by_two_resources_is_listed_once(
    cluster: KubernetesCluster, server: FakeApiServer, time: FakeTime
) -> None:
    cluster.discovery = _AliasedDiscovery(cluster.transport, clock=time.clock)
    cluster.apply(config_map("once", labels={"t": "1"}))
    assert len(server.requests.matching("GET", r"^/api/v1/configmaps$")) == 0
    assert _names(cluster.list_by_labels("t=1")) == [("ConfigMap", "default", "once")]
    assert len(server.requests.matching("GET", r"^/api/v1/configmaps$")) == 2


def test_lists_are_read_page_by_page(server: FakeApiServer, tmp_path: Path, time: FakeTime) -> None:
    for n in range(7):
        server.state.apply_object(config_map(f"cm-{n}", labels={"page": "yes"}).body)
    with KubernetesCluster.from_kubeconfig(
        server.kubeconfig_path(tmp_path), clock=time.clock, sleep=time.sleep, page_size=3
    ) as adapter:
        assert len(adapter.list_by_labels("page=yes")) == 7
    pages = server.requests.matching("GET", r"^/api/v1/configmaps$")
    assert [r.param("limit") for r in pages] == ["3", "3", "3"]
    assert [bool(r.param("continue")) for r in pages] == [False, True, True]


def test_an_unavailable_aggregated_api_is_skipped_but_other_discovery_failures_fail(
    server: FakeApiServer, tmp_path: Path, time: FakeTime
) -> None:
    with KubernetesCluster.from_kubeconfig(
        server.kubeconfig_path(tmp_path), clock=time.clock, sleep=time.sleep
    ) as adapter:
        adapter.apply(config_map("kept", labels={"t": "1"}))
        adapter.invalidate_discovery()
        server.faults.add(r"^/apis/batch/v1$", 503, times=None)
        assert _names(adapter.list_by_labels("t=1")) == [("ConfigMap", "default", "kept")]
        assert set(adapter.discovery.unavailable()) == {"batch/v1"}
        assert time.now <= 10  # a broken group version costs a short retry budget, not 300 s
        server.faults.clear()
        adapter.invalidate_discovery()
        server.faults.add(r"^/apis/apps/v1$", 500, times=None)
        with pytest.raises(TransientError, match="apps/v1"):
            adapter.list_by_labels("t=1")
        server.faults.clear()
        assert adapter.list_by_labels("t=1")  # recovered: the failed group version is fetched again


# ---------------------------------------------------------------------------------------------- pods, events, logs


def test_list_pods_by_labels_in_one_namespace(cluster: KubernetesCluster, server: FakeApiServer) -> None:
    server.state.put_pod("default", "web-1", labels={"app": "web", "tier": "a"})
    server.state.put_pod("default", "web-2", labels={"app": "web"})
    server.state.put_pod("default", "db-1", labels={"app": "db"})
    crashing = [container_status("app", state=waiting("CrashLoopBackOff"), restart_count=4)]
    server.state.put_pod("default", "web-3", labels={"app": "web"}, container_statuses=crashing)
    pods = cluster.list_pods("default", {"app": "web"})
    assert sorted(p["metadata"]["name"] for p in pods) == ["web-1", "web-2", "web-3"]
    assert all(p["kind"] == "Pod" and p["apiVersion"] == "v1" for p in pods)
    statuses = {p["metadata"]["name"]: p["status"]["containerStatuses"][0] for p in pods}
    assert statuses["web-3"]["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert statuses["web-3"]["restartCount"] == 4
    assert [p["metadata"]["name"] for p in cluster.list_pods("default", {"app": "web", "tier": "a"})] == [
        "web-1"
    ]
    assert len(cluster.list_pods("default")) == 4
    assert cluster.list_pods("kube-system", {"app": "web"}) == []


def test_list_events_by_involved_object(cluster: KubernetesCluster, server: FakeApiServer) -> None:
    web = server.state.put_pod("default", "web-1")
    db = server.state.put_pod("default", "db-1")
    server.state.add_event("default", web, "BackOff", "Back-off restarting failed container", type_="Warning")
    server.state.add_event("default", web, "Pulled", "Image pulled")
    server.state.add_event("default", db, "Scheduled", "Assigned to node")
    events = cluster.list_events("default", involved_name="web-1")
    assert sorted(e["reason"] for e in events) == ["BackOff", "Pulled"]
    assert {e["involvedObject"]["name"] for e in events} == {"web-1"}
    assert len(cluster.list_events("default")) == 3
    (request,) = [r for r in server.requests.matching("GET", "events") if r.param("fieldSelector")]
    assert request.param("fieldSelector") == "involvedObject.name=web-1"


def test_pod_log_tails(cluster: KubernetesCluster, server: FakeApiServer) -> None:
    server.state.put_pod("default", "web", containers=["app", "sidecar"])
    server.state.set_pod_logs("default", "web", [f"line {n}" for n in range(1, 11)], container="app")
    assert cluster.pod_log_tail("default", "web", "app", 3) == "line 8\nline 9\nline 10\n"
    assert cluster.pod_log_tail("default", "web", "sidecar", 3) == ""
    assert cluster.pod_log_tail("default", "web", "app", 0) == ""
    with pytest.raises(ValidationError, match="container nope is not valid for pod web"):
        cluster.pod_log_tail("default", "web", "nope", 3)
    with pytest.raises(NotFoundError):
        cluster.pod_log_tail("default", "missing", "app", 3)


def test_logs_of_a_waiting_container_explain_why(cluster: KubernetesCluster, server: FakeApiServer) -> None:
    server.state.put_pod(
        "default", "stuck", container_statuses=[container_status("app", state=waiting("ImagePullBackOff"))]
    )
    server.state.put_pod("default", "fine", container_statuses=[container_status("app", state=running())])
    with pytest.raises(ValidationError, match="is waiting to start: ImagePullBackOff"):
        cluster.pod_log_tail("default", "stuck", "app", 5)
    assert cluster.pod_log_tail("default", "fine", "app", 5) == ""


# ---------------------------------------------------------------------------------------------- discovery cache


def test_discovery_is_read_once_then_served_from_memory(
    cluster: KubernetesCluster, server: FakeApiServer
) -> None:
    for n in range(5):
        cluster.apply(config_map(f"cm-{n}"))
        cluster.is_namespaced("apps/v1", "Deployment")
    cluster.list_by_labels("a=b")
    assert len(server.requests.matching("GET", r"^/api$")) == 1
    assert len(server.requests.matching("GET", r"^/apis/apps/v1$")) == 1


def test_discovery_is_refreshed_on_invalidation_and_after_its_ttl(
    server: FakeApiServer, tmp_path: Path, time: FakeTime
) -> None:
    with KubernetesCluster.from_kubeconfig(
        server.kubeconfig_path(tmp_path), clock=time.clock, sleep=time.sleep, discovery_ttl=60
    ) as adapter:
        adapter.is_namespaced("v1", "ConfigMap")
        adapter.invalidate_discovery()
        adapter.is_namespaced("v1", "ConfigMap")
        time.now += 59
        adapter.is_namespaced("v1", "ConfigMap")
        assert len(server.requests.matching("GET", r"^/api$")) == 2
        time.now += 2
        adapter.is_namespaced("v1", "ConfigMap")
        assert len(server.requests.matching("GET", r"^/api$")) == 3


def test_two_adapters_keep_separate_caches(tmp_path: Path, time: FakeTime) -> None:
    with FakeApiServer.running() as first, FakeApiServer.running() as second:
        a = KubernetesCluster.from_kubeconfig(
            first.kubeconfig_path(tmp_path / "a"), clock=time.clock, sleep=time.sleep
        )
        b = KubernetesCluster.from_kubeconfig(
            second.kubeconfig_path(tmp_path / "b"), clock=time.clock, sleep=time.sleep
        )
        a.apply(crd("only-a.example.com", "Thing", "things"))
        assert a.is_namespaced("only-a.example.com/v1", "Thing")
        with pytest.raises(ValidationError):
            b.is_namespaced("only-a.example.com/v1", "Thing")
        a.close()
        b.close()


# ---------------------------------------------------------------------------------------------- configuration


def test_no_path_falls_back_to_the_default_kubeconfig(
    server: FakeApiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(server.kubeconfig_path(tmp_path)))
    with KubernetesCluster.from_kubeconfig(None) as adapter:
        assert adapter.server_version() == "v1.33.0-brokkr-fake"


def test_no_configuration_at_all_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
    with pytest.raises(ValidationError) as caught:
        KubernetesCluster.from_kubeconfig(None)
    assert caught.value.code == "kubernetes_config"
    assert "not running in a cluster" in caught.value.message
    assert str(tmp_path / "absent") in caught.value.message


def test_an_unusable_kubeconfig_is_a_clear_error(tmp_path: Path) -> None:
    broken = tmp_path / "kubeconfig"
    broken.write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\ncurrent-context: nowhere\n")
    with pytest.raises(ValidationError, match=f"cannot use kubeconfig {broken}"):
        KubernetesCluster.from_kubeconfig(broken)
    with pytest.raises(ValidationError, match="cannot use kubeconfig"):
        KubernetesCluster.from_kubeconfig(tmp_path / "missing")
