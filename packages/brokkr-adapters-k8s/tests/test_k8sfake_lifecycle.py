"""Object lifecycle: namespaces, validation, deletion, ownerReferences GC, CRDs, workloads."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException
from kubernetes.dynamic.exceptions import NotFoundError, ResourceNotFoundError

from brokkr_adapters_k8s.testing import FakeApiServer

APPLY = "application/apply-patch+yaml"

BUILDRUN_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "buildruns.shipwright.io"},
    "spec": {
        "group": "shipwright.io",
        "scope": "Namespaced",
        "names": {
            "plural": "buildruns",
            "singular": "buildrun",
            "kind": "BuildRun",
            "listKind": "BuildRunList",
        },
        "versions": [
            {
                "name": "v1beta1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                },
                "subresources": {"status": {}},
            }
        ],
    },
}


def buildrun(name: str, namespace: str = "default") -> dict[str, Any]:
    return {
        "apiVersion": "shipwright.io/v1beta1",
        "kind": "BuildRun",
        "metadata": {"name": name, "namespace": namespace, "labels": {"shipwright.io/build": "img"}},
        "spec": {"build": {"name": "img"}},
    }


@pytest.fixture
def srv() -> Iterator[FakeApiServer]:
    with FakeApiServer.running() as server:
        yield server


@pytest.fixture
def core(srv: FakeApiServer) -> client.CoreV1Api:
    return client.CoreV1Api(srv.api_client())


def status_of(err: pytest.ExceptionInfo[ApiException]) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(err.value.body)
    return body


def cm(name: str, namespace: str = "default", **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, **meta},
    }


def test_system_namespaces_exist_with_default_service_accounts(core: client.CoreV1Api) -> None:
    names = [n.metadata.name for n in core.list_namespace().items]
    assert names == ["default", "kube-node-lease", "kube-public", "kube-system"]
    default = core.read_namespace("default")
    assert default.status.phase == "Active"
    assert default.metadata.labels == {"kubernetes.io/metadata.name": "default"}
    core.create_namespace({"metadata": {"name": "fresh"}})
    assert [sa.metadata.name for sa in core.list_namespaced_service_account("fresh").items] == ["default"]


def test_namespaced_object_in_a_missing_namespace_is_404(core: client.CoreV1Api) -> None:
    for attempt in (
        lambda: core.create_namespaced_config_map("nowhere", cm("a", "nowhere")),
        lambda: core.patch_namespaced_config_map(
            "a", "nowhere", cm("a", "nowhere"), field_manager="m", _content_type=APPLY
        ),
    ):
        with pytest.raises(ApiException) as err:
            attempt()
        assert err.value.status == 404
        status = status_of(err)
        assert status["reason"] == "NotFound"
        assert status["message"] == 'namespaces "nowhere" not found'
        assert status["details"] == {"name": "nowhere", "kind": "namespaces"}
    assert core.list_namespaced_config_map("nowhere").items == []


def test_invalid_names_and_labels_are_422_with_causes(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map("default", cm("Bad_Name"))
    status = status_of(err)
    assert err.value.status == 422 and status["reason"] == "Invalid"
    assert status["message"].startswith(
        'ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name"'
    )
    assert status["details"]["causes"][0]["field"] == "metadata.name"
    assert status["details"]["kind"] == "ConfigMap"

    with pytest.raises(ApiException) as err:
        core.create_namespace({"metadata": {"name": "dots.not.allowed"}})
    assert err.value.status == 422

    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map("default", cm("ok", labels={"bad key": "v", "k": "bad value"}))
    causes = status_of(err)["details"]["causes"]
    assert [c["field"] for c in causes] == ["metadata.labels", "metadata.labels"]

    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map("default", {"metadata": {}})
    assert status_of(err)["details"]["causes"][0] == {
        "reason": "FieldValueRequired",
        "message": "Required value: name or generateName is required",
        "field": "metadata.name",
    }
    # The typed client validates models itself, so send the incomplete Deployment raw.
    response = core.api_client.call_api(
        "POST",
        core.api_client.configuration.host + "/apis/apps/v1/namespaces/default/deployments",
        header_params={"Content-Type": "application/json"},
        body={"metadata": {"name": "d"}, "spec": {"template": {"spec": {"containers": []}}}},
    )
    response.read()
    assert response.status == 422
    fields = {c["field"] for c in json.loads(response.data)["details"]["causes"]}
    assert fields == {"spec.template.spec.containers", "spec.selector"}


def test_custom_resources_must_carry_type_meta(srv: FakeApiServer) -> None:
    srv.state.apply_object(BUILDRUN_CRD)
    custom = client.CustomObjectsApi(srv.api_client())
    with pytest.raises(ApiException) as err:
        custom.create_namespaced_custom_object(
            "shipwright.io", "v1beta1", "default", "buildruns", {"metadata": {"name": "x"}}
        )
    assert err.value.status == 400
    assert status_of(err)["message"].startswith("Object 'Kind' is missing")
    # Strategic merge patch does not exist for custom resources.
    custom.create_namespaced_custom_object("shipwright.io", "v1beta1", "default", "buildruns", buildrun("x"))
    response = srv.api_client().call_api(
        "PATCH",
        f"{srv.url}/apis/shipwright.io/v1beta1/namespaces/default/buildruns/x",
        header_params={"Content-Type": "application/strategic-merge-patch+json"},
        body="{}",
    )
    response.read()
    assert response.status == 415


def test_delete_responses_follow_the_kind(core: client.CoreV1Api, srv: FakeApiServer) -> None:
    core.create_namespaced_config_map("default", cm("a"))
    status = core.delete_namespaced_config_map("a", "default")
    assert status["kind"] == "Status" and status["status"] == "Success"
    assert status["details"]["name"] == "a" and status["details"]["kind"] == "configmaps"
    srv.state.put_pod("default", "p")
    deleted_pod = core.delete_namespaced_pod("p", "default")
    assert deleted_pod.metadata.name == "p"
    # Pods, Services and ServiceAccounts answer with the deleted object (ReturnDeletedObject).
    core.create_namespaced_service(
        "default", {"metadata": {"name": "svc"}, "spec": {"ports": [{"port": 80}]}}
    )
    assert core.delete_namespaced_service("svc", "default").spec.ports[0].port == 80
    assert core.delete_namespaced_service_account("default", "default").metadata.name == "default"
    core.create_namespace({"metadata": {"name": "gone"}})
    namespace = core.delete_namespace("gone")
    assert namespace["status"]["phase"] == "Terminating"
    with pytest.raises(ApiException) as err:
        core.delete_namespaced_config_map("a", "default")
    assert err.value.status == 404
    core.create_namespaced_config_map("default", cm("b"))
    with pytest.raises(ApiException) as err:
        core.delete_namespaced_config_map("b", "default", propagation_policy="Sometimes")
    assert err.value.status == 422
    assert status_of(err)["details"]["causes"][0]["field"] == "propagationPolicy"


def _owner_ref(owner: Any, controller: bool = True) -> dict[str, Any]:
    return {
        "apiVersion": owner.api_version,
        "kind": owner.kind,
        "name": owner.metadata.name,
        "uid": owner.metadata.uid,
        "controller": controller,
    }


def test_owner_deletion_collects_dependents_unless_orphaned(core: client.CoreV1Api) -> None:
    owner = core.create_namespaced_config_map("default", cm("owner"))
    other_owner = core.create_namespaced_config_map("default", cm("other-owner"))
    core.create_namespaced_config_map("default", cm("child", ownerReferences=[_owner_ref(owner)]))
    core.create_namespaced_config_map(
        "default",
        cm("co-owned", ownerReferences=[_owner_ref(owner), _owner_ref(other_owner, controller=False)]),
    )
    child = core.read_namespaced_config_map("child", "default")
    core.create_namespaced_config_map("default", cm("grandchild", ownerReferences=[_owner_ref(child)]))

    core.delete_namespaced_config_map("owner", "default", propagation_policy="Foreground")
    remaining = {c.metadata.name for c in core.list_namespaced_config_map("default").items}
    # "co-owned" still has a live owner; "grandchild" went with "child".
    assert remaining == {"other-owner", "co-owned"}

    orphan_owner = core.create_namespaced_config_map("default", cm("orphan-owner"))
    core.create_namespaced_config_map("default", cm("orphan", ownerReferences=[_owner_ref(orphan_owner)]))
    core.delete_namespaced_config_map(
        "orphan-owner", "default", body=client.V1DeleteOptions(propagation_policy="Orphan")
    )
    orphan = core.read_namespaced_config_map("orphan", "default")
    assert orphan.metadata.owner_references is None


def test_namespace_deletion_cascades_to_everything_inside(srv: FakeApiServer, core: client.CoreV1Api) -> None:
    core.create_namespace({"metadata": {"name": "doomed"}})
    core.create_namespaced_config_map("doomed", cm("a", "doomed"))
    srv.state.put_pod("doomed", "p")
    srv.state.apply_object(BUILDRUN_CRD)
    srv.state.apply_object(buildrun("br", "doomed"))
    core.create_namespaced_config_map("default", cm("survivor"))
    core.delete_namespace("doomed")
    with pytest.raises(ApiException):
        core.read_namespace("doomed")
    assert core.list_config_map_for_all_namespaces().items[0].metadata.name == "survivor"
    assert core.list_pod_for_all_namespaces().items == []
    assert srv.state.list_objects("shipwright.io", "BuildRun") == []


def test_crd_then_custom_resource_in_one_session_with_the_dynamic_client(srv: FakeApiServer) -> None:
    dyn = srv.dynamic_client()
    crds = dyn.resources.get(api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition")
    crd = dyn.server_side_apply(crds, body=BUILDRUN_CRD, field_manager="brokkr", force_conflicts=True)
    conditions = {c["type"]: c["status"] for c in crd.status.conditions}
    assert conditions == {"NamesAccepted": "True", "Established": "True"}
    assert crd.status.acceptedNames.kind == "BuildRun"

    runs = dyn.resources.get(api_version="shipwright.io/v1beta1", kind="BuildRun")
    created = dyn.server_side_apply(
        runs, body=buildrun("img-1"), field_manager="brokkr", force_conflicts=True
    )
    assert created.metadata.generation == 1 and created.metadata.uid
    listing = dyn.get(runs, namespace="default", label_selector="shipwright.io/build=img")
    assert listing.kind == "BuildRunList"
    assert [(i.apiVersion, i.kind, i.metadata.name) for i in listing.items] == [
        ("shipwright.io/v1beta1", "BuildRun", "img-1")
    ]

    dyn.delete(crds, name="buildruns.shipwright.io")
    with pytest.raises(NotFoundError):
        dyn.get(runs, name="img-1", namespace="default")
    # Like against a real cluster, the client's discovery cache is stale until invalidated.
    dyn.resources.invalidate_cache()
    with pytest.raises(ResourceNotFoundError):
        dyn.resources.get(api_version="shipwright.io/v1beta1", kind="BuildRun")
    # Re-creating the CRD does not resurrect the old objects.
    srv.state.apply_object(BUILDRUN_CRD)
    assert srv.state.list_objects("shipwright.io", "BuildRun") == []


def test_invalid_crd_is_rejected(srv: FakeApiServer) -> None:
    bad = json.loads(json.dumps(BUILDRUN_CRD))
    bad["metadata"]["name"] = "wrong.shipwright.io"
    bad["spec"]["versions"][0]["storage"] = False
    with pytest.raises(ApiException) as err:
        client.ApiextensionsV1Api(srv.api_client()).create_custom_resource_definition(bad)
    fields = {c["field"] for c in status_of(err)["details"]["causes"]}
    assert fields == {"metadata.name", "spec.versions"}


def test_finalizers_hold_deletion_until_removed(core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map("default", cm("held", finalizers=["example.com/hold"]))
    marked = core.delete_namespaced_config_map("held", "default")
    assert marked["metadata"]["deletionTimestamp"]
    still_there = core.read_namespaced_config_map("held", "default")
    assert still_there.metadata.deletion_timestamp is not None
    core.patch_namespaced_config_map(
        "held", "default", {"metadata": {"finalizers": None}}, _content_type="application/merge-patch+json"
    )
    with pytest.raises(ApiException) as err:
        core.read_namespaced_config_map("held", "default")
    assert err.value.status == 404


def test_delete_collection_uses_the_label_selector(core: client.CoreV1Api) -> None:
    for name, app in [("a", "x"), ("b", "x"), ("c", "y")]:
        core.create_namespaced_config_map("default", cm(name, labels={"app": app}))
    core.delete_collection_namespaced_config_map("default", label_selector="app=x")
    assert [c.metadata.name for c in core.list_namespaced_config_map("default").items] == ["c"]


def test_workload_simulation_creates_replicasets_and_pods() -> None:
    with FakeApiServer.running(simulate_workloads=True) as server:
        apps = client.AppsV1Api(server.api_client())
        core = client.CoreV1Api(server.api_client())
        body = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "app", "image": "nginx:1"}]},
                },
            },
        }
        apps.patch_namespaced_deployment("web", "default", body, field_manager="brokkr", _content_type=APPLY)
        live = apps.read_namespaced_deployment("web", "default")
        assert live.status.ready_replicas == 2 and live.status.observed_generation == 1
        pods = core.list_namespaced_pod("default", label_selector="app=web").items
        assert len(pods) == 2 and all(p.status.phase == "Running" for p in pods)
        body["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2"
        body["spec"]["replicas"] = 1
        apps.patch_namespaced_deployment("web", "default", body, field_manager="brokkr", _content_type=APPLY)
        replica_sets = apps.list_namespaced_replica_set("default").items
        assert sorted(rs.spec.replicas for rs in replica_sets) == [0, 1]
        pods = core.list_namespaced_pod("default").items
        assert [p.spec.containers[0].image for p in pods] == ["nginx:2"]
        apps.delete_namespaced_deployment("web", "default")
        assert apps.list_namespaced_replica_set("default").items == []
        assert core.list_namespaced_pod("default").items == []


def test_kind_specific_server_behaviour(srv: FakeApiServer, core: client.CoreV1Api) -> None:
    secret = core.create_namespaced_secret(
        "default", {"metadata": {"name": "s"}, "stringData": {"token": "abc"}}
    )
    assert secret.type == "Opaque" and secret.data == {"token": "YWJj"} and secret.string_data is None
    service = core.create_namespaced_service(
        "default", {"metadata": {"name": "svc"}, "spec": {"ports": [{"port": 80}]}}
    )
    assert service.spec.type == "ClusterIP"
    with pytest.raises(ApiException) as err:
        core.create_namespaced_service(
            "default", {"metadata": {"name": "1svc"}, "spec": {"ports": [{"port": 80}]}}
        )
    assert err.value.status == 422  # Service names are DNS-1035 labels
    rbac = client.RbacAuthorizationV1Api(srv.api_client())
    role = rbac.create_cluster_role({"metadata": {"name": "system:brokkr-agent"}, "rules": []})
    assert role.metadata.name == "system:brokkr-agent" and role.metadata.namespace is None
    batch = client.BatchV1Api(srv.api_client())
    job = batch.create_namespaced_job(
        "default",
        {
            "metadata": {"name": "j"},
            "spec": {
                "template": {
                    "spec": {"containers": [{"name": "c", "image": "busybox"}], "restartPolicy": "Never"}
                }
            },
        },
    )
    assert job.spec.backoff_limit == 6 and job.metadata.generation == 1
    # Bodies must name the kind of the URL they are sent to.
    response = srv.api_client().call_api(
        "POST",
        f"{srv.url}/api/v1/namespaces/default/configmaps",
        header_params={"Content-Type": "application/json"},
        body={"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}},
    )
    response.read()
    assert response.status == 400


def test_orphan_dependents_flag_in_the_query(core: client.CoreV1Api) -> None:
    owner = core.create_namespaced_config_map("default", cm("owner"))
    core.create_namespaced_config_map("default", cm("dep", ownerReferences=[_owner_ref(owner)]))
    core.delete_namespaced_config_map("owner", "default", orphan_dependents=True)
    assert core.read_namespaced_config_map("dep", "default").metadata.owner_references is None
