"""Diagnostics: pods, events and log tails of one deployment object, collected and submitted."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from brokkr_domain.agent.diagnostics import collect_diagnostics, process_pending_diagnostics
from brokkr_domain.agent.reconcile import Reconciler
from brokkr_domain.errors import TransientError
from brokkr_domain.manifests import ObjectRef
from brokkr_domain.model import Agent, DeploymentObject
from brokkr_domain.testing import builders as b
from brokkr_domain.testing.fake_broker import FakeBrokerGateway
from brokkr_domain.testing.fake_cluster import FakeCluster
from brokkr_domain.testing.fakes import FakeClock

STACK = """
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx}, {name: proxy, image: envoy}]}
"""


class Env:
    def __init__(self) -> None:
        self.clock = FakeClock()
        self.cluster = FakeCluster()
        self.broker = FakeBrokerGateway(self.clock)
        self.agent: Agent = self.broker.add_agent()
        self.reconciler = Reconciler(self.cluster, self.broker, clock=self.clock)
        self.obj: DeploymentObject = b.deployment_object(
            self.clock.now(), uuid.uuid4(), yaml_content=STACK, sequence_id=1
        )
        assert self.reconciler.reconcile([self.obj], self.agent.id).applied
        for name, status in (("web-1", _running()), ("web-2", _crashing())):
            self.cluster.put(
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": name, "namespace": "shop", "labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web"}, {"name": "proxy"}]},
                    "status": status,
                }
            )

    def answer(self) -> dict[str, Any]:
        request = self.broker.add_diagnostic_request(self.agent.id, self.obj.id)
        answered = process_pending_diagnostics(
            self.broker, self.cluster, self.agent.id, self.reconciler.objects_of, clock=self.clock
        )
        assert answered == [request.id]
        result = self.broker.diagnostic_results[request.id]
        return {
            "pods": json.loads(result.pod_statuses),
            "events": json.loads(result.events),
            "logs": json.loads(result.log_tails) if result.log_tails is not None else None,
        }


def _running() -> dict[str, Any]:
    return {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True"}],
        "containerStatuses": [
            {
                "name": "web",
                "ready": True,
                "restartCount": 0,
                "state": {"running": {"startedAt": "2024-01-01T00:00:00Z"}},
            },
            {"name": "proxy", "ready": True, "restartCount": 1, "state": {"running": {}}},
        ],
    }


def _crashing() -> dict[str, Any]:
    return {
        "phase": "Running",
        "conditions": [
            {"type": "Ready", "status": "False", "reason": "ContainersNotReady", "message": "web"}
        ],
        "containerStatuses": [
            {
                "name": "web",
                "ready": False,
                "restartCount": 7,
                "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s"}},
            },
            {
                "name": "proxy",
                "ready": True,
                "state": {"terminated": {"reason": "Completed", "message": "done"}},
            },
        ],
    }


@pytest.fixture
def env() -> Env:
    return Env()


def test_round_trip_reports_pods_events_and_log_tails(env: Env) -> None:
    env.cluster.add_event(
        "shop",
        "web-2",
        reason="BackOff",
        message="restarting",
        event_type="Warning",
        last_timestamp="2024-01-01T00:03:00Z",
    )
    env.cluster.add_event(
        "shop", "web-7d9f", reason="FailedCreate", message="quota", last_timestamp="2024-01-01T00:02:00Z"
    )
    env.cluster.add_event(
        "shop",
        ObjectRef("apps/v1", "Deployment", "shop", "web"),
        reason="ScalingReplicaSet",
        message="up",
        last_timestamp="2024-01-01T00:01:00Z",
    )
    env.cluster.add_event(
        "shop", "database", reason="Unrelated", message="x", last_timestamp="2024-01-01T00:09:00Z"
    )
    env.cluster.add_event("default", "web-2", reason="OtherNamespace", message="x")
    env.cluster.set_logs("shop", "web-2", "web", "".join(f"line {i}\n" for i in range(150)))
    env.cluster.fail_next(1, operations=["pod_log_tail"], error=TransientError("kubelet unreachable"))

    data = env.answer()

    assert [p["name"] for p in data["pods"]] == ["web-1", "web-2"]
    crashing = data["pods"][1]
    assert crashing["namespace"] == "shop"
    assert crashing["phase"] == "Running"
    assert crashing["conditions"] == [
        {"condition_type": "Ready", "status": "False", "reason": "ContainersNotReady", "message": "web"}
    ]
    assert crashing["containers"][0] == {
        "name": "web",
        "ready": False,
        "restart_count": 7,
        "state": "Waiting",
        "state_reason": "CrashLoopBackOff",
        "state_message": "back-off 5m0s",
    }
    assert crashing["containers"][1]["state"] == "Terminated"
    assert data["pods"][0]["containers"][0]["state_message"] == "Started at 2024-01-01T00:00:00Z"

    assert [e["reason"] for e in data["events"]] == ["BackOff", "FailedCreate", "ScalingReplicaSet"]
    assert data["events"][0]["involved_object"] == "web-2"
    assert data["events"][0]["event_type"] == "Warning"

    logs = data["logs"]
    assert set(logs) == {"web-1/web", "web-1/proxy", "web-2/web", "web-2/proxy"}
    assert logs["web-1/web"] == "Error: kubelet unreachable"  # the first tail asked for failed
    assert logs["web-2/web"].splitlines() == [f"line {i}" for i in range(50, 150)]
    assert logs["web-2/proxy"] == ""


def test_events_are_capped_at_fifty_newest(env: Env) -> None:
    for minute in range(60):
        env.cluster.add_event(
            "shop",
            "web-1",
            reason=f"R{minute:02d}",
            message="m",
            last_timestamp=f"2024-01-01T01:{minute:02d}:00Z",
        )
    events = env.answer()["events"]
    assert len(events) == 50
    assert events[0]["reason"] == "R59"
    assert events[-1]["reason"] == "R10"


def test_a_failed_collection_still_answers(env: Env) -> None:
    env.cluster.fail_next(1, operations=["list_pods"])
    data = env.answer()
    assert data["pods"] == []
    assert len(data["events"]) == 1
    assert "overloaded" in data["events"][0]["error"]
    assert data["logs"] is None


def test_after_a_restart_objects_are_found_by_their_annotation(env: Env) -> None:
    report = collect_diagnostics(
        env.cluster,
        env.broker.add_diagnostic_request(env.agent.id, env.obj.id),
        lambda _id: [],
        now=env.clock.now(),
    )
    assert [p["name"] for p in json.loads(report.pod_statuses)] == ["web-1", "web-2"]


def test_a_request_claimed_elsewhere_is_skipped(env: Env) -> None:
    request = env.broker.add_diagnostic_request(env.agent.id, env.obj.id)
    pending = env.broker.pending_diagnostics(env.agent.id)
    env.broker.claim_diagnostic(request.id)  # another agent process was faster

    class Stale(FakeBrokerGateway):
        def pending_diagnostics(self, agent_id: uuid.UUID) -> list[Any]:
            return pending

    stale = Stale(env.clock)
    stale.agents, stale.diagnostics = env.broker.agents, env.broker.diagnostics
    assert (
        process_pending_diagnostics(
            stale, env.cluster, env.agent.id, env.reconciler.objects_of, clock=env.clock
        )
        == []
    )
    assert stale.diagnostic_results == {}
