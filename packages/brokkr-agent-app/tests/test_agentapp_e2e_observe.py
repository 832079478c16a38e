"""End to end: deployment health and diagnostics travel from scripted pods through the agent to the broker."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from agentapp_clusters import container, pod
from agentapp_support import AgentEnv, wait_for

DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: default}
spec:
  replicas: 2
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers: [{name: api, image: "registry.example/api:1"}]
"""


def health_of(env: AgentEnv, object_id: UUID) -> dict[str, Any]:
    view: dict[str, Any] = env.admin.get(f"/deployment-objects/{object_id}/health")
    return view


def test_pod_health_is_rolled_up_per_object_and_per_stack(env: AgentEnv) -> None:
    stack = env.admin.create_stack("health", target=env.agent_id)
    obj = env.admin.deploy(stack, DEPLOYMENT)
    env.wait_live("apps/v1", "Deployment", "api", "default")
    env.harness.put(pod("default", "api-1", {"app": "api"}, [container("api")]))
    env.harness.put(pod("default", "api-2", {"app": "api"}, [container("api")]))
    wait_for(lambda: health_of(env, obj)["overall_status"] == "healthy", message="healthy")

    env.harness.put(
        pod("default", "api-2", {"app": "api"}, [container("api", waiting="CrashLoopBackOff", restarts=4)])
    )
    view = wait_for(
        lambda: (v := health_of(env, obj))["overall_status"] == "degraded" and v, message="degraded"
    )
    [record] = view["health_records"]
    assert record["agent_id"] == str(env.agent_id)
    summary = json.loads(record["summary"])
    assert summary["pods_ready"] == 1 and summary["pods_total"] == 2
    assert "CrashLoopBackOff" in summary["conditions"]
    stack_view = env.admin.get(f"/stacks/{stack}/health")
    assert stack_view["overall_status"] == "degraded"
    [entry] = stack_view["deployment_objects"]
    assert entry["id"] == str(obj) and entry["status"] == "degraded" and entry["degraded_agents"] == 1


def test_a_diagnostic_request_is_answered_with_pods_events_and_logs(env: AgentEnv) -> None:
    stack = env.admin.create_stack("diagnosed", target=env.agent_id)
    obj = env.admin.deploy(stack, DEPLOYMENT)
    deployment = env.wait_live("apps/v1", "Deployment", "api", "default")
    env.wait_event(obj, "SUCCESS")
    env.harness.put(pod("default", "api-7", {"app": "api"}, [container("api", waiting="ImagePullBackOff")]))
    env.harness.put(pod("default", "unrelated", {"app": "other"}, [container("x")]))
    env.harness.add_event("default", deployment, "ScalingReplicaSet", "Scaled up replica set api-5d4 to 2")
    env.harness.set_logs("default", "api-7", "api", "booting\nlistening on :8080\n")

    created = env.admin.post(
        f"/deployment-objects/{obj}/diagnostics", {"agent_id": str(env.agent_id), "requested_by": "oncall"}
    )
    view = wait_for(
        lambda: (
            (v := env.admin.get(f"/diagnostics/{created['id']}"))["request"]["status"] == "completed" and v
        ),
        message="the diagnostic result",
    )
    result = view["result"]
    pods = json.loads(result["pod_statuses"])
    assert [p["name"] for p in pods] == ["api-7"]
    assert pods[0]["containers"][0]["state"] == "Waiting"
    assert pods[0]["containers"][0]["state_reason"] == "ImagePullBackOff"
    events = json.loads(result["events"])
    assert any(e["reason"] == "ScalingReplicaSet" and e["involved_object"] == "api" for e in events)
    tails = json.loads(result["log_tails"])
    assert "listening on :8080" in tails["api-7/api"]
