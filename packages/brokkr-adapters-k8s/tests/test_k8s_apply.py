"""Server-side apply through ``KubernetesCluster``, checked on the wire and in the fake API server's state."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from brokkr_adapters_k8s import KubernetesCluster
from brokkr_adapters_k8s.testing import FakeApiServer
from brokkr_domain.errors import ValidationError
from brokkr_domain.manifests import KubeObject, ObjectRef
from brokkr_domain.testing.contracts.cluster import config_map, crd, namespace

APPLY = "application/apply-patch+yaml"


@pytest.fixture
def server() -> Iterator[FakeApiServer]:
    with FakeApiServer.running() as srv:
        yield srv


def _cluster(server: FakeApiServer, tmp_path: Path, **options: Any) -> KubernetesCluster:
    slept: list[float] = []
    return KubernetesCluster.from_kubeconfig(
        server.kubeconfig_path(tmp_path), clock=lambda: sum(slept), sleep=slept.append, **options
    )


@pytest.fixture
def cluster(server: FakeApiServer, tmp_path: Path) -> Iterator[KubernetesCluster]:
    with _cluster(server, tmp_path) as adapter:
        yield adapter


def _obj(manifest: dict[str, Any]) -> KubeObject:
    return KubeObject.from_manifest(manifest)


def _patches(server: FakeApiServer, name: str) -> list[Any]:
    return [r for r in server.requests.matching("PATCH") if r.path.endswith(f"/{name}")]


def _managers(live: dict[str, Any]) -> set[str]:
    return {entry["manager"] for entry in live["metadata"].get("managedFields") or []}


def test_apply_sends_force_field_manager_and_the_apply_content_type(
    cluster: KubernetesCluster, server: FakeApiServer
) -> None:
    cluster.apply(config_map("wire", data={"a": "1"}))
    (request,) = _patches(server, "wire")
    assert request.path == "/api/v1/namespaces/default/configmaps/wire"
    assert request.content_type == APPLY
    assert request.param("force") == "true"
    assert request.param("fieldManager") == "brokkr-agent"
    assert request.param("dryRun") is None
    sent = json.loads(request.body)
    assert (
        sent["metadata"]["namespace"] == "default"
    )  # the default is stamped into the body, not just the URL
    assert request.user_agent.startswith("brokkr-agent")


def test_the_field_manager_is_configurable(server: FakeApiServer, tmp_path: Path) -> None:
    with _cluster(server, tmp_path, field_manager="brokkr-controller") as adapter:
        live = adapter.apply(config_map("mine"))
    assert _managers(live) == {"brokkr-controller"}
    assert _patches(server, "mine")[0].param("fieldManager") == "brokkr-controller"


def test_dry_run_sends_dry_run_all_and_creates_nothing(
    cluster: KubernetesCluster, server: FakeApiServer
) -> None:
    would_be = cluster.apply(config_map("ghost", data={"a": "1"}), dry_run=True)
    assert would_be["data"] == {"a": "1"}
    (request,) = _patches(server, "ghost")
    assert request.param("dryRun") == "All"
    assert request.param("force") == "true"
    assert server.state.get_object("", "ConfigMap", "ghost", "default") is None


def test_answers_are_the_api_json_shape(cluster: KubernetesCluster) -> None:
    live = cluster.apply(config_map("shape"))
    assert live["apiVersion"] == "v1"
    assert live["kind"] == "ConfigMap"
    assert {"creationTimestamp", "resourceVersion", "managedFields", "uid"} <= set(live["metadata"])
    assert "creation_timestamp" not in live["metadata"]


def test_reapplying_without_a_field_removes_it(cluster: KubernetesCluster) -> None:
    cluster.apply(config_map("shrink", data={"keep": "1", "drop": "2"}, labels={"a": "1", "b": "2"}))
    cluster.apply(config_map("shrink", data={"keep": "1"}, labels={"a": "1"}))
    live = cluster.get(ObjectRef("v1", "ConfigMap", "default", "shrink"))
    assert live is not None
    assert live["data"] == {"keep": "1"}
    assert live["metadata"]["labels"] == {"a": "1"}


def test_fields_owned_by_another_manager_survive_our_apply(
    cluster: KubernetesCluster, server: FakeApiServer
) -> None:
    cluster.apply(config_map("shared", data={"ours": "1"}))
    server.state.apply_object(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "shared", "namespace": "default", "annotations": {"theirs": "x"}},
            "data": {"theirs": "2"},
        },
        manager="someone-else",
    )
    cluster.apply(config_map("shared", data={"ours": "3"}))
    live = cluster.get(ObjectRef("v1", "ConfigMap", None, "shared"))
    assert live is not None
    assert live["data"] == {"ours": "3", "theirs": "2"}
    assert live["metadata"]["annotations"] == {"theirs": "x"}
    assert _managers(live) == {"brokkr-agent", "someone-else"}


def test_forced_apply_takes_over_a_field_another_manager_owns(
    cluster: KubernetesCluster, server: FakeApiServer
) -> None:
    server.state.apply_object(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "contested"}, "data": {"k": "theirs"}},
        manager="kubectl",
    )
    live = cluster.apply(config_map("contested", data={"k": "ours"}))
    assert live["data"] == {"k": "ours"}
    assert _managers(live) == {"brokkr-agent"}


def test_cluster_scoped_objects_lose_a_namespace_given_in_the_manifest(
    cluster: KubernetesCluster, server: FakeApiServer
) -> None:
    name = f"ns-{uuid.uuid4().hex[:8]}"
    manifest = namespace(name).body | {"metadata": {"name": name, "namespace": "default"}}
    live = cluster.apply(_obj(manifest))
    assert "namespace" not in live["metadata"]
    (request,) = _patches(server, name)
    assert request.path == f"/api/v1/namespaces/{name}"
    assert "namespace" not in json.loads(request.body)["metadata"]
    assert cluster.get(ObjectRef("v1", "Namespace", "ignored", name)) is not None


def test_a_422_arrives_as_a_validation_error_with_the_servers_message(cluster: KubernetesCluster) -> None:
    bad = _obj(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "other"}},
                    "spec": {"containers": [{"name": "c", "image": "x"}]},
                },
            },
        }
    )
    with pytest.raises(ValidationError) as caught:
        cluster.apply(bad, dry_run=True)
    error = caught.value
    assert error.message.startswith('Deployment.apps "web" is invalid: spec.template.metadata.labels')
    assert "`selector` does not match template `labels`" in error.message
    assert error.details["status"] == 422
    assert error.details["reason"] == "Invalid"
    causes = error.details["causes"]
    assert isinstance(causes, list)
    assert [c["field"] for c in causes] == ["spec.template.metadata.labels"]


def test_invalid_names_and_label_values_are_validation_errors(cluster: KubernetesCluster) -> None:
    with pytest.raises(ValidationError, match="Invalid value"):
        cluster.apply(config_map("Not_A_Name"))
    with pytest.raises(ValidationError, match="must be no more than 63 characters"):
        cluster.apply(config_map("long-label", labels={"k": "v" * 64}))


def test_an_object_in_a_missing_namespace_names_the_namespace(cluster: KubernetesCluster) -> None:
    with pytest.raises(ValidationError, match='namespaces "nowhere" not found') as caught:
        cluster.apply(config_map("lost", "nowhere"))
    assert caught.value.details["status"] == 404


def test_crd_then_its_custom_resource_refreshes_only_that_group_version(
    cluster: KubernetesCluster, server: FakeApiServer
) -> None:
    cluster.apply(config_map("warm-up"))  # discovery is loaded now
    full_refreshes = cluster.discovery.refreshes
    server.requests.clear()
    cluster.apply(crd("shop.example.com", "Widget", "widgets"))
    widget = _obj(
        {
            "apiVersion": "shop.example.com/v1",
            "kind": "Widget",
            "metadata": {"name": "w1"},
            "spec": {"size": 2},
        }
    )
    cluster.apply(widget, dry_run=True)
    live = cluster.apply(widget)
    assert live["spec"] == {"size": 2}
    assert live["metadata"]["namespace"] == "default"
    assert cluster.discovery.refreshes == full_refreshes
    discovery_gets = [r.path for r in server.requests.matching("GET")]
    assert discovery_gets == ["/apis/shop.example.com/v1"]


def test_a_kind_whose_crd_was_deleted_is_unknown_again(cluster: KubernetesCluster) -> None:
    cluster.apply(crd("gone.example.com", "Thing", "things"))
    thing = _obj({"apiVersion": "gone.example.com/v1", "kind": "Thing", "metadata": {"name": "t"}})
    cluster.apply(thing)
    ref = thing.ref
    assert cluster.delete(
        ObjectRef("apiextensions.k8s.io/v1", "CustomResourceDefinition", None, "things.gone.example.com")
    )
    for call in (lambda: cluster.get(ref), lambda: cluster.apply(thing), lambda: cluster.delete(ref)):
        with pytest.raises(ValidationError, match='no matches for kind "Thing"'):
            call()


def test_unknown_kinds_are_validation_errors_without_a_write(
    cluster: KubernetesCluster, server: FakeApiServer
) -> None:
    thing = _obj({"apiVersion": "nope.example.com/v1", "kind": "Nothing", "metadata": {"name": "n"}})
    with pytest.raises(ValidationError) as caught:
        cluster.apply(thing)
    assert caught.value.code == "unknown_kind"
    assert not server.requests.matching("PATCH")
    with pytest.raises(ValidationError):
        cluster.is_namespaced("v1", "NoSuchKind")


def test_delete_sends_the_propagation_policy_and_reports_absence(
    cluster: KubernetesCluster, server: FakeApiServer
) -> None:
    cluster.apply(config_map("doomed"))
    ref = ObjectRef("v1", "ConfigMap", None, "doomed")
    assert cluster.delete(ref, propagation="Foreground") is True
    (request,) = server.requests.matching("DELETE")
    assert request.path == "/api/v1/namespaces/default/configmaps/doomed"
    assert json.loads(request.body)["propagationPolicy"] == "Foreground"
    assert cluster.delete(ref) is False
    with pytest.raises(ValidationError):
        cluster.delete(ref, propagation="Sideways")


def test_deleting_an_owner_collects_its_dependents(cluster: KubernetesCluster) -> None:
    owner = cluster.apply(config_map("owner"))
    dependent = config_map("dependent").body
    dependent["metadata"]["ownerReferences"] = [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"]}
    ]
    cluster.apply(_obj(dependent))
    assert cluster.delete(ObjectRef("v1", "ConfigMap", None, "owner"))
    assert cluster.get(ObjectRef("v1", "ConfigMap", None, "dependent")) is None


def test_a_malformed_label_selector_is_a_validation_error(cluster: KubernetesCluster) -> None:
    with pytest.raises(ValidationError) as caught:
        cluster.list_by_labels("a in (b")
    assert caught.value.details["status"] == 400


def test_concurrent_applies_share_one_discovery_and_all_land(
    cluster: KubernetesCluster, server: FakeApiServer
) -> None:
    """The reconciler may apply independent objects from several threads; discovery starts cold here."""
    names = [f"par-{n}" for n in range(24)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda name: cluster.apply(config_map(name, data={"n": name})), names))
    assert [r["data"]["n"] for r in results] == names
    assert len(server.requests.matching("GET", r"^/api$")) == 1
    assert sorted(
        o["metadata"]["name"] for o in server.state.list_objects("", "ConfigMap", "default")
    ) == sorted(names)
