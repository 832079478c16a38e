"""Scripting the cluster (pods, events, logs, controller-like status changes) and reading it back."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from brokkr_adapters_k8s.testing import (
    ApiError,
    ClusterState,
    FakeApiServer,
    condition,
    container_status,
    terminated,
    waiting,
)

BUILDRUN_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "buildruns.shipwright.io"},
    "spec": {
        "group": "shipwright.io",
        "scope": "Namespaced",
        "names": {"plural": "buildruns", "singular": "buildrun", "kind": "BuildRun"},
        "versions": [{"name": "v1beta1", "served": True, "storage": True, "subresources": {"status": {}}}],
    },
}
FIXED = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def srv() -> Iterator[FakeApiServer]:
    with FakeApiServer.running(clock=lambda: FIXED) as server:
        yield server


@pytest.fixture
def core(srv: FakeApiServer) -> client.CoreV1Api:
    return client.CoreV1Api(srv.api_client())


def test_scripted_pod_failures_read_back_through_the_typed_client(
    srv: FakeApiServer, core: client.CoreV1Api
) -> None:
    srv.state.put_pod(
        "default",
        "crashy",
        labels={"app": "web"},
        container_statuses=[
            container_status(
                "app",
                state=waiting("CrashLoopBackOff", "back-off 5m0s restarting failed container"),
                restart_count=7,
                last_state=terminated("OOMKilled", 137),
            ),
            container_status("sidecar"),
        ],
        init_container_statuses=[container_status("init", state=waiting("ImagePullBackOff"), ready=False)],
    )
    pod = core.read_namespaced_pod("crashy", "default")
    assert pod.status.phase == "Running"
    app, sidecar = pod.status.container_statuses
    assert app.state.waiting.reason == "CrashLoopBackOff"
    assert app.last_state.terminated.reason == "OOMKilled" and app.last_state.terminated.exit_code == 137
    assert app.restart_count == 7 and app.ready is False
    assert sidecar.ready is True and sidecar.state.running is not None
    assert pod.status.init_container_statuses[0].state.waiting.reason == "ImagePullBackOff"
    assert [c.name for c in pod.spec.containers] == ["app", "sidecar"]
    ready = {c.type: c.status for c in pod.status.conditions}
    assert ready["Ready"] == "False" and ready["Initialized"] == "False"
    assert pod.metadata.creation_timestamp == FIXED


def test_updating_a_scripted_pod_keeps_its_identity(srv: FakeApiServer, core: client.CoreV1Api) -> None:
    first = srv.state.put_pod("default", "p", phase="Pending")
    second = srv.state.put_pod(
        "default", "p", phase="Failed", reason="Evicted", conditions=[condition("Ready", False, "PodFailed")]
    )
    assert second["metadata"]["uid"] == first["metadata"]["uid"]
    assert int(second["metadata"]["resourceVersion"]) > int(first["metadata"]["resourceVersion"])
    pod = core.read_namespaced_pod("p", "default")
    assert (pod.status.phase, pod.status.reason) == ("Failed", "Evicted")
    assert pod.status.container_statuses[0].state.terminated.reason == "Error"
    # Scripting calls raise the server-side error directly.
    with pytest.raises(ApiError) as script_err:
        srv.state.put_pod("nowhere", "p")
    assert script_err.value.code == 404


def test_events_read_back_with_list_namespaced_event(srv: FakeApiServer, core: client.CoreV1Api) -> None:
    pod = srv.state.put_pod("default", "web-1")
    srv.state.add_event(
        "default",
        pod,
        "BackOff",
        "Back-off restarting failed container",
        type_="Warning",
        count=5,
        first_timestamp="2025-03-01T11:00:00Z",
        last_timestamp="2025-03-01T11:55:00Z",
    )
    srv.state.add_event(
        "default", {"kind": "Deployment", "name": "web"}, "ScalingReplicaSet", "Scaled up to 1"
    )
    events = core.list_namespaced_event("default").items
    backoff = next(e for e in events if e.reason == "BackOff")
    assert (backoff.type, backoff.count, backoff.message) == (
        "Warning",
        5,
        "Back-off restarting failed container",
    )
    assert backoff.involved_object.kind == "Pod" and backoff.involved_object.name == "web-1"
    assert backoff.involved_object.uid == pod["metadata"]["uid"]
    assert backoff.first_timestamp == datetime(2025, 3, 1, 11, 0, tzinfo=UTC)
    assert backoff.last_timestamp == datetime(2025, 3, 1, 11, 55, tzinfo=UTC)
    scaled = next(e for e in events if e.reason == "ScalingReplicaSet")
    assert scaled.last_timestamp == FIXED and scaled.source.component == "kubelet"


def test_pod_logs_with_tail_lines_and_container_choice(srv: FakeApiServer, core: client.CoreV1Api) -> None:
    srv.state.put_pod("default", "single")
    srv.state.set_pod_logs("default", "single", ["one", "two", "three"])
    assert core.read_namespaced_pod_log("single", "default") == "one\ntwo\nthree\n"
    assert core.read_namespaced_pod_log("single", "default", tail_lines=2) == "two\nthree\n"
    assert core.read_namespaced_pod_log("single", "default", limit_bytes=3) == "one"

    srv.state.put_pod("default", "pair", containers=("app", "sidecar"))
    srv.state.set_pod_logs("default", "pair", "app log\n", container="app")
    srv.state.set_pod_logs("default", "pair", "crashed before\n", container="app", previous=True)
    assert core.read_namespaced_pod_log("pair", "default", container="app") == "app log\n"
    assert (
        core.read_namespaced_pod_log("pair", "default", container="app", previous=True) == "crashed before\n"
    )
    assert core.read_namespaced_pod_log("pair", "default", container="sidecar") == ""
    with pytest.raises(ApiException) as err:
        core.read_namespaced_pod_log("pair", "default")
    assert err.value.status == 400
    assert "a container name must be specified for pod pair, choose one of: [app sidecar]" in err.value.body
    with pytest.raises(ApiException) as err:
        core.read_namespaced_pod_log("pair", "default", container="nope")
    assert err.value.status == 400
    with pytest.raises(ApiException) as err:
        core.read_namespaced_pod_log("ghost", "default")
    assert err.value.status == 404

    srv.state.put_pod("default", "starting", phase="Pending")
    with pytest.raises(ApiException) as err:
        core.read_namespaced_pod_log("starting", "default")
    assert json.loads(err.value.body)["message"] == (
        'container "app" in pod "starting" is waiting to start: ContainerCreating'
    )


def test_a_create_hook_scripts_a_buildrun_that_succeeds_later(srv: FakeApiServer) -> None:
    srv.state.apply_object(BUILDRUN_CRD)
    finished = threading.Event()

    def controller(state: ClusterState, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        state.set_status(
            "shipwright.io",
            "BuildRun",
            meta["name"],
            {"conditions": [condition("Succeeded", "Unknown", "Pending")]},
            namespace=meta["namespace"],
        )

        def succeed() -> None:
            state.set_status(
                "shipwright.io",
                "BuildRun",
                meta["name"],
                {
                    "conditions": [condition("Succeeded", True, "Succeeded")],
                    "output": {"digest": "sha256:abc"},
                },
                namespace=meta["namespace"],
            )
            finished.set()

        state.schedule(0.05, succeed)

    srv.state.on_create("shipwright.io", "BuildRun", controller)
    custom = client.CustomObjectsApi(srv.api_client())
    body = {
        "apiVersion": "shipwright.io/v1beta1",
        "kind": "BuildRun",
        "metadata": {"name": "img-1234abcd", "namespace": "default"},
        "spec": {"build": {"name": "img"}},
    }
    created = custom.create_namespaced_custom_object("shipwright.io", "v1beta1", "default", "buildruns", body)
    assert "status" not in created  # the hook runs after the write the client sees
    first = custom.get_namespaced_custom_object(
        "shipwright.io", "v1beta1", "default", "buildruns", "img-1234abcd"
    )
    assert first["status"]["conditions"][0]["status"] == "Unknown"
    assert finished.wait(5)
    done = custom.get_namespaced_custom_object(
        "shipwright.io", "v1beta1", "default", "buildruns", "img-1234abcd"
    )
    assert done["status"]["conditions"][0]["status"] == "True"
    assert done["status"]["output"]["digest"] == "sha256:abc"
    assert done["metadata"]["generation"] == 1
    assert srv.state.hook_errors == []


def test_status_merges_and_spec_writes_keep_status(srv: FakeApiServer) -> None:
    srv.state.apply_object(BUILDRUN_CRD)
    srv.state.apply_object(
        {
            "apiVersion": "shipwright.io/v1beta1",
            "kind": "BuildRun",
            "metadata": {"name": "b"},
            "spec": {"x": 1},
        }
    )
    srv.state.set_status("shipwright.io", "BuildRun", "b", {"a": 1}, namespace="default")
    srv.state.set_status("shipwright.io", "BuildRun", "b", {"b": 2}, namespace="default", merge=True)
    srv.state.apply_object(
        {
            "apiVersion": "shipwright.io/v1beta1",
            "kind": "BuildRun",
            "metadata": {"name": "b"},
            "spec": {"x": 2},
            "status": {"ignored": True},
        }
    )
    obj = srv.state.get_object("shipwright.io", "BuildRun", "b", "default")
    assert obj is not None
    assert obj["status"] == {"a": 1, "b": 2}
    assert obj["metadata"]["generation"] == 2


def test_failing_hooks_are_recorded_not_raised(srv: FakeApiServer, core: client.CoreV1Api) -> None:
    def broken(state: ClusterState, obj: dict[str, Any]) -> None:
        raise RuntimeError("boom")

    srv.state.on_create("", "ConfigMap", broken)
    core.create_namespaced_config_map("default", {"metadata": {"name": "x"}})
    assert [str(e) for e in srv.state.hook_errors] == ["boom"]


def test_timers_are_cancelled_on_shutdown() -> None:
    fired = threading.Event()
    with FakeApiServer.running() as server:
        timer = server.state.schedule(30, fired.set)
        assert not timer.finished.is_set()
    assert timer.finished.is_set()  # cancelled, so it will never fire
    timer.join(5)
    assert not fired.is_set()
