"""Fault injection, the request log, kubeconfig output and the console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from brokkr_adapters_k8s.testing import FakeApiServer
from brokkr_adapters_k8s.testing.fake_apiserver.__main__ import parse_args


@pytest.fixture
def srv() -> Iterator[FakeApiServer]:
    with FakeApiServer.running() as server:
        yield server


def test_three_503s_then_success(srv: FakeApiServer) -> None:
    core = client.CoreV1Api(srv.api_client())
    fault = srv.faults.add(r"/namespaces/default/configmaps$", status=503, times=3)
    codes = []
    for _ in range(4):
        try:
            core.list_namespaced_config_map("default")
            codes.append(200)
        except ApiException as exc:
            codes.append(exc.status)
            status = json.loads(exc.body)
            assert (status["kind"], status["reason"], status["code"]) == ("Status", "ServiceUnavailable", 503)
    assert codes == [503, 503, 503, 200]
    assert fault.hits == 3 and fault.exhausted
    assert [e.status for e in srv.requests.matching("GET", "configmaps$")] == [503, 503, 503, 200]
    # Other paths were never affected.
    core.list_namespace()


def test_429_carries_retry_after_and_method_filters_apply(srv: FakeApiServer) -> None:
    core = client.CoreV1Api(srv.api_client())
    srv.faults.add(r"/configmaps", status=429, times=1, method="POST")
    core.list_namespaced_config_map("default")  # GET is not affected
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map("default", {"metadata": {"name": "a"}})
    assert err.value.status == 429
    assert err.value.headers["Retry-After"] == "1"
    status = json.loads(err.value.body)
    assert status["reason"] == "TooManyRequests" and status["details"]["retryAfterSeconds"] == 1
    assert core.create_namespaced_config_map("default", {"metadata": {"name": "a"}}).metadata.name == "a"


def test_custom_reason_and_unlimited_faults(srv: FakeApiServer) -> None:
    core = client.CoreV1Api(srv.api_client())
    srv.faults.add(
        r"/api/v1/namespaces$", status=500, times=None, reason="InternalError", message="etcd is sad"
    )
    for _ in range(3):
        with pytest.raises(ApiException) as err:
            core.list_namespace()
        assert json.loads(err.value.body)["message"] == "etcd is sad"
    srv.faults.clear()
    assert core.list_namespace().items


def test_latency_only_faults_slow_requests_down(srv: FakeApiServer) -> None:
    core = client.CoreV1Api(srv.api_client())
    fault = srv.faults.latency(r"/api/v1/namespaces$", 0.25, times=1)
    start = time.monotonic()
    assert core.list_namespace().items  # delayed, not failed
    assert time.monotonic() - start >= 0.25
    core.list_namespace()
    assert fault.hits == 1 and fault.exhausted


def test_request_log_records_method_path_query_and_content_type(srv: FakeApiServer) -> None:
    core = client.CoreV1Api(srv.api_client())
    core.patch_namespaced_config_map(
        "cfg",
        "default",
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}},
        field_manager="brokkr",
        force=True,
        dry_run="All",
        _content_type="application/apply-patch+yaml",
    )
    [entry] = srv.requests.matching("PATCH")
    assert entry.path == "/api/v1/namespaces/default/configmaps/cfg"
    assert entry.query == {"dryRun": ["All"], "fieldManager": ["brokkr"], "force": ["true"]}
    assert entry.content_type == "application/apply-patch+yaml"
    assert entry.status == 201
    assert json.loads(entry.body)["metadata"]["name"] == "cfg"
    assert entry.user_agent.startswith("OpenAPI-Generator/")
    srv.requests.clear()
    assert srv.requests.entries == []


def test_kubeconfig_file_loads_into_the_official_client(srv: FakeApiServer, tmp_path: Path) -> None:
    path = srv.kubeconfig_path(tmp_path)
    assert path == tmp_path / "kubeconfig"
    document = yaml.safe_load(path.read_text())
    assert document["clusters"][0]["cluster"]["server"] == srv.url
    api = config.new_client_from_config(config_file=str(path))
    assert "default" in [n.metadata.name for n in client.CoreV1Api(api).list_namespace().items]
    assert srv.kubeconfig_path(tmp_path / "nested" / "kc.yaml").exists()


def test_cli_arguments() -> None:
    args = parse_args(["--port", "0", "--kubeconfig-out", "/tmp/x", "--simulate-workloads"])
    assert (args.host, args.port, args.kubeconfig_out, args.simulate_workloads) == (
        "127.0.0.1",
        0,
        "/tmp/x",
        True,
    )
    assert parse_args([]).port == 6443


def test_console_script_serves_and_writes_a_kubeconfig(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "brokkr_adapters_k8s.testing.fake_apiserver",
            "--port",
            "0",
            "--kubeconfig-out",
            str(kubeconfig),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        assert process.stderr is not None
        lines = [process.stderr.readline().decode() for _ in range(2)]
        assert "kubeconfig written to" in lines[0]
        assert "listening on http://127.0.0.1:" in lines[1]
        api = config.new_client_from_config(config_file=str(kubeconfig))
        deadline = time.monotonic() + 10
        while True:
            try:
                names = [n.metadata.name for n in client.CoreV1Api(api).list_namespace().items]
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        assert "kube-system" in names
    finally:
        process.terminate()
        process.wait(timeout=10)
