"""Contract of the ``Cluster`` port: what the agent relies on, checked against every implementation.

Subclass ``ClusterContract`` under a ``Test*`` name and provide a ``cluster`` fixture: a ``Cluster`` over a clean
cluster (``FakeCluster()``, or ``KubernetesCluster`` against the fake API server or a real one) in which the
``default`` namespace exists. Names are unique per test, so a shared cluster works too. Only behaviour that both
a server-side-apply API server and the in-memory fake share is asserted: e.g. re-applying changes what was
applied, but whether a label dropped from the manifest disappears is left open.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from brokkr_domain.errors import BrokkrError, ValidationError
from brokkr_domain.manifests import KubeObject, ObjectRef
from brokkr_domain.ports.cluster import Cluster


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _obj(manifest: dict[str, Any]) -> KubeObject:
    return KubeObject.from_manifest(manifest)


def config_map(
    name: str,
    namespace: str | None = None,
    *,
    data: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
) -> KubeObject:
    metadata: dict[str, Any] = {"name": name, "labels": labels or {}}
    if namespace is not None:
        metadata["namespace"] = namespace
    return _obj({"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data or {"k": "v"}})


def namespace(name: str, labels: dict[str, str] | None = None) -> KubeObject:
    return _obj({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels or {}}})


def crd(group: str, kind: str, plural: str) -> KubeObject:
    return _obj(
        {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.{group}"},
            "spec": {
                "group": group,
                "scope": "Namespaced",
                "names": {
                    "kind": kind,
                    "plural": plural,
                    "singular": kind.lower(),
                    "listKind": f"{kind}List",
                },
                "versions": [
                    {
                        "name": "v1",
                        "served": True,
                        "storage": True,
                        "schema": {
                            "openAPIV3Schema": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                            }
                        },
                    }
                ],
            },
        }
    )


def _data(live: dict[str, Any] | None) -> Any:
    assert live is not None
    return live.get("data")


class ClusterContract:
    """Behaviour of ``Cluster`` that the agent's use cases depend on."""

    def test_server_version_is_text(self, cluster: Cluster) -> None:
        assert isinstance(cluster.server_version(), str)
        assert cluster.server_version()

    def test_is_namespaced_from_discovery(self, cluster: Cluster) -> None:
        assert cluster.is_namespaced("v1", "ConfigMap") is True
        assert cluster.is_namespaced("apps/v1", "Deployment") is True
        assert cluster.is_namespaced("v1", "Namespace") is False
        with pytest.raises(ValidationError):
            cluster.is_namespaced("example.invalid/v1", "Nothing")

    def test_apply_creates_in_default_namespace(self, cluster: Cluster) -> None:
        name = _name("cm")
        live = cluster.apply(config_map(name, data={"a": "1"}))
        assert live["metadata"]["name"] == name
        assert live["metadata"]["namespace"] == "default"
        for ref in (ObjectRef("v1", "ConfigMap", None, name), ObjectRef("v1", "ConfigMap", "default", name)):
            assert _data(cluster.get(ref)) == {"a": "1"}

    def test_reapply_updates(self, cluster: Cluster) -> None:
        name = _name("cm")
        cluster.apply(config_map(name, data={"a": "1"}, labels={"x": "1"}))
        cluster.apply(config_map(name, data={"a": "2"}, labels={"x": "1", "y": "2"}))
        live = cluster.get(ObjectRef("v1", "ConfigMap", "default", name))
        assert _data(live) == {"a": "2"}
        assert live is not None
        assert live["metadata"]["labels"]["y"] == "2"

    def test_dry_run_changes_nothing(self, cluster: Cluster) -> None:
        name = _name("cm")
        ref = ObjectRef("v1", "ConfigMap", "default", name)
        would_be = cluster.apply(config_map(name, data={"a": "1"}), dry_run=True)
        assert would_be["metadata"]["name"] == name
        assert cluster.get(ref) is None
        cluster.apply(config_map(name, data={"a": "1"}))
        cluster.apply(config_map(name, data={"a": "2"}), dry_run=True)
        assert _data(cluster.get(ref)) == {"a": "1"}

    def test_unknown_kind_is_a_validation_error(self, cluster: Cluster) -> None:
        thing = _obj(
            {"apiVersion": "example.invalid/v1", "kind": "Nothing", "metadata": {"name": _name("n")}}
        )
        for dry_run in (True, False):
            with pytest.raises(ValidationError):
                cluster.apply(thing, dry_run=dry_run)

    def test_object_in_missing_namespace_is_rejected(self, cluster: Cluster) -> None:
        with pytest.raises(BrokkrError):
            cluster.apply(config_map(_name("cm"), _name("missing")), dry_run=True)

    def test_get_missing_is_none(self, cluster: Cluster) -> None:
        assert cluster.get(ObjectRef("v1", "ConfigMap", "default", _name("absent"))) is None

    def test_cluster_scoped_objects_have_no_namespace(self, cluster: Cluster) -> None:
        name = _name("ns")
        cluster.apply(namespace(name))
        live = cluster.get(ObjectRef("v1", "Namespace", None, name))
        assert live is not None
        assert not live["metadata"].get("namespace")
        cluster.apply(config_map("inside", name))
        assert cluster.get(ObjectRef("v1", "ConfigMap", name, "inside")) is not None

    def test_list_by_labels_matches_every_term_across_kinds_and_namespaces(self, cluster: Cluster) -> None:
        tag, ns = _name("t"), _name("ns")
        cluster.apply(namespace(ns, labels={"tag": tag, "role": "a"}))
        cluster.apply(config_map("one", ns, labels={"tag": tag, "role": "a"}))
        cluster.apply(config_map(_name("two"), labels={"tag": tag, "role": "a"}))
        cluster.apply(config_map(_name("three"), labels={"tag": tag, "role": "b"}))
        found = cluster.list_by_labels(f"tag={tag},role=a")
        kinds = sorted((o["kind"], o["metadata"].get("namespace") or "") for o in found)
        assert kinds == sorted([("Namespace", ""), ("ConfigMap", ns), ("ConfigMap", "default")])
        assert len(cluster.list_by_labels(f"tag={tag}")) == 4
        assert cluster.list_by_labels(f"tag={_name('none')}") == []

    def test_delete_reports_whether_something_was_deleted(self, cluster: Cluster) -> None:
        name = _name("cm")
        ref = ObjectRef("v1", "ConfigMap", "default", name)
        cluster.apply(config_map(name))
        assert cluster.delete(ref) is True
        assert cluster.get(ref) is None
        assert cluster.delete(ref) is False

    def test_crd_then_custom_resource(self, cluster: Cluster) -> None:
        group = f"{_name('g')}.example.com"
        cluster.apply(crd(group, "Widget", "widgets"))
        assert cluster.is_namespaced(f"{group}/v1", "Widget") is True
        name, tag = _name("w"), _name("t")
        widget = _obj(
            {
                "apiVersion": f"{group}/v1",
                "kind": "Widget",
                "metadata": {"name": name, "labels": {"tag": tag}},
                "spec": {"size": 3},
            }
        )
        cluster.apply(widget, dry_run=True)
        cluster.apply(widget)
        live = cluster.get(ObjectRef(f"{group}/v1", "Widget", "default", name))
        assert live is not None
        assert live["spec"] == {"size": 3}
        assert [o["metadata"]["name"] for o in cluster.list_by_labels(f"tag={tag}")] == [name]

    def test_list_pods_by_labels(self, cluster: Cluster) -> None:
        ns, app = _name("ns"), _name("app")
        cluster.apply(namespace(ns))
        for name, labels in (
            ("p1", {"app": app}),
            ("p2", {"app": app, "tier": "x"}),
            ("p3", {"app": "other"}),
        ):
            pod = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": name, "namespace": ns, "labels": labels},
                "spec": {"containers": [{"name": "main", "image": "busybox"}]},
            }
            cluster.apply(_obj(pod))
        assert sorted(p["metadata"]["name"] for p in cluster.list_pods(ns, {"app": app})) == ["p1", "p2"]
        assert [p["metadata"]["name"] for p in cluster.list_pods(ns, {"app": app, "tier": "x"})] == ["p2"]
        assert len(cluster.list_pods(ns)) == 3
        assert cluster.list_pods("default", {"app": app}) == []

    def test_list_events_filters_by_involved_object(self, cluster: Cluster) -> None:
        ns = _name("ns")
        cluster.apply(namespace(ns))
        for name, involved in (("e1", "web"), ("e2", "web"), ("e3", "db")):
            event = {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": name, "namespace": ns},
                "involvedObject": {"kind": "Pod", "name": involved, "namespace": ns},
                "reason": "Testing",
                "message": f"about {involved}",
                "type": "Normal",
            }
            cluster.apply(_obj(event))
        assert sorted(e["metadata"]["name"] for e in cluster.list_events(ns, involved_name="web")) == [
            "e1",
            "e2",
        ]
        assert len(cluster.list_events(ns)) == 3


__all__ = ["ClusterContract", "config_map", "crd", "namespace"]
