"""Server-side apply, other patch types and writes, driven through the official client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from brokkr_adapters_k8s.testing import FakeApiServer

APPLY = "application/apply-patch+yaml"
NS = "default"


@pytest.fixture
def srv() -> Iterator[FakeApiServer]:
    with FakeApiServer.running() as server:
        yield server


@pytest.fixture
def core(srv: FakeApiServer) -> client.CoreV1Api:
    return client.CoreV1Api(srv.api_client())


@pytest.fixture
def apps(srv: FakeApiServer) -> client.AppsV1Api:
    return client.AppsV1Api(srv.api_client())


def config_map(
    data: dict[str, str], labels: dict[str, str] | None = None, name: str = "cfg"
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": NS}
    if labels is not None:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}


def apply_cm(core: client.CoreV1Api, body: dict[str, Any], manager: str, **kwargs: Any) -> Any:
    name = body["metadata"]["name"]
    return core.patch_namespaced_config_map(
        name, NS, body, field_manager=manager, _content_type=APPLY, **kwargs
    )


def deployment(
    replicas: int | None = None, image: str = "nginx:1", labels: dict[str, str] | None = None
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "app", "image": image}]},
        },
    }
    if replicas is not None:
        spec["replicas"] = replicas
    meta: dict[str, Any] = {"name": "web", "namespace": NS}
    if labels:
        meta["labels"] = labels
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec}


def status_body(err: ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(err.body)
    return body


def test_apply_creates_and_records_field_ownership(core: client.CoreV1Api) -> None:
    created = apply_cm(core, config_map({"a": "1", "b": "2"}, {"team": "x"}), "brokkr")
    assert created.data == {"a": "1", "b": "2"}
    assert created.metadata.uid and created.metadata.creation_timestamp is not None
    assert int(created.metadata.resource_version) > 0
    [entry] = created.metadata.managed_fields
    assert (entry.manager, entry.operation, entry.fields_type, entry.api_version) == (
        "brokkr",
        "Apply",
        "FieldsV1",
        "v1",
    )
    assert entry.fields_v1 == {"f:data": {"f:a": {}, "f:b": {}}, "f:metadata": {"f:labels": {"f:team": {}}}}


def test_reapplying_without_a_field_removes_it(core: client.CoreV1Api) -> None:
    apply_cm(core, config_map({"a": "1", "b": "2"}, {"team": "x", "tier": "web"}), "brokkr")
    again = apply_cm(core, config_map({"a": "1"}, {"team": "x"}), "brokkr")
    assert again.data == {"a": "1"}
    assert again.metadata.labels == {"team": "x"}
    assert again.metadata.managed_fields[0].fields_v1 == {
        "f:data": {"f:a": {}},
        "f:metadata": {"f:labels": {"f:team": {}}},
    }


def test_fields_owned_by_another_manager_survive_our_apply(core: client.CoreV1Api) -> None:
    apply_cm(core, config_map({"mine": "1", "shared": "s"}), "brokkr")
    apply_cm(core, config_map({"theirs": "2", "shared": "s"}), "other")
    result = apply_cm(core, config_map({"mine": "1"}), "brokkr")
    assert result.data == {"mine": "1", "theirs": "2", "shared": "s"}
    managers = {e.manager: e.fields_v1["f:data"] for e in result.metadata.managed_fields}
    assert managers == {"brokkr": {"f:mine": {}}, "other": {"f:theirs": {}, "f:shared": {}}}


def test_conflicting_value_is_rejected_unless_forced(core: client.CoreV1Api) -> None:
    apply_cm(core, config_map({"key": "ours"}), "brokkr")
    with pytest.raises(ApiException) as err:
        apply_cm(core, config_map({"key": "theirs"}), "other")
    status = status_body(err.value)
    assert err.value.status == 409
    assert status["reason"] == "Conflict" and status["code"] == 409
    assert status["details"]["causes"] == [
        {"reason": "FieldManagerConflict", "message": 'conflict with "brokkr" using v1', "field": ".data.key"}
    ]
    assert 'conflict with "brokkr"' in status["message"]
    assert core.read_namespaced_config_map("cfg", NS).data == {"key": "ours"}

    forced = apply_cm(core, config_map({"key": "theirs"}), "other", force=True)
    assert forced.data == {"key": "theirs"}
    assert [e.manager for e in forced.metadata.managed_fields] == ["other"]
    # brokkr no longer owns the key, so dropping it from its own config leaves it alone.
    after = apply_cm(core, config_map({}), "brokkr")
    assert after.data == {"key": "theirs"}


def test_same_value_is_shared_not_a_conflict(core: client.CoreV1Api) -> None:
    apply_cm(core, config_map({"key": "v"}), "brokkr")
    shared = apply_cm(core, config_map({"key": "v"}), "other")
    assert {e.manager for e in shared.metadata.managed_fields} == {"brokkr", "other"}


def test_fields_changed_by_an_update_conflict_with_a_later_apply(apps: client.AppsV1Api) -> None:
    apps.patch_namespaced_deployment(
        "web", NS, deployment(replicas=2), field_manager="brokkr", _content_type=APPLY
    )
    apps.patch_namespaced_deployment("web", NS, {"spec": {"replicas": 5}}, field_manager="kubectl-scale")
    live = apps.read_namespaced_deployment("web", NS)
    assert live.spec.replicas == 5
    assert {(e.manager, e.operation) for e in live.metadata.managed_fields} == {
        ("brokkr", "Apply"),
        ("kubectl-scale", "Update"),
    }
    with pytest.raises(ApiException) as err:
        apps.patch_namespaced_deployment(
            "web", NS, deployment(replicas=3), field_manager="brokkr", _content_type=APPLY
        )
    assert status_body(err.value)["details"]["causes"][0]["field"] == ".spec.replicas"
    fixed = apps.patch_namespaced_deployment(
        "web", NS, deployment(replicas=3), field_manager="brokkr", force=True, _content_type=APPLY
    )
    assert fixed.spec.replicas == 3


def test_dry_run_returns_the_result_and_changes_nothing(core: client.CoreV1Api, srv: FakeApiServer) -> None:
    preview = apply_cm(core, config_map({"a": "1"}), "brokkr", dry_run="All")
    assert preview.data == {"a": "1"}
    with pytest.raises(ApiException) as err:
        core.read_namespaced_config_map("cfg", NS)
    assert err.value.status == 404

    apply_cm(core, config_map({"a": "1"}), "brokkr")
    version = srv.state.resource_version
    changed = apply_cm(core, config_map({"a": "2"}, {"x": "y"}), "brokkr", dry_run="All")
    assert changed.data == {"a": "2"} and changed.metadata.labels == {"x": "y"}
    live = core.read_namespaced_config_map("cfg", NS)
    assert live.data == {"a": "1"} and live.metadata.labels is None
    core.delete_namespaced_config_map("cfg", NS, dry_run="All")
    core.create_namespaced_config_map(NS, config_map({"b": "1"}, name="other"), dry_run="All")
    assert srv.state.resource_version == version
    assert [c.metadata.name for c in core.list_namespaced_config_map(NS).items] == ["cfg"]


def test_no_op_apply_keeps_resource_version(core: client.CoreV1Api) -> None:
    first = apply_cm(core, config_map({"a": "1"}), "brokkr")
    second = apply_cm(core, config_map({"a": "1"}), "brokkr")
    assert second.metadata.resource_version == first.metadata.resource_version
    assert second.metadata.managed_fields[0].time == first.metadata.managed_fields[0].time


def test_generation_tracks_spec_changes_only(apps: client.AppsV1Api) -> None:
    created = apps.patch_namespaced_deployment(
        "web", NS, deployment(), field_manager="b", _content_type=APPLY
    )
    assert created.metadata.generation == 1
    assert created.spec.replicas == 1  # defaulted, and not owned by the applier
    assert "f:replicas" not in created.metadata.managed_fields[0].fields_v1["f:spec"]
    relabelled = apps.patch_namespaced_deployment(
        "web", NS, deployment(labels={"a": "b"}), field_manager="b", _content_type=APPLY
    )
    assert relabelled.metadata.generation == 1
    scaled = apps.patch_namespaced_deployment(
        "web", NS, deployment(replicas=4, labels={"a": "b"}), field_manager="b", _content_type=APPLY
    )
    assert scaled.metadata.generation == 2
    assert int(scaled.metadata.resource_version) > int(relabelled.metadata.resource_version)


def test_status_is_ignored_on_the_main_resource_and_written_through_the_subresource(
    apps: client.AppsV1Api,
) -> None:
    body = deployment()
    body["status"] = {"replicas": 9}
    created = apps.patch_namespaced_deployment("web", NS, body, field_manager="b", _content_type=APPLY)
    assert created.status is None or created.status.replicas is None
    patched = apps.patch_namespaced_deployment_status(
        "web",
        NS,
        {"status": {"replicas": 1, "readyReplicas": 1}},
        _content_type="application/merge-patch+json",
    )
    assert patched.status.ready_replicas == 1
    assert patched.metadata.generation == 1
    status_entries = [e for e in patched.metadata.managed_fields if e.subresource == "status"]
    assert status_entries and status_entries[0].operation == "Update"


@pytest.mark.parametrize(
    ("call", "expected_force"),
    [
        ("typed force=True", "true"),
        ("dynamic server_side_apply(force_conflicts=True)", "true"),
        ("dynamic patch(force_conflicts=True)", "true"),
        ("dynamic patch(force=True)", None),
    ],
)
def test_which_client_spellings_put_force_on_the_wire(
    srv: FakeApiServer, call: str, expected_force: str | None
) -> None:
    body = config_map({"a": "1"})
    if call.startswith("typed"):
        apply_cm(client.CoreV1Api(srv.api_client()), body, "brokkr", force=True)
    else:
        dyn = srv.dynamic_client()
        cms = dyn.resources.get(api_version="v1", kind="ConfigMap")
        if "server_side_apply" in call:
            dyn.server_side_apply(cms, body=body, field_manager="brokkr", force_conflicts=True)
        elif "force_conflicts" in call:
            dyn.patch(cms, body=body, content_type=APPLY, field_manager="brokkr", force_conflicts=True)
        else:
            dyn.patch(cms, body=body, content_type=APPLY, field_manager="brokkr", force=True)
    [request] = srv.requests.matching("PATCH", r"/configmaps/cfg$")
    assert request.content_type == APPLY
    assert request.param("fieldManager") == "brokkr"
    assert request.param("force") == expected_force


def test_merge_strategic_and_json_patches(apps: client.AppsV1Api, core: client.CoreV1Api) -> None:
    body = deployment()
    body["spec"]["template"]["spec"]["containers"].append({"name": "sidecar", "image": "envoy"})
    apps.create_namespaced_deployment(NS, body)
    # The typed client's default patch type for a dict body is strategic merge: containers merge by name.
    patched = apps.patch_namespaced_deployment(
        "web", NS, {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:2"}]}}}}
    )
    images = {c.name: c.image for c in patched.spec.template.spec.containers}
    assert images == {"app": "nginx:2", "sidecar": "envoy"}
    # A JSON merge patch replaces lists wholesale and deletes with null.
    merged = apps.patch_namespaced_deployment(
        "web",
        NS,
        {
            "metadata": {"labels": {"a": "b"}},
            "spec": {"template": {"spec": {"containers": [{"name": "only", "image": "x"}]}}},
        },
        _content_type="application/merge-patch+json",
    )
    assert [c.name for c in merged.spec.template.spec.containers] == ["only"]
    assert merged.metadata.labels == {"a": "b"}
    # A JSON patch (list body).
    core.create_namespaced_config_map(NS, config_map({"a": "1"}))
    jp = core.patch_namespaced_config_map(
        "cfg", NS, [{"op": "add", "path": "/data/b", "value": "2"}, {"op": "remove", "path": "/data/a"}]
    )
    assert jp.data == {"b": "2"}
    with pytest.raises(ApiException) as err:
        core.patch_namespaced_config_map("cfg", NS, [{"op": "remove", "path": "/data/missing"}])
    assert err.value.status == 422


def test_create_replace_and_optimistic_concurrency(core: client.CoreV1Api) -> None:
    created = core.create_namespaced_config_map(NS, config_map({"a": "1"}))
    assert created.metadata.managed_fields[0].manager == "OpenAPI-Generator"
    assert created.metadata.managed_fields[0].operation == "Update"
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map(NS, config_map({"a": "1"}))
    assert err.value.status == 409 and status_body(err.value)["reason"] == "AlreadyExists"

    created.data = {"a": "2"}
    replaced = core.replace_namespaced_config_map("cfg", NS, created, field_manager="editor")
    assert replaced.data == {"a": "2"}
    assert {e.manager for e in replaced.metadata.managed_fields} == {"editor"}
    created.data = {"a": "3"}  # still carries the old resourceVersion
    with pytest.raises(ApiException) as err:
        core.replace_namespaced_config_map("cfg", NS, created)
    assert err.value.status == 409 and "has been modified" in status_body(err.value)["message"]

    generated = core.create_namespaced_config_map(NS, {"metadata": {"generateName": "gen-"}, "data": {}})
    assert generated.metadata.name.startswith("gen-") and len(generated.metadata.name) == 9


def test_malformed_apply_requests_are_rejected(core: client.CoreV1Api, srv: FakeApiServer) -> None:
    api = srv.api_client()
    path = f"{srv.url}/api/v1/namespaces/{NS}/configmaps/cfg"
    for query, body, code in [
        ("", config_map({}), 400),  # no fieldManager
        ("?fieldManager=x", {"metadata": {"name": "cfg"}}, 400),  # no apiVersion/kind
        ("?fieldManager=x", config_map({}, name="other"), 400),  # name differs from URL
        ("?fieldManager=x", {**config_map({}), "apiVersion": "apps/v1"}, 400),  # wrong group
    ]:
        response = api.call_api(
            "PATCH", path + query, header_params={"Content-Type": APPLY}, body=json.dumps(body)
        )
        response.read()
        assert response.status == code, (query, body)
        assert json.loads(response.data)["reason"] == "BadRequest"
    response = api.call_api(
        "PATCH",
        path + "?force=true",
        header_params={"Content-Type": "application/merge-patch+json"},
        body="{}",
    )
    response.read()
    assert response.status == 422


def test_yaml_apply_bodies_are_accepted(srv: FakeApiServer) -> None:
    api = srv.api_client()
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n  namespace: default\ndata:\n  greeting: hello\n  count: '3'\n"
    response = api.call_api(
        "PATCH",
        f"{srv.url}/api/v1/namespaces/{NS}/configmaps/cfg?fieldManager=yaml",
        header_params={"Content-Type": APPLY},
        body=text,
    )
    response.read()
    assert response.status == 201
    assert json.loads(response.data)["data"] == {"greeting": "hello", "count": "3"}
