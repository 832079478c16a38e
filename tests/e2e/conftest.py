"""One running system per test session: broker process, two fake clusters, two agent processes."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import attrs
import pytest

from brokkr_adapters_k8s.testing import FakeApiServer
from tests.e2e.harness import Agent, Broker, wait_until

pytestmark = pytest.mark.e2e


@attrs.define
class Cluster:
    name: str
    server: FakeApiServer
    kubeconfig: Path
    agent: Agent | None = None
    agent_id: str = ""
    agent_pak: str = ""

    def get(self, group: str, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        return self.server.state.get_object(group, kind, name, namespace)


@attrs.define
class Receiver:
    """A webhook receiver on loopback that records every POST."""

    server: ThreadingHTTPServer
    received: list[tuple[dict[str, str], bytes]] = attrs.field(factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def events(self, event_type: str) -> list[dict[str, Any]]:
        return [
            json.loads(body)
            for headers, body in self.received
            if headers.get("X-Brokkr-Event-Type") == event_type
        ]


@attrs.define
class System:
    workdir: Path
    broker: Broker
    clusters: list[Cluster]
    receiver: Receiver


def _receiver() -> Receiver:
    received: list[tuple[dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            received.append((dict(self.headers.items()), body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return Receiver(server=server, received=received)


@pytest.fixture(scope="session")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    workdir = tmp_path_factory.mktemp("e2e")
    with contextlib.ExitStack() as stack:
        broker = Broker(workdir).start()
        stack.callback(broker.stop)
        clusters = []
        for index, name in enumerate(("alpha", "beta")):
            server = stack.enter_context(FakeApiServer.running())
            clusters.append(
                Cluster(
                    name=name, server=server, kubeconfig=server.kubeconfig_path(workdir / f"kube-{index}")
                )
            )
        receiver = _receiver()
        stack.callback(receiver.server.shutdown)
        admin = broker.client()
        for cluster in clusters:
            created = admin.post(
                "/agents", json={"name": f"agent-{cluster.name}", "cluster_name": cluster.name}
            ).json()
            cluster.agent_id = created["agent"]["id"]
            cluster.agent_pak = created["initial_pak"]
            admin.post(
                f"/agents/{cluster.agent_id}/labels", json={"agent_id": cluster.agent_id, "label": "fleet"}
            )
            admin.put(f"/agents/{cluster.agent_id}", json={"status": "ACTIVE"})
            cluster.agent = Agent(
                f"agent-{cluster.name}", broker, cluster.agent_pak, cluster.name, cluster.kubeconfig, workdir
            ).start()
            stack.callback(cluster.agent.stop)
        system = System(workdir=workdir, broker=broker, clusters=clusters, receiver=receiver)
        for cluster in clusters:
            wait_until(
                lambda c=cluster: admin.get(f"/agents/{c.agent_id}").json()["last_heartbeat"],
                60,
                what=f"first heartbeat of {cluster.name}\n{cluster.agent.process.log() if cluster.agent else ''}",
            )
        yield system


@pytest.fixture(autouse=True)
def _show_logs_on_failure(request: pytest.FixtureRequest, system: System) -> Iterator[None]:
    yield
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        for proc in [system.broker.process, *(c.agent.process for c in system.clusters if c.agent)]:
            print(f"\n===== {proc.name} (last 60 lines) =====\n" + "\n".join(proc.log().splitlines()[-60:]))


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    rep = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"rep_{rep.when}", rep)
