"""The unauthenticated operational endpoints: liveness, readiness, Prometheus metrics, the spec and docs."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

import pytest

from brokerapp_ops import spec
from brokerapp_support import Broker
from brokkr_broker_app.metrics import normalise_path
from brokkr_domain.errors import TransientError


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text format."""
    for line in text.splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        match = re.fullmatch(r"([a-z_]+)(?:\{(.*)\})? (\S+)", line)
        if match is None or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match.group(3))
    raise AssertionError(f"no sample {name}{labels}")


def test_liveness_and_readiness(broker: Broker) -> None:
    live = broker.request("GET", "/healthz")
    assert (live.status_code, live.text) == (200, "OK")
    ready = broker.request("GET", "/readyz")
    assert (ready.status_code, ready.text) == (200, "Ready")


def test_readiness_fails_with_a_json_body_when_the_database_is_unreachable(
    make_broker: Callable[..., Broker],
) -> None:
    def unreachable() -> None:
        raise TransientError("cannot reach PostgreSQL at db:5432", code="database_unavailable")

    broker = make_broker(ping=unreachable)
    response = broker.request("GET", "/readyz", allow_5xx=True)
    assert response.status_code == 503
    assert response.json()["code"] == "database_unavailable"
    assert "db:5432" not in response.text, "an anonymous probe learns nothing about the database's address"
    assert broker.request("GET", "/healthz").status_code == 200  # alive, just not ready


def test_metrics_have_the_reference_names_and_normalised_paths(broker: Broker) -> None:
    agent, _pak = broker.create_agent()
    broker.ok("GET", f"/agents/{agent['id']}")
    broker.request("GET", f"/agents/{agent['id']}", "brokkr_BRxxxxxx_nope")
    response = broker.request("GET", "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    for name in (
        "brokkr_http_requests_total",
        "brokkr_http_request_duration_seconds",
        "brokkr_active_agents",
        "brokkr_stacks_total",
        "brokkr_deployment_objects_total",
        "brokkr_agent_heartbeat_age_seconds",
        "brokkr_database_queries_total",
    ):
        assert f"# TYPE {name}" in text, name
    assert (
        metric(text, "brokkr_http_requests_total", endpoint="/api/v1/agents/:id", method="GET", status="200")
        == 1
    )
    assert (
        metric(text, "brokkr_http_requests_total", endpoint="/api/v1/agents/:id", method="GET", status="401")
        == 1
    )
    assert (
        metric(
            text, "brokkr_http_request_duration_seconds_count", endpoint="/api/v1/agents/:id", method="GET"
        )
        == 2
    )
    assert agent["id"] not in text and "/metrics" not in re.sub(r"#.*", "", text)


def test_fleet_gauges_are_computed_when_scraped(broker: Broker) -> None:
    text = broker.request("GET", "/metrics").text
    assert metric(text, "brokkr_active_agents") == 0 and metric(text, "brokkr_stacks_total") == 0
    agent, pak = broker.create_agent(name="alpha")
    broker.create_agent()
    broker.ok("PUT", f"/agents/{agent['id']}", json={"status": "ACTIVE"})
    broker.request("POST", f"/agents/{agent['id']}/heartbeat", pak)
    stack = broker.create_stack(broker.admin_generator_id())
    for name in ("a", "b"):
        broker.create_object(stack["id"], name=name)
    text = broker.request("GET", "/metrics").text
    assert metric(text, "brokkr_active_agents") == 1
    assert metric(text, "brokkr_stacks_total") == 1
    assert metric(text, "brokkr_deployment_objects_total") == 2
    age = metric(text, "brokkr_agent_heartbeat_age_seconds", agent_id=agent["id"], agent_name="alpha")
    assert 0 <= age < 60


def test_the_spec_and_the_docs_are_served_without_a_key(broker: Broker) -> None:
    response = broker.request("GET", "/api/v1/openapi.json")
    assert response.status_code == 200 and response.json() == spec()
    assert broker.request("GET", "/docs/openapi.json").json()["openapi"].startswith("3.")
    docs = broker.request("GET", "/docs")
    assert docs.status_code == 200 and docs.headers["content-type"].startswith("text/html")
    assert "/api/v1/openapi.json" in docs.text


def test_request_log_lines_name_the_caller_kind_never_its_key(
    broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    agent, pak = broker.create_agent()
    with caplog.at_level(logging.INFO, logger="brokkr.broker.http"):
        broker.ok("GET", f"/agents/{agent['id']}", pak, params={"token": pak})
    (record,) = [r for r in caplog.records if r.name == "brokkr.broker.http"]
    fields = record.fields  # type: ignore[attr-defined]
    assert (fields["method"], fields["path"], fields["status"], fields["actor"]) == (
        "GET",
        "/api/v1/agents/:id",
        200,
        "agent",
    )
    assert pak not in caplog.text and pak.split("_")[2] not in caplog.text


def test_path_normalisation() -> None:
    assert normalise_path("/api/v1/work-order-log/123/x") == "/api/v1/work-order-log/:id/x"
    assert (
        normalise_path("/api/v1/agents/3c649377-7570-4552-aae1-404743860c89/labels/edge")
        == "/api/v1/agents/:id/labels/edge"
    )
