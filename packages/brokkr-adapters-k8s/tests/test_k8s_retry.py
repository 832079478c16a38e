"""Retries and error translation: real 429/5xx answers from the fake API server, an injected clock.

The clock only moves when the adapter sleeps, so the backoff sequence is asserted exactly and no test waits.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brokkr_adapters_k8s import KubernetesCluster, RetryPolicy
from brokkr_adapters_k8s.retry import Retrier, RetriesExhaustedError, RetryableError
from brokkr_adapters_k8s.testing import FakeApiServer
from brokkr_domain.errors import (
    BrokkrError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    TransientError,
    ValidationError,
)
from brokkr_domain.manifests import ObjectRef
from brokkr_domain.testing.contracts.cluster import config_map


class FakeTime:
    """Monotonic clock advanced only by ``sleep``; remembers every wait."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def server() -> Iterator[FakeApiServer]:
    with FakeApiServer.running() as srv:
        yield srv


@pytest.fixture
def time() -> FakeTime:
    return FakeTime()


def connect(server: FakeApiServer, directory: Path, time: FakeTime, **options: Any) -> KubernetesCluster:
    return KubernetesCluster.from_kubeconfig(
        server.kubeconfig_path(directory), clock=time.clock, sleep=time.sleep, **options
    )


@pytest.fixture
def cluster(server: FakeApiServer, tmp_path: Path, time: FakeTime) -> Iterator[KubernetesCluster]:
    with connect(server, tmp_path, time) as adapter:
        adapter.server_version()
        adapter.discovery.listable()  # discovery loaded: the faults below hit the calls under test
        yield adapter


# ---------------------------------------------------------------------------------------------- the policy


def test_default_policy_is_the_reference_one() -> None:
    policy = RetryPolicy()
    delays = policy.delays()
    assert [next(delays) for _ in range(9)] == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert (policy.max_elapsed, policy.statuses) == (300, frozenset({429, 500, 503, 504}))
    with pytest.raises(ValueError):
        RetryPolicy(multiplier=0.5)
    with pytest.raises(ValueError):
        RetryPolicy(initial=0)


@given(
    initial=st.floats(0.1, 10),
    multiplier=st.floats(1, 4),
    cap=st.floats(0.5, 100),
    budget=st.floats(0, 400),
)
def test_waits_grow_stay_capped_and_fit_the_budget(
    initial: float, multiplier: float, cap: float, budget: float
) -> None:
    policy = RetryPolicy(initial=initial, multiplier=multiplier, max_interval=cap, max_elapsed=budget)
    time = FakeTime()

    def always_fails() -> None:
        raise RetryableError("busy", status=503)

    with pytest.raises(RetriesExhaustedError) as caught:
        Retrier(policy, clock=time.clock, sleep=time.sleep).run(always_fails, "test")
    assert sum(time.sleeps) <= budget + 1e-9
    assert all(a <= b + 1e-9 for a, b in zip(time.sleeps, time.sleeps[1:], strict=False))
    assert all(wait <= cap + 1e-9 for wait in time.sleeps)
    assert caught.value.attempts == len(time.sleeps) + 1


def test_only_retryable_failures_are_retried() -> None:
    time = FakeTime()
    calls: list[int] = []

    def fails_hard() -> None:
        calls.append(1)
        raise ValidationError("no")

    with pytest.raises(ValidationError):
        Retrier(RetryPolicy(), clock=time.clock, sleep=time.sleep).run(fails_hard, "test")
    assert calls == [1]
    assert time.sleeps == []


# ---------------------------------------------------------------------------------------------- over HTTP


def test_a_503_burst_is_retried_with_growing_waits_then_succeeds(
    cluster: KubernetesCluster, server: FakeApiServer, time: FakeTime
) -> None:
    server.faults.add(r"/configmaps/burst$", 503, times=3, method="PATCH")
    live = cluster.apply(config_map("burst", data={"a": "1"}))
    assert live["data"] == {"a": "1"}
    assert time.sleeps == [1, 2, 4]
    assert [r.status for r in server.requests.matching("PATCH", r"/burst$")] == [503, 503, 503, 201]


@pytest.mark.parametrize("status", [429, 500, 503, 504])
def test_each_retryable_status_is_retried(
    cluster: KubernetesCluster, server: FakeApiServer, time: FakeTime, status: int
) -> None:
    server.faults.add(r"/configmaps/again$", status, times=2, method="GET")
    assert cluster.get(ObjectRef("v1", "ConfigMap", None, "again")) is None
    assert time.sleeps == [1, 2]


def test_a_retry_after_header_lengthens_the_wait(
    cluster: KubernetesCluster, server: FakeApiServer, time: FakeTime
) -> None:
    server.faults.add(r"/configmaps$", 429, times=1, retry_after=7)
    server.faults.add(r"/configmaps$", 429, times=1, retry_after=600)
    cluster.list_pods("default")  # unaffected
    assert cluster.list_by_labels("nothing=here") == []
    assert time.sleeps == [7, 60]  # Retry-After wins over 1 s and 2 s, but never beyond the 60 s cap
    # urllib3 would repeat a GET with Retry-After by itself, sleeping for real; the adapter turned that off
    assert [r.status for r in server.requests.matching("GET", r"^/api/v1/configmaps$")] == [429, 429, 200]


def test_retryable_reasons_count_even_with_another_code(
    cluster: KubernetesCluster, server: FakeApiServer, time: FakeTime
) -> None:
    server.faults.add(r"/version$", 502, times=1, reason="ServiceUnavailable")
    assert cluster.server_version()
    assert time.sleeps == [1]


def test_exhausted_retries_become_a_transient_error_after_the_budget(
    cluster: KubernetesCluster, server: FakeApiServer, time: FakeTime
) -> None:
    server.faults.add(r"/configmaps/never$", 503, times=None, message="etcd is sulking")
    with pytest.raises(TransientError) as caught:
        cluster.apply(config_map("never"))
    assert time.sleeps == [1, 2, 4, 8, 16, 32, 60, 60, 60]  # 243 s; one more 60 s wait would pass 300 s
    assert "etcd is sulking" in caught.value.message
    assert "10 attempts" in caught.value.message
    assert caught.value.details["status"] == 503
    assert len(server.requests.matching("PATCH", r"/never$")) == 10


def test_a_configured_policy_is_honoured(server: FakeApiServer, tmp_path: Path, time: FakeTime) -> None:
    policy = RetryPolicy(initial=0.5, multiplier=3, max_interval=2, max_elapsed=4)
    with connect(server, tmp_path, time, retry=policy) as adapter:
        server.faults.add(r"/version$", 500, times=None)
        with pytest.raises(TransientError):
            adapter.server_version()
    assert time.sleeps == [0.5, 1.5, 2]  # 4 s in all; a further 2 s wait would pass the budget


def test_an_unreachable_server_is_a_transient_error(tmp_path: Path, time: FakeTime) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again below: nothing listens there
    with FakeApiServer.running() as other:
        path = other.kubeconfig_path(tmp_path)
    path.write_text(path.read_text().replace(f":{other.port}", f":{port}"))
    with (
        KubernetesCluster.from_kubeconfig(
            path, retry=RetryPolicy(max_elapsed=3), clock=time.clock, sleep=time.sleep
        ) as adapter,
        pytest.raises(TransientError, match="cannot reach"),
    ):
        adapter.server_version()
    assert time.sleeps == [1, 2]


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, ValidationError),
        (401, ForbiddenError),
        (403, ForbiddenError),
        (405, ValidationError),
        (409, ConflictError),
        (415, ValidationError),
        (422, ValidationError),
        (501, TransientError),
    ],
)
def test_other_failures_are_domain_errors_at_once(
    cluster: KubernetesCluster, server: FakeApiServer, time: FakeTime, status: int, error: type[BrokkrError]
) -> None:
    server.faults.add(r"/configmaps/once$", status, times=1, message=f"server says {status}")
    with pytest.raises(error) as caught:
        cluster.apply(config_map("once"))
    assert f"server says {status}" in caught.value.message
    assert caught.value.details["status"] == status
    assert time.sleeps == []


def test_a_404_is_not_found_for_reads_of_logs(cluster: KubernetesCluster) -> None:
    with pytest.raises(NotFoundError, match='pods "ghost" not found'):
        cluster.pod_log_tail("default", "ghost", "main", 10)


OPERATIONS = {
    "apply": lambda c: c.apply(config_map("prop")),
    "dry_run": lambda c: c.apply(config_map("prop"), dry_run=True),
    "get": lambda c: c.get(ObjectRef("v1", "ConfigMap", None, "prop")),
    "delete": lambda c: c.delete(ObjectRef("v1", "ConfigMap", None, "prop")),
    "list_by_labels": lambda c: c.list_by_labels("a=b"),
    "list_pods": lambda c: c.list_pods("default", {"a": "b"}),
    "list_events": lambda c: c.list_events("default", involved_name="x"),
    "server_version": lambda c: c.server_version(),
}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    operation=st.sampled_from(sorted(OPERATIONS)),
    status=st.sampled_from([400, 401, 403, 404, 405, 409, 410, 415, 422, 429, 500, 501, 502, 503, 504]),
    times=st.sampled_from([1, None]),
)
def test_whatever_the_server_answers_only_domain_errors_leave_the_adapter(
    cluster: KubernetesCluster, server: FakeApiServer, operation: str, status: int, times: int | None
) -> None:
    server.faults.clear()
    server.faults.add(r"^/(api|apis|version)(/|$)", status, times=times)
    try:
        OPERATIONS[operation](cluster)
    except BrokkrError:
        pass
    finally:
        server.faults.clear()
