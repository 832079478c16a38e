"""FakeCluster: the Cluster contract, plus the Kubernetes-like behaviour the agent tests lean on."""

from __future__ import annotations

import pytest

from brokkr_domain.errors import NotFoundError, TransientError, ValidationError
from brokkr_domain.manifests import KubeObject, ObjectRef
from brokkr_domain.testing.contracts.cluster import ClusterContract, config_map, crd, namespace
from brokkr_domain.testing.fake_cluster import FakeCluster, parse_selector, selector_matches


@pytest.fixture
def cluster() -> FakeCluster:
    return FakeCluster()


class TestFakeClusterContract(ClusterContract):
    pass


def test_apply_merges_labels_and_annotations_and_replaces_the_rest(cluster: FakeCluster) -> None:
    first = KubeObject.from_manifest(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "c", "labels": {"a": "1"}, "annotations": {"x": "1"}},
            "data": {"old": "1"},
        }
    )
    second = KubeObject.from_manifest(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "c", "labels": {"b": "2"}},
            "data": {"new": "2"},
        }
    )
    cluster.apply(first)
    live = cluster.apply(second)
    assert live["metadata"]["labels"] == {"a": "1", "b": "2"}
    assert live["metadata"]["annotations"] == {"x": "1"}
    assert live["data"] == {"new": "2"}


def test_apply_keeps_status_and_uid(cluster: FakeCluster) -> None:
    cluster.put(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p"},
            "spec": {},
            "status": {"phase": "Running"},
        }
    )
    before = cluster.get(ObjectRef("v1", "Pod", None, "p"))
    pod = KubeObject.from_manifest(
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"x": 1}}
    )
    after = cluster.apply(pod)
    assert before is not None
    assert after["status"] == {"phase": "Running"}
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    assert after["metadata"]["generation"] == 2


def test_invalid_name_and_scripted_rejection(cluster: FakeCluster) -> None:
    with pytest.raises(ValidationError, match="RFC 1123"):
        cluster.apply(config_map("Bad_Name"))
    cluster.reject(lambda obj: obj.name == "nope", "spec.replicas: Invalid value")
    with pytest.raises(ValidationError, match="Invalid value"):
        cluster.apply(config_map("nope"), dry_run=True)


def test_custom_resource_before_its_crd_is_unknown(cluster: FakeCluster) -> None:
    widget = KubeObject.from_manifest(
        {"apiVersion": "ex.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    )
    with pytest.raises(ValidationError, match="no matches for kind"):
        cluster.apply(widget)
    cluster.apply(crd("ex.com", "Widget", "widgets"), dry_run=True)
    with pytest.raises(ValidationError):
        cluster.apply(widget)  # a dry-run CRD registers nothing
    cluster.apply(crd("ex.com", "Widget", "widgets"))
    cluster.apply(widget)
    assert cluster.delete(
        ObjectRef("apiextensions.k8s.io/v1", "CustomResourceDefinition", None, "widgets.ex.com")
    )
    with pytest.raises(ValidationError):
        cluster.get(widget.ref)  # the kind went away with its CRD


def test_deleting_a_namespace_deletes_its_content(cluster: FakeCluster) -> None:
    cluster.apply(namespace("team"))
    cluster.apply(config_map("c", "team"))
    cluster.set_logs("team", "p", "main", "x")
    assert cluster.delete(ObjectRef("v1", "Namespace", None, "team"))
    assert cluster.refs(kinds=["ConfigMap"]) == set()


def test_garbage_collection_follows_owner_references(cluster: FakeCluster) -> None:
    owner = cluster.put({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}})
    rs = cluster.put(
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {"name": "web-1", "ownerReferences": [{"uid": owner["metadata"]["uid"]}]},
        }
    )
    cluster.put(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "web-1-a", "ownerReferences": [rs["metadata"]]},
        }
    )
    cluster.delete(ObjectRef("apps/v1", "Deployment", "default", "web"))
    assert cluster.refs(kinds=["ReplicaSet", "Pod"]) == set()


def test_fault_injection_counts_down_and_filters_operations(cluster: FakeCluster) -> None:
    cluster.fail_next(2, operations=["apply"])
    assert cluster.get(ObjectRef("v1", "ConfigMap", None, "c")) is None
    for _ in range(2):
        with pytest.raises(TransientError):
            cluster.apply(config_map("c"))
    cluster.apply(config_map("c"))
    assert cluster.count_calls("apply") == 3


def test_logs_tail_and_errors(cluster: FakeCluster) -> None:
    cluster.put(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "main"}]},
        }
    )
    cluster.set_logs("default", "p", "main", "one\ntwo\nthree\n")
    assert cluster.pod_log_tail("default", "p", "main", 2) == "two\nthree\n"
    with pytest.raises(NotFoundError):
        cluster.pod_log_tail("default", "gone", "main", 2)
    with pytest.raises(ValidationError):
        cluster.pod_log_tail("default", "p", "sidecar", 2)


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("a=1,b=2", {"a": "1", "b": "2", "c": "3"}, True),
        ("a==1", {"a": "2"}, False),
        ("a!=1", {}, True),
        ("a!=1", {"a": "1"}, False),
        ("a", {"a": ""}, True),
        ("!a", {"a": "x"}, False),
        ("", {"a": "x"}, True),
    ],
)
def test_label_selectors(selector: str, labels: dict[str, str], expected: bool) -> None:
    assert selector_matches(parse_selector(selector), labels) is expected
