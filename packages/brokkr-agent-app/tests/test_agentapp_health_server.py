"""The agent's health server: probes, the /health document and /metrics, in process and on a running agent."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import httpx

from agentapp_support import AgentEnv, wait_for
from brokkr_agent_app.health_server import HealthServer, create_health_app
from brokkr_agent_app.metrics import AgentMetrics
from brokkr_agent_app.status import AgentStatus

METRIC_NAMES = (
    "brokkr_agent_poll_requests_total",
    "brokkr_agent_poll_duration_seconds",
    "brokkr_agent_heartbeat_sent_total",
    "brokkr_agent_last_successful_poll_timestamp",
    "brokkr_agent_reconcile_total",
    "brokkr_agent_work_orders_total",
)


class Switch:
    """A Kubernetes probe the test turns on and off."""

    def __init__(self) -> None:
        self.error: str | None = None

    def __call__(self) -> str:
        if self.error:
            raise ConnectionError(self.error)
        return "v1.30.0"


@contextmanager
def client(status: AgentStatus, probe: Switch, window: float = 60.0) -> Iterator[httpx.Client]:
    """The health app served by ``HealthServer`` on a free loopback port, and a client for it."""
    server = HealthServer(
        create_health_app(status, AgentMetrics(), probe, broker_window=window), "127.0.0.1", 0
    )
    server.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.port}") as http:
            yield http
    finally:
        server.stop()


def test_liveness_is_unconditional_and_readiness_waits_for_the_broker() -> None:
    status, probe = AgentStatus(), Switch()
    with client(status, probe) as http:
        assert http.get("/healthz").status_code == 200 and http.get("/healthz").text == "OK"
        not_yet = http.get("/readyz")
        assert not_yet.status_code == 503 and "Broker" in not_yet.text
        status.broker_ok()
        ready = http.get("/readyz")
        assert ready.status_code == 200 and ready.text == "Ready"
        probe.error = "connection refused"
        down = http.get("/readyz")
        assert down.status_code == 503 and down.text == "Kubernetes API unavailable"
        assert http.get("/healthz").status_code == 200, "liveness never depends on dependencies"
        probe.error = None
        assert http.get("/readyz").status_code == 200


def test_readiness_lapses_when_heartbeats_stop() -> None:
    status, probe = AgentStatus(), Switch()
    with client(status, probe, window=0.1) as http:
        status.broker_ok()
        assert http.get("/readyz").status_code == 200
        time.sleep(0.2)
        assert http.get("/readyz").status_code == 503


def test_health_document() -> None:
    status, probe = AgentStatus(), Switch()
    with client(status, probe) as http:
        unhealthy = http.get("/health")
        assert unhealthy.status_code == 503
        body = unhealthy.json()
        assert body["status"] == "unhealthy"
        assert body["kubernetes"] == {"connected": True}
        assert body["broker"] == {"connected": False}

        status.broker_ok()
        healthy = http.get("/health")
        assert healthy.status_code == 200
        body = healthy.json()
        assert set(body) == {"status", "kubernetes", "broker", "uptime_seconds", "version", "timestamp"}
        assert body["status"] == "healthy" and body["broker"]["connected"] is True
        assert datetime.fromisoformat(body["broker"]["last_heartbeat"].replace("Z", "+00:00")).tzinfo
        assert datetime.fromisoformat(body["timestamp"].replace("Z", "+00:00")).tzinfo
        assert isinstance(body["uptime_seconds"], int) and body["uptime_seconds"] >= 0
        assert body["version"]

        probe.error = "dial tcp: connection refused"
        body = http.get("/health").json()
        assert body["kubernetes"] == {"connected": False, "error": "dial tcp: connection refused"}


def test_metrics_endpoint_content_type_and_names() -> None:
    with client(AgentStatus(), Switch()) as http:
        response = http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    for name in METRIC_NAMES:
        assert f"# TYPE {name} " in response.text


def test_a_running_agent_serves_its_probes_on_its_own_port(env: AgentEnv) -> None:
    assert env.running is not None
    base = f"http://127.0.0.1:{env.running.health_port}"
    assert httpx.get(f"{base}/healthz").text == "OK"
    wait_for(lambda: httpx.get(f"{base}/readyz").status_code == 200, message="readiness")
    health = httpx.get(f"{base}/health").json()
    assert health["status"] == "healthy" and health["broker"]["last_heartbeat"]

    def polled() -> str | None:
        text = httpx.get(f"{base}/metrics").text
        return text if 'brokkr_agent_poll_requests_total{status="success"}' in text else None

    metrics = wait_for(polled, message="a successful poll in the metrics")
    assert 'brokkr_agent_heartbeat_sent_total{status="success"}' in metrics

    env.harness.go_down()
    try:
        down = httpx.get(f"{base}/readyz", timeout=30)
        assert down.status_code == 503 and down.text == "Kubernetes API unavailable"
    finally:
        env.harness.come_back()
    assert httpx.get(f"{base}/readyz").status_code == 200


def test_a_hanging_api_server_makes_readiness_fail_fast_without_piling_up_checks() -> None:
    """The adapter retries an unavailable API server for minutes; a probe must answer within its budget."""
    release, calls = threading.Event(), []

    def hanging() -> str:
        calls.append(1)
        release.wait(10)
        return "v1.30.0"

    status = AgentStatus()
    status.broker_ok()
    server = HealthServer(
        create_health_app(status, AgentMetrics(), hanging, broker_window=60, probe_timeout=0.2),
        "127.0.0.1",
        0,
    )
    server.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.port}") as http:
            began = time.monotonic()
            answers = [http.get("/readyz") for _ in range(3)]
            assert time.monotonic() - began < 2.0
            assert all(a.status_code == 503 for a in answers)
            assert len(calls) == 1, "one check at a time, however many probes arrive"
            assert "did not answer within 0.2 s" in http.get("/health").json()["kubernetes"]["error"]
            release.set()
            wait_for(lambda: http.get("/readyz").status_code == 200, message="readiness once the API answers")
    finally:
        release.set()
        server.stop()
