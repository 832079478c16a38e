"""The domain's ``Cluster`` contract, run unchanged against ``KubernetesCluster`` over HTTP to the fake API server.

The same suite runs against the in-memory ``FakeCluster`` in the domain's tests, so a behaviour the agent
relies on cannot differ between the two without one of them failing here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from brokkr_adapters_k8s import KubernetesCluster, RetryPolicy
from brokkr_adapters_k8s.testing import FakeApiServer
from brokkr_domain.testing.contracts.cluster import ClusterContract


class _NoWait:
    """A monotonic clock that only moves when slept on: no test here ever waits for real."""

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def server() -> Iterator[FakeApiServer]:
    with FakeApiServer.running() as srv:
        yield srv


@pytest.fixture
def cluster(server: FakeApiServer, tmp_path: Path) -> Iterator[KubernetesCluster]:
    time = _NoWait()
    with KubernetesCluster.from_kubeconfig(
        server.kubeconfig_path(tmp_path), retry=RetryPolicy(), clock=time.clock, sleep=time.sleep
    ) as adapter:
        yield adapter


class TestKubernetesClusterContract(ClusterContract):
    """Every contract test, against the real adapter and a real HTTP server."""


def test_contract_run_went_over_the_wire(cluster: KubernetesCluster, server: FakeApiServer) -> None:
    """Guard against a fixture that silently short-circuits: the adapter must have talked HTTP."""
    assert cluster.server_version().startswith("v1.")
    assert server.requests.matching("GET", r"^/version$")
