"""The optional Shipwright build simulation: BuildRuns run, then succeed after the configured time."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any, cast

from kubernetes import client

from brokkr_adapters_k8s.testing import FakeApiServer
from brokkr_adapters_k8s.testing.fake_apiserver.__main__ import parse_args
from brokkr_adapters_k8s.testing.fake_apiserver.builds import digest_for

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
ARGS = ("shipwright.io", "v1beta1", "default", "buildruns")


def build_run(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "shipwright.io/v1beta1",
        "kind": "BuildRun",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"build": {"name": "img"}},
    }


def succeeded(run: dict[str, Any]) -> str | None:
    conditions = (run.get("status") or {}).get("conditions") or []
    return next((c["status"] for c in conditions if c["type"] == "Succeeded"), None)


def get(api: client.CustomObjectsApi, name: str) -> dict[str, Any]:
    return cast(dict[str, Any], api.get_namespaced_custom_object(*ARGS, name))


def wait_for_status(api: client.CustomObjectsApi, name: str, wanted: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        run = get(api, name)
        if succeeded(run) == wanted or time.monotonic() > deadline:
            return run
        time.sleep(0.01)


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_a_created_buildrun_runs_then_succeeds_after_the_simulated_time() -> None:
    with FakeApiServer.running(simulate_builds=0.3) as srv:
        srv.state.apply_object(BUILDRUN_CRD)
        api = client.CustomObjectsApi(srv.api_client())
        api.create_namespaced_custom_object(*ARGS, build_run("img-1"))
        running = get(api, "img-1")
        assert succeeded(running) == "Unknown", "running at once, before the build time has passed"
        assert "completionTime" not in running["status"]
        done = wait_for_status(api, "img-1", "True", timeout=5)
        status = done["status"]
        assert succeeded(done) == "True"
        assert status["output"]["digest"] == digest_for("default", "img-1")
        elapsed = (parse(status["completionTime"]) - parse(status["startTime"])).total_seconds()
        assert 0.3 <= elapsed < 2.0
        assert status["startTime"] == running["status"]["startTime"]
        assert srv.state.hook_errors == []


def test_buildruns_made_by_server_side_apply_are_simulated_too() -> None:
    with FakeApiServer.running(simulate_builds=0.0) as srv:
        srv.state.apply_object(BUILDRUN_CRD)
        srv.state.apply_object(build_run("img-2"))  # the agent creates BuildRuns with server-side apply
        api = client.CustomObjectsApi(srv.api_client())
        assert succeeded(wait_for_status(api, "img-2", "True", timeout=5)) == "True"


def test_a_buildrun_deleted_while_building_is_forgotten() -> None:
    with FakeApiServer.running(simulate_builds=0.2) as srv:
        srv.state.apply_object(BUILDRUN_CRD)
        srv.state.apply_object(build_run("img-3"))
        srv.state.delete_object("shipwright.io", "BuildRun", "img-3", "default")
        time.sleep(0.4)
        assert srv.state.get_object("shipwright.io", "BuildRun", "img-3", "default") is None
        assert srv.state.hook_errors == []


def test_without_the_option_buildruns_keep_no_status() -> None:
    with FakeApiServer.running() as srv:
        srv.state.apply_object(BUILDRUN_CRD)
        srv.state.apply_object(build_run("img-4"))
        time.sleep(0.1)
        live = srv.state.get_object("shipwright.io", "BuildRun", "img-4", "default")
        assert live is not None and "status" not in live


def test_the_console_script_takes_the_build_time() -> None:
    assert parse_args(["--simulate-builds", "2.5"]).simulate_builds == 2.5
    assert parse_args([]).simulate_builds is None
