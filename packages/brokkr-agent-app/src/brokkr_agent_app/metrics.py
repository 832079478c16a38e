"""The agent's Prometheus metrics (names follow the reference where it has them)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class AgentMetrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.poll_requests = Counter(
            "brokkr_agent_poll_requests_total", "Target-state polls by outcome", ["status"], registry=r
        )
        self.poll_duration = Histogram(
            "brokkr_agent_poll_duration_seconds",
            "Duration of one poll (fetch and reconcile)",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.heartbeats = Counter(
            "brokkr_agent_heartbeat_sent_total", "Heartbeats sent", ["status"], registry=r
        )
        self.last_successful_poll = Gauge(
            "brokkr_agent_last_successful_poll_timestamp", "Unix time of the last successful poll", registry=r
        )
        self.reconciles = Counter(
            "brokkr_agent_reconcile_total", "Stacks reconciled by outcome", ["outcome"], registry=r
        )
        self.objects = Counter(
            "brokkr_agent_objects_total", "Kubernetes objects applied and pruned", ["operation"], registry=r
        )
        self.broker_requests = Counter(
            "brokkr_agent_broker_requests_total",
            "Broker calls by loop and outcome",
            ["loop", "outcome"],
            registry=r,
        )
        self.work_orders = Counter(
            "brokkr_agent_work_orders_total", "Work orders executed by outcome", ["outcome"], registry=r
        )
        self.poll_age = Gauge(
            "brokkr_agent_last_poll_age_seconds", "Seconds since the last successful poll", registry=r
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
