"""End to end: the broker on loopback, the agent process, a cluster. Deploy, update, prune, delete, target,
survive broker and API-server outages, fail one stack without hurting the others."""

from __future__ import annotations

import time

from agentapp_support import AgentEnv, wait_for
from brokkr_domain.ownership import (
    CHECKSUM_ANNOTATION,
    CREATED_NAMESPACE_ANNOTATION,
    DEPLOYMENT_OBJECT_ANNOTATION,
    OWNER_ANNOTATION,
    STACK_ANNOTATION,
)

CRD = """apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
"""

APP_V1 = f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels: {{team: payments}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers: [{{name: web, image: "nginx:1.27"}}]
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: shop
  labels: {{team: payments, tier: config}}
  annotations: {{owner.example.com/contact: ops@example.com}}
data: {{mode: "blue"}}
---
apiVersion: example.com/v1
kind: Widget
metadata: {{name: gadget, namespace: shop}}
spec: {{size: 3}}
---
{CRD}---
apiVersion: v1
kind: Namespace
metadata:
  name: shop
  labels: {{env: test}}
"""

APP_V2 = f"""apiVersion: v1
kind: Namespace
metadata: {{name: shop}}
---
{CRD}---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: shop
  labels: {{team: payments, tier: config}}
data: {{mode: "green"}}
"""


def config_map(name: str, value: str = "1", namespace: str = "default") -> str:
    return (
        f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {namespace}\ndata:\n"
        f'  value: "{value}"\n'
    )


def test_a_stack_is_deployed_updated_pruned_and_deleted(env: AgentEnv) -> None:
    admin, agent_id = env.admin, env.agent_id
    stack = admin.create_stack("shop", target=agent_id)
    first = admin.deploy(stack, APP_V1)

    namespace = env.wait_live("v1", "Namespace", "shop")
    widget = env.wait_live("example.com/v1", "Widget", "gadget", "shop")
    settings = env.wait_live("v1", "ConfigMap", "settings", "shop")
    deployment = env.wait_live("apps/v1", "Deployment", "web", "shop")
    assert env.live("apiextensions.k8s.io/v1", "CustomResourceDefinition", "widgets.example.com") is not None
    for live in (namespace, widget, settings, deployment):
        annotations = live["metadata"]["annotations"]
        assert annotations[STACK_ANNOTATION] == str(stack)
        assert annotations[OWNER_ANNOTATION] == str(agent_id)
        assert annotations[DEPLOYMENT_OBJECT_ANNOTATION] == str(first)
        assert annotations[CHECKSUM_ANNOTATION]
    assert namespace["metadata"]["annotations"][CREATED_NAMESPACE_ANNOTATION] == "true"
    assert namespace["metadata"]["labels"]["env"] == "test"
    assert settings["metadata"]["labels"]["team"] == "payments"
    assert settings["metadata"]["labels"]["tier"] == "config"
    assert settings["metadata"]["annotations"]["owner.example.com/contact"] == "ops@example.com"
    assert deployment["metadata"]["labels"]["team"] == "payments"
    assert "brokkr" not in str(deployment["spec"]["template"]), "pod templates are never marked"
    assert env.wait_event(first, "SUCCESS")["event_type"] == "DEPLOY"

    second = admin.deploy(stack, APP_V2)
    wait_for(
        lambda: (env.live("v1", "ConfigMap", "settings", "shop") or {}).get("data") == {"mode": "green"},
        message="the ConfigMap update",
    )
    env.wait_gone("apps/v1", "Deployment", "web", "shop")
    env.wait_gone("example.com/v1", "Widget", "gadget", "shop")
    env.wait_event(second, "SUCCESS")
    assert env.live("v1", "Namespace", "shop") is not None
    updated = env.live("v1", "ConfigMap", "settings", "shop")
    assert updated is not None and updated["metadata"]["annotations"][DEPLOYMENT_OBJECT_ANNOTATION] == str(
        second
    )

    admin.call("DELETE", f"/stacks/{stack}")
    env.wait_gone("v1", "ConfigMap", "settings", "shop")
    env.wait_gone("v1", "Namespace", "shop")
    env.wait_gone("apiextensions.k8s.io/v1", "CustomResourceDefinition", "widgets.example.com")
    marker = wait_for(
        lambda: next(
            (
                e
                for e in admin.events_of(agent_id)
                if e["deployment_object_id"] not in (str(first), str(second))
            ),
            None,
        ),
        message="the deletion marker's acknowledgement",
    )
    assert marker["status"] == "SUCCESS"


def test_objects_the_agent_does_not_own_are_never_touched(env: AgentEnv) -> None:
    env.harness.put(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "keep-me", "namespace": "default", "labels": {"app": "other"}},
            "data": {"a": "b"},
        }
    )
    stack = env.admin.create_stack("neighbour", target=env.agent_id)
    env.admin.deploy(stack, config_map("mine"))
    env.wait_live("v1", "ConfigMap", "mine", "default")
    env.admin.call("DELETE", f"/stacks/{stack}")
    env.wait_gone("v1", "ConfigMap", "mine", "default")
    assert env.live("v1", "ConfigMap", "keep-me", "default") is not None
    assert env.live("v1", "Namespace", "default") is not None, "a namespace we did not create stays"


def test_a_stack_matched_later_by_a_new_label_reaches_the_cluster(env: AgentEnv) -> None:
    stack = env.admin.create_stack("labelled", labels=("tier=frontend",))
    env.admin.deploy(stack, config_map("by-label"))
    time.sleep(0.6)  # a few ticks: not targeted yet
    assert env.live("v1", "ConfigMap", "by-label", "default") is None
    env.admin.post(
        f"/agents/{env.agent_id}/labels", {"label": "tier=frontend", "agent_id": str(env.agent_id)}
    )
    env.wait_live("v1", "ConfigMap", "by-label", "default")


def test_a_broker_outage_prunes_nothing_and_the_agent_catches_up(env: AgentEnv) -> None:
    stack = env.admin.create_stack("outage", target=env.agent_id)
    env.admin.deploy(stack, config_map("steady", "1"))
    env.wait_live("v1", "ConfigMap", "steady", "default")
    assert env.running is not None
    status = env.running.status

    env.broker.stop()
    wait_for(lambda: not status.broker_connected, timeout=15, message="the agent to notice the outage")
    time.sleep(1.0)  # several polling intervals without a broker
    assert all(loop._thread.is_alive() for loop in env.running.loops.loops), "no loop died"
    assert env.live("v1", "ConfigMap", "steady", "default") is not None, "nothing pruned during the outage"

    env.broker.start()
    env.admin.deploy(stack, config_map("steady", "2"))
    wait_for(
        lambda: (env.live("v1", "ConfigMap", "steady", "default") or {}).get("data") == {"value": "2"},
        timeout=20,
        message="the agent to catch up after the broker came back",
    )
    wait_for(lambda: status.broker_connected, timeout=15, message="heartbeats to resume")


def test_api_server_503_bursts_are_retried(env: AgentEnv) -> None:
    env.harness.fail_next(3, method="PATCH")
    stack = env.admin.create_stack("bursty", target=env.agent_id)
    obj = env.admin.deploy(stack, config_map("after-burst"))
    env.wait_live("v1", "ConfigMap", "after-burst", "default", timeout=15)
    env.wait_event(obj, "SUCCESS")


def test_an_invalid_manifest_fails_alone_and_is_applied_after_a_fix(env: AgentEnv) -> None:
    admin = env.admin
    broken = admin.create_stack("broken", target=env.agent_id)
    healthy = admin.create_stack("healthy", target=env.agent_id)
    bad = admin.deploy(broken, config_map("good-part") + "---\n" + config_map("Bad_Name"))
    admin.deploy(healthy, config_map("unaffected"))
    failure = env.wait_event(bad, "FAILURE")
    assert "Bad_Name" in failure["message"]
    env.wait_live("v1", "ConfigMap", "unaffected", "default")
    assert env.live("v1", "ConfigMap", "good-part", "default") is None, (
        "a stack that fails validation applies nothing"
    )
    events = admin.get(f"/agent-events?deployment_object_id={bad}")
    assert any(e["status"] == "FAILURE" for e in events)

    fixed = admin.deploy(broken, config_map("good-part") + "---\n" + config_map("good-name"))
    env.wait_live("v1", "ConfigMap", "good-name", "default")
    env.wait_event(fixed, "SUCCESS")


def test_an_inactive_agent_heartbeats_but_deploys_nothing(env: AgentEnv) -> None:
    admin, agent_id = env.admin, env.agent_id
    admin.call("PUT", f"/agents/{agent_id}", json={"status": "INACTIVE"})
    assert env.running is not None
    wait_for(
        lambda: env.running is not None and env.running.status.agent_status == "INACTIVE", message="INACTIVE"
    )
    stack = admin.create_stack("paused", target=agent_id)
    admin.deploy(stack, config_map("paused"))
    before = admin.get(f"/agents/{agent_id}")["last_heartbeat"]
    time.sleep(0.6)
    assert env.live("v1", "ConfigMap", "paused", "default") is None
    assert admin.get(f"/agents/{agent_id}")["last_heartbeat"] != before, "heartbeats go on"
    admin.call("PUT", f"/agents/{agent_id}", json={"status": "ACTIVE"})
    env.wait_live("v1", "ConfigMap", "paused", "default")
