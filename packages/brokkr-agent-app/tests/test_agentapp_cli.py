"""``brokkr-agent check`` and ``run`` as a user meets them, and a graceful shutdown with work in flight."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from agentapp_clusters import SHIPWRIGHT_CRDS, ClusterHarness
from agentapp_support import Admin, BrokerServer, agent_settings, free_port, wait_for
from brokkr_agent_app import cli, runtime
from brokkr_domain.manifests import ObjectRef
from brokkr_domain.ports import Cluster
from brokkr_domain.settings import AgentSettings


@pytest.fixture(autouse=True)
def keep_logging() -> Iterator[None]:
    """``main`` configures the root logger for a process; give pytest its handlers back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def environment(broker_url: str, pak: str, name: str, kubeconfig: str | None, **extra: str) -> dict[str, str]:
    env = {
        "BROKKR__AGENT__BROKER_URL": broker_url,
        "BROKKR__AGENT__PAK": pak,
        "BROKKR__AGENT__AGENT_NAME": name,
        "BROKKR__AGENT__CLUSTER_NAME": "test-cluster",
        "BROKKR__AGENT__MAX_RETRIES": "2",
        "BROKKR__AGENT__HEALTH_PORT": "0",
        "BROKKR__LOG__LEVEL": "warning",
        **extra,
    }
    if kubeconfig:
        env["BROKKR__AGENT__KUBECONFIG_PATH"] = kubeconfig
    return env


def factory(harness: ClusterHarness) -> Any:
    """The real adapter reads the kubeconfig when it exists; otherwise the test's cluster is handed in."""
    if harness.kubeconfig(Path()) is not None:
        return cli.make_cluster

    def make(_settings: AgentSettings) -> Cluster:
        return harness.cluster

    return make


@pytest.fixture
def registered(admin: Admin) -> tuple[UUID, str]:
    return admin.create_agent("cli-agent")


def test_check_prints_a_report_and_succeeds(
    broker: BrokerServer,
    registered: tuple[UUID, str],
    harness: ClusterHarness,
    capsys: pytest.CaptureFixture[str],
) -> None:
    agent_id, pak = registered
    env = environment(broker.url, pak, "cli-agent", harness.kubeconfig(Path()))
    assert cli.main(["check"], cluster_factory=factory(harness), environ=env) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in out] == [
        ["ok", "configuration"],
        ["ok", "broker"],
        ["ok", "identity"],
        ["ok", "kubernetes"],
    ]
    assert str(agent_id) in out[2]


@pytest.mark.parametrize("problem", ["bad PAK", "unknown agent", "unreachable broker"])
def test_check_fails_with_one_clear_line(
    broker: BrokerServer,
    registered: tuple[UUID, str],
    harness: ClusterHarness,
    capsys: pytest.CaptureFixture[str],
    problem: str,
) -> None:
    _, pak = registered
    url, name = broker.url, "cli-agent"
    if problem == "bad PAK":
        pak = "brokkr_BRnotakey_notakeyatallnotakeyatall"
    elif problem == "unknown agent":
        name = "somebody-else"
    else:
        url = f"http://127.0.0.1:{free_port()}"
    env = environment(url, pak, name, harness.kubeconfig(Path()))
    assert cli.main(["check"], cluster_factory=factory(harness), environ=env) == 1
    failures = [line for line in capsys.readouterr().out.splitlines() if line.startswith("FAIL")]
    assert len(failures) == 1
    expected = {
        "bad PAK": ("identity", "rejected the agent PAK"),
        "unknown agent": ("identity", "'somebody-else' in cluster 'test-cluster' is unknown"),
        "unreachable broker": ("broker", "unreachable"),
    }[problem]
    assert failures[0].split()[1] == expected[0] and expected[1] in failures[0], failures[0]


def test_check_reports_missing_settings(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["check"], environ={}) == 1
    [line] = capsys.readouterr().out.splitlines()
    assert line.startswith("FAIL configuration") and "BROKKR__AGENT__PAK" in line


def test_run_with_a_wrong_pak_exits_with_one_line(
    broker: BrokerServer, harness: ClusterHarness, capsys: pytest.CaptureFixture[str]
) -> None:
    env = environment(
        broker.url, "brokkr_BRnotakey_notakeyatallnotakeyatall", "x", harness.kubeconfig(Path())
    )
    assert cli.main(["run"], cluster_factory=factory(harness), environ=env) == 1
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("brokkr-agent:")]
    assert len(err) == 1 and "rejected the agent PAK" in err[0]


def test_run_stops_gracefully_after_finishing_work_in_flight(
    broker: BrokerServer, admin: Admin, registered: tuple[UUID, str], harness: ClusterHarness
) -> None:
    agent_id, pak = registered
    for crd in SHIPWRIGHT_CRDS:
        harness.put(crd)
    settings = agent_settings(broker, pak, "cli-agent")
    stop = threading.Event()
    outcome: list[int] = []
    thread = threading.Thread(
        target=lambda: outcome.append(runtime.run(settings, lambda _s: harness.cluster, stop=stop)),
        daemon=True,
    )
    thread.start()
    build = (
        "apiVersion: shipwright.io/v1beta1\nkind: Build\nmetadata: {name: app, namespace: default}\n"
        "spec: {output: {image: registry.example/app}}\n"
    )
    order = admin.post(
        "/work-orders",
        {"work_type": "build", "yaml_content": build, "targeting": {"agent_ids": [str(agent_id)]}},
    )["id"]
    run_ref = ObjectRef("shipwright.io/v1beta1", "BuildRun", "default", f"app-{order[:8]}")
    wait_for(lambda: harness.live(run_ref), message="the BuildRun")

    stop.set()  # SIGTERM while the build is in flight
    thread.join(0.5)
    assert thread.is_alive(), "the agent waits for the build it is following"
    harness.set_status(
        run_ref, {"conditions": [{"type": "Succeeded", "status": "True"}], "output": {"digest": "d"}}
    )
    thread.join(15)
    assert not thread.is_alive() and outcome == [0]
    log = admin.get(f"/work-order-log/{order}")
    assert log["success"] is True and log["result_message"] == "d"


def test_run_refuses_to_start_without_its_health_port(
    broker: BrokerServer,
    registered: tuple[UUID, str],
    harness: ClusterHarness,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, pak = registered
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = environment(
            broker.url, pak, "cli-agent", harness.kubeconfig(Path()), BROKKR__AGENT__HEALTH_PORT=str(port)
        )
        assert cli.main(["run"], cluster_factory=factory(harness), environ=env) == 1
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("brokkr-agent:")]
    assert len(err) == 1 and f"could not listen on 0.0.0.0:{port}" in err[0] and "HEALTH_PORT" in err[0]
