"""Prometheus metrics with the reference's names, on a registry of our own (one per app instance).

Gauges about fleet state are computed from the database when ``/metrics`` is scraped (never as side effects of
list calls). Path labels are normalised: UUID and numeric segments become ``:id``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_ID = re.compile(r"^(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|\d+)$")
HTTP_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def normalise_path(path: str) -> str:
    return "/".join(":id" if _ID.match(seg) else seg for seg in path.split("/"))


class BrokerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.http_requests = Counter(
            "brokkr_http_requests_total", "HTTP requests", ["endpoint", "method", "status"], registry=r
        )
        self.http_duration = Histogram(
            "brokkr_http_request_duration_seconds",
            "HTTP request duration",
            ["endpoint", "method"],
            buckets=HTTP_BUCKETS,
            registry=r,
        )
        self.db_queries = Counter(
            "brokkr_database_queries_total", "Database queries", ["query_type"], registry=r
        )
        self.db_duration = Histogram(
            "brokkr_database_query_duration_seconds",
            "Database query duration",
            ["query_type"],
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=r,
        )
        self.active_agents = Gauge("brokkr_active_agents", "Agents with status ACTIVE", registry=r)
        self.heartbeat_age = Gauge(
            "brokkr_agent_heartbeat_age_seconds",
            "Seconds since each agent's last heartbeat",
            ["agent_id", "agent_name"],
            registry=r,
        )
        self.stacks_total = Gauge("brokkr_stacks_total", "Live stacks", registry=r)
        self.deployment_objects_total = Gauge(
            "brokkr_deployment_objects_total", "Live deployment objects", registry=r
        )
        self.webhook_deliveries = Counter(
            "brokkr_webhook_deliveries_total", "Webhook delivery attempts by outcome", ["outcome"], registry=r
        )
        self.target_state_answers = Counter(
            "brokkr_target_state_answers_total",
            "Target-state answers by where they came from (cache or database)",
            ["source"],
            registry=r,
        )
        self.background_runs = Counter(
            "brokkr_background_task_runs_total", "Background task runs", ["task", "outcome"], registry=r
        )

    def set_fleet(
        self, agents: list[tuple[str, str, str, datetime | None]], stacks: int, objects: int
    ) -> None:
        """Refresh fleet gauges from (id, name, status, last_heartbeat) rows and counts."""
        now = time.time()
        self.active_agents.set(sum(1 for _, _, status, _ in agents if status == "ACTIVE"))
        self.heartbeat_age.clear()
        for agent_id, name, _, beat in agents:
            if beat is not None:
                self.heartbeat_age.labels(agent_id=agent_id, agent_name=name).set(
                    max(0.0, now - beat.timestamp())
                )
        self.stacks_total.set(stacks)
        self.deployment_objects_total.set(objects)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Counts and times every request except ``/metrics`` itself."""

    def __init__(
        self, app: ASGIApp, *, metrics: BrokerMetrics, on_request: Callable[..., None] | None = None
    ):
        self.app = app
        self.metrics = metrics
        self.on_request = on_request

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") == "/metrics":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - start
            endpoint = normalise_path(scope.get("path", ""))
            method = scope.get("method", "")
            self.metrics.http_requests.labels(endpoint=endpoint, method=method, status=str(status)).inc()
            self.metrics.http_duration.labels(endpoint=endpoint, method=method).observe(elapsed)
            if self.on_request is not None:
                self.on_request(scope, method, endpoint, status, elapsed)
