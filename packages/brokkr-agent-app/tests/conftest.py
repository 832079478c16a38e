"""Fixtures of the agent app's tests: a real broker on loopback over an embedded PostgreSQL.

``agentapp_support`` (beside this file) holds the helpers; the test directory is put on ``sys.path`` so the
test modules can import it (``--import-mode=importlib`` does not do that).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).parent))

from agentapp_clusters import ClusterHarness, cluster_harness, kubernetes_adapter_available
from agentapp_support import Admin, AgentEnv, BrokerServer, agent_settings
from brokkr_adapters_postgres import testing as pg_testing

postgres_server = pg_testing.postgres_server


@pytest.fixture
def broker(postgres_server: pg_testing.PostgresTestServer, tmp_path: Path) -> Iterator[BrokerServer]:
    """A running broker over a brand-new database (one per test: tests never see each other's rows)."""
    url = postgres_server.create_database()
    server = BrokerServer(url, tmp_path / "broker-data")
    server.start()
    try:
        yield server
    finally:
        server.close()
        database = make_url(url).database
        assert database is not None
        postgres_server.drop_database(database)


@pytest.fixture
def admin(broker: BrokerServer) -> Iterator[Admin]:
    client = broker.client()
    yield client
    client.close()


def cluster_kinds() -> list[str]:
    """``$BROKKR_AGENT_TEST_CLUSTERS`` (comma-separated), else the adapter over the fake API server when the
    adapter exists, else the in-memory cluster."""
    configured = os.environ.get("BROKKR_AGENT_TEST_CLUSTERS")
    if configured:
        return [k.strip() for k in configured.split(",") if k.strip()]
    return ["api-server"] if kubernetes_adapter_available() else ["in-memory"]


@pytest.fixture(params=cluster_kinds())
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ClusterHarness]:
    with cluster_harness(request.param, tmp_path) as made:
        yield made


@pytest.fixture
def env(broker: BrokerServer, admin: Admin, harness: ClusterHarness) -> Iterator[AgentEnv]:
    """A started agent ``e2e-agent`` (ACTIVE, label ``site=edge``) polling every 0.2 s."""
    agent_id, pak = admin.create_agent("e2e-agent")
    admin.post(f"/agents/{agent_id}/labels", {"label": "site=edge", "agent_id": str(agent_id)})
    world = AgentEnv(broker, admin, harness, agent_settings(broker, pak, "e2e-agent"))
    world.start()
    try:
        yield world
    finally:
        world.stop()
