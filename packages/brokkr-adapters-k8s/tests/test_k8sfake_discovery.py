"""Discovery as the official client sees it: typed discovery APIs and the DynamicClient."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException
from kubernetes.dynamic.exceptions import ResourceNotFoundError

from brokkr_adapters_k8s.testing import FakeApiServer

CRONTAB_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "crontabs.stable.example.com"},
    "spec": {
        "group": "stable.example.com",
        "scope": "Namespaced",
        "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]},
        "versions": [
            {
                "name": "v1beta1",
                "served": True,
                "storage": False,
                "schema": {"openAPIV3Schema": {"type": "object"}},
            },
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {"openAPIV3Schema": {"type": "object"}},
                "subresources": {"status": {}},
            },
        ],
    },
}


@pytest.fixture
def srv() -> Iterator[FakeApiServer]:
    with FakeApiServer.running() as server:
        yield server


def test_version_and_api_roots_deserialize_into_the_typed_models(srv: FakeApiServer) -> None:
    api = srv.api_client()
    version = client.VersionApi(api).get_code()
    assert version.git_version.startswith("v1.")
    assert version.major == "1"

    core_versions = client.CoreApi(api).get_api_versions()
    assert core_versions.versions == ["v1"]
    assert core_versions.server_address_by_client_cidrs[0].server_address.endswith(str(srv.port))

    groups = {g.name: g for g in client.ApisApi(api).get_api_versions().groups}
    assert {"apps", "batch", "apiextensions.k8s.io", "rbac.authorization.k8s.io"} <= set(groups)
    assert groups["apps"].preferred_version.group_version == "apps/v1"


def test_core_and_group_resource_lists_carry_what_clients_need(srv: FakeApiServer) -> None:
    api = srv.api_client()
    core = {r.name: r for r in client.CoreV1Api(api).get_api_resources().resources}
    assert core["configmaps"].namespaced and core["configmaps"].kind == "ConfigMap"
    assert not core["namespaces"].namespaced
    assert core["pods/log"].verbs == ["get"]
    assert core["pods"].short_names == ["po"]
    for resource in core.values():
        if "/" not in resource.name:
            assert {"list", "patch", "delete", "deletecollection", "get", "create"} <= set(resource.verbs)
            assert resource.singular_name

    apps = {r.name: r.kind for r in client.AppsV1Api(api).get_api_resources().resources}
    assert apps["deployments"] == "Deployment" and apps["statefulsets"] == "StatefulSet"
    batch = {r.name for r in client.BatchV1Api(api).get_api_resources().resources}
    assert {"jobs", "cronjobs"} <= batch
    rbac = {r.name: r.namespaced for r in client.RbacAuthorizationV1Api(api).get_api_resources().resources}
    assert rbac == {"roles": True, "rolebindings": True, "clusterroles": False, "clusterrolebindings": False}


def test_dynamic_client_discovers_core_kinds_and_kinds_added_by_a_crd(srv: FakeApiServer) -> None:
    dyn = srv.dynamic_client()
    for api_version, kind in [
        ("v1", "Namespace"),
        ("v1", "ConfigMap"),
        ("v1", "Secret"),
        ("v1", "Service"),
        ("v1", "ServiceAccount"),
        ("v1", "Pod"),
        ("v1", "Event"),
        ("apps/v1", "Deployment"),
        ("apps/v1", "DaemonSet"),
        ("apps/v1", "ReplicaSet"),
        ("batch/v1", "Job"),
        ("batch/v1", "CronJob"),
        ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
    ]:
        assert dyn.resources.get(api_version=api_version, kind=kind).kind == kind
    with pytest.raises(ResourceNotFoundError):
        dyn.resources.get(api_version="stable.example.com/v1", kind="CronTab")

    crds = dyn.resources.get(api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition")
    dyn.server_side_apply(crds, body=CRONTAB_CRD, field_manager="test", force_conflicts=True)

    crontab = dyn.resources.get(api_version="stable.example.com/v1", kind="CronTab")
    assert crontab.namespaced and crontab.name == "crontabs" and crontab.short_names == ["ct"]
    assert "status" in crontab.subresources
    assert dyn.resources.get(api_version="stable.example.com/v1beta1", kind="CronTab").preferred is False
    group = client.ApisApi(srv.api_client()).get_api_versions().groups
    stable = next(g for g in group if g.name == "stable.example.com")
    assert [v.version for v in stable.versions] == ["v1", "v1beta1"]
    assert stable.preferred_version.version == "v1"


def test_deleting_the_crd_removes_the_kind_from_discovery(srv: FakeApiServer) -> None:
    srv.state.apply_object(CRONTAB_CRD)
    api = srv.api_client()
    assert (
        client.CustomObjectsApi(api).get_api_resources("stable.example.com", "v1").resources[0].kind
        == "CronTab"
    )
    client.ApiextensionsV1Api(api).delete_custom_resource_definition("crontabs.stable.example.com")
    with pytest.raises(ApiException) as err:
        client.CustomObjectsApi(api).get_api_resources("stable.example.com", "v1")
    assert err.value.status == 404
    assert "stable.example.com" not in {g.name for g in client.ApisApi(api).get_api_versions().groups}


def test_unknown_paths_and_methods_answer_with_status_objects(srv: FakeApiServer) -> None:
    api = srv.api_client()
    for method, path, code in [
        ("GET", "/apis/nothing.example.com/v1/widgets", 404),
        ("GET", "/api/v1/namespaces/default/widgets", 404),
        ("POST", "/version", 405),
        ("POST", "/api/v1/configmaps", 405),
        ("PUT", "/api/v1/namespaces/default/configmaps", 405),
    ]:
        response = api.call_api(
            method, srv.url + path, header_params={"Content-Type": "application/json"}, body={}
        )
        response.read()
        status = json.loads(response.data)
        assert response.status == code
        assert status["kind"] == "Status" and status["status"] == "Failure" and status["code"] == code


def test_openapi_documents_are_served(srv: FakeApiServer) -> None:
    api = srv.api_client()
    for path in ("/openapi/v2", "/openapi/v3"):
        response = api.call_api("GET", srv.url + path)
        response.read()
        assert response.status == 200
        assert isinstance(json.loads(response.data), dict)
