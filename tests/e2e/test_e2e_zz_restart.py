"""A broker restart mid-flight: agents keep running, reconnect, and nothing is lost (runs last)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.e2e.conftest import System
from tests.e2e.harness import Broker, wait_until

pytestmark = pytest.mark.e2e


def test_broker_restart_agents_reconnect_and_nothing_is_lost(system: System) -> None:
    admin = system.broker.client()
    owner = next(g for g in admin.get("/generators").json() if g["name"] == "admin-generator")
    before = admin.post(
        "/stacks", json={"name": f"before-{uuid.uuid4().hex[:6]}", "generator_id": owner["id"]}
    ).json()
    admin.post(f"/stacks/{before['id']}/labels", json="fleet")
    first = f"before-{uuid.uuid4().hex[:6]}"
    admin.post(
        f"/stacks/{before['id']}/deployment-objects",
        json={
            "yaml_content": f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {first}\n  namespace: default\n"
        },
    )
    assert system.broker.stop() == 0, "the broker exits 0 on SIGTERM"
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{system.broker.url}/healthz", timeout=1)

    restarted = Broker(system.workdir, port=system.broker.port)
    restarted.process.log_path = system.workdir / "broker-restarted.log"
    restarted.start()
    system.broker.process = restarted.process
    assert restarted.admin_pak == system.broker.admin_pak, "the admin key survives a restart"
    for cluster in system.clusters:
        wait_until(
            lambda c=cluster: c.get("", "ConfigMap", first, "default"),
            40,
            what="object pushed before the restart",
        )

    second = f"after-{uuid.uuid4().hex[:6]}"
    admin = restarted.client()
    admin.post(
        f"/stacks/{before['id']}/deployment-objects",
        json={
            "yaml_content": f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {second}\n  namespace: default\n"
        },
    )
    for cluster in system.clusters:
        wait_until(
            lambda c=cluster: c.get("", "ConfigMap", second, "default"),
            40,
            what="object pushed after the restart",
        )
        wait_until(
            lambda c=cluster: c.get("", "ConfigMap", first, "default") is None,
            40,
            what="superseded object pruned",
        )
        assert cluster.agent is not None and cluster.agent.process.alive()
