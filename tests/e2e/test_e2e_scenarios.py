"""The reference's end-to-end scenarios, run against real processes over real HTTP.

Order matters little: each test creates its own stacks with unique names; the shared system (one broker, two
agents, two fake clusters) is started once per session.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from brokkr_domain.rules.webhooks import verify_signature
from tests.e2e.conftest import System
from tests.e2e.harness import wait_until

pytestmark = pytest.mark.e2e


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _configmap(name: str, namespace: str, data: str) -> str:
    return f"""apiVersion: v1
kind: ConfigMap
metadata:
  name: {name}
  namespace: {namespace}
  labels:
    team: payments
data:
  value: "{data}"
"""


def _stack_for_fleet(admin: httpx.Client, system: System, name: str) -> dict[str, Any]:
    generators = admin.get("/generators").json()
    owner = next(g for g in generators if g["name"] == "admin-generator")
    stack = admin.post("/stacks", json={"name": name, "generator_id": owner["id"]})
    assert stack.status_code == 201, stack.text
    body: dict[str, Any] = stack.json()
    assert admin.post(f"/stacks/{body['id']}/labels", json="fleet").status_code == 200
    return body


def test_stack_reaches_both_clusters_by_label_then_updates_and_deletes(system: System) -> None:
    admin = system.broker.client()
    ns = _name("shop")
    stack = _stack_for_fleet(admin, system, _name("stack"))
    yaml_v1 = f"""apiVersion: v1
kind: Namespace
metadata:
  name: {ns}
---
{_configmap("settings", ns, "v1")}---
{_configmap("extra", ns, "keep-me-not")}---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: {ns}
spec:
  replicas: 1
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      containers: [{{name: web, image: nginx}}]
"""
    created = admin.post(f"/stacks/{stack['id']}/deployment-objects", json={"yaml_content": yaml_v1})
    assert created.status_code == 200, created.text
    assert created.json()["is_deletion_marker"] is False
    for cluster in system.clusters:
        cm = wait_until(
            lambda c=cluster: c.get("", "ConfigMap", "settings", ns), 30, what=f"configmap in {cluster.name}"
        )
        assert cm["data"]["value"] == "v1"
        assert cm["metadata"]["labels"]["team"] == "payments"  # the user's label is kept
        assert cm["metadata"]["annotations"]["brokkr.io/owner-id"] == cluster.agent_id
        # objects of one priority group are applied side by side, so the Deployment may land after the ConfigMap
        wait_until(
            lambda c=cluster: c.get("apps", "Deployment", "web", ns), 30, what=f"deployment in {cluster.name}"
        )

    yaml_v2 = yaml_v1.replace('value: "v1"', 'value: "v2"').replace(
        _configmap("extra", ns, "keep-me-not") + "---\n", ""
    )
    assert (
        admin.post(f"/stacks/{stack['id']}/deployment-objects", json={"yaml_content": yaml_v2}).status_code
        == 200
    )
    for cluster in system.clusters:
        wait_until(
            lambda c=cluster: c.get("", "ConfigMap", "settings", ns)["data"]["value"] == "v2",
            30,
            what="update",
        )
        wait_until(
            lambda c=cluster: c.get("", "ConfigMap", "extra", ns) is None,
            30,
            what="prune of the removed object",
        )

    events = admin.get(f"/agents/{system.clusters[0].agent_id}/events").json()
    assert any(e["status"] == "SUCCESS" for e in events)

    assert admin.delete(f"/stacks/{stack['id']}").status_code == 204
    for cluster in system.clusters:
        wait_until(
            lambda c=cluster: c.get("", "ConfigMap", "settings", ns) is None,
            30,
            what="deletion marker applied",
        )
        wait_until(
            lambda c=cluster: c.get("", "Namespace", ns) is None, 30, what="namespace we created removed"
        )


def test_pre_existing_deployment_reaches_an_agent_once_targeted_by_annotation(system: System) -> None:
    admin = system.broker.client()
    alpha = system.clusters[0]
    generators = admin.get("/generators").json()
    owner = next(g for g in generators if g["name"] == "admin-generator")
    stack = admin.post("/stacks", json={"name": _name("late"), "generator_id": owner["id"]}).json()
    name = _name("late-cm")
    admin.post(
        f"/stacks/{stack['id']}/deployment-objects", json={"yaml_content": _configmap(name, "default", "x")}
    )
    assert alpha.get("", "ConfigMap", name, "default") is None
    admin.post(
        f"/stacks/{stack['id']}/annotations", json={"stack_id": stack["id"], "key": "region", "value": "eu"}
    )
    admin.post(
        f"/agents/{alpha.agent_id}/annotations",
        json={"agent_id": alpha.agent_id, "key": "region", "value": "eu"},
    )
    wait_until(lambda: alpha.get("", "ConfigMap", name, "default"), 30, what="late targeting by annotation")
    assert system.clusters[1].get("", "ConfigMap", name, "default") is None


def test_invalid_manifest_fails_alone_and_applies_after_a_fix(system: System) -> None:
    admin = system.broker.client()
    beta = system.clusters[1]
    bad = _stack_for_fleet(admin, system, _name("bad"))
    good = _stack_for_fleet(admin, system, _name("good"))
    bad_yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Not_A_Valid_Name\n  namespace: default\n"
    bad_obj = admin.post(f"/stacks/{bad['id']}/deployment-objects", json={"yaml_content": bad_yaml}).json()
    good_name = _name("fine")
    admin.post(
        f"/stacks/{good['id']}/deployment-objects",
        json={"yaml_content": _configmap(good_name, "default", "ok")},
    )
    wait_until(lambda: beta.get("", "ConfigMap", good_name, "default"), 30, what="the good stack applied")

    def failure_reported() -> bool:
        events = admin.get(f"/agents/{beta.agent_id}/events").json()
        return any(
            e["deployment_object_id"] == bad_obj["id"] and e["status"] == "FAILURE" and e["message"]
            for e in events
        )

    wait_until(failure_reported, 30, what="FAILURE event with a message")
    fixed = _name("fixed")
    admin.post(
        f"/stacks/{bad['id']}/deployment-objects", json={"yaml_content": _configmap(fixed, "default", "ok")}
    )
    wait_until(lambda: beta.get("", "ConfigMap", fixed, "default"), 30, what="applied after the fix")


def test_generator_flow_with_versions_and_a_template(system: System) -> None:
    admin = system.broker.client()
    created = admin.post("/generators", json={"name": _name("ci"), "description": "pipeline"})
    assert created.status_code == 201, created.text
    gen = created.json()
    ci = system.broker.client(gen["pak"])
    stack = ci.post("/stacks", json={"name": _name("ci-stack"), "generator_id": gen["generator"]["id"]})
    assert stack.status_code == 201, stack.text
    stack_id = stack.json()["id"]
    assert ci.post(f"/stacks/{stack_id}/labels", json="fleet").status_code == 200
    for version in ("1", "2"):
        pushed = ci.post(
            f"/stacks/{stack_id}/deployment-objects",
            json={"yaml_content": _configmap("ci-cm", "default", version)},
        )
        assert pushed.status_code == 200, pushed.text
    template = ci.post(
        "/templates",
        json={
            "name": _name("tpl"),
            "template_content": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ name }}\n  namespace: default\n"
            'data:\n  replicas: "{{ replicas | default(value=1) }}"\n',
            "parameters_schema": '{"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}',
        },
    )
    assert template.status_code == 201, template.text
    bad = ci.post(
        f"/stacks/{stack_id}/deployment-objects/from-template",
        json={"template_id": template.json()["id"], "parameters": {}},
    )
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_parameters"
    rendered = ci.post(
        f"/stacks/{stack_id}/deployment-objects/from-template",
        json={"template_id": template.json()["id"], "parameters": {"name": "from-template"}},
    )
    assert rendered.status_code == 201, rendered.text
    for cluster in system.clusters:
        cm = wait_until(
            lambda c=cluster: c.get("", "ConfigMap", "from-template", "default"), 30, what="template output"
        )
        assert cm["data"]["replicas"] == "1"
        # superseded by the rendered object; pruning follows the apply
        wait_until(
            lambda c=cluster: c.get("", "ConfigMap", "ci-cm", "default") is None,
            30,
            what="superseded object pruned",
        )


def test_health_is_rolled_up_per_cluster(system: System) -> None:
    admin = system.broker.client()
    stack = _stack_for_fleet(admin, system, _name("health"))
    ns = _name("hns")
    yaml = f"""apiVersion: v1
kind: Namespace
metadata: {{name: {ns}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: api, namespace: {ns}}}
spec:
  selector: {{matchLabels: {{app: api}}}}
  template:
    metadata: {{labels: {{app: api}}}}
    spec: {{containers: [{{name: api, image: api:1}}]}}
"""
    obj = admin.post(f"/stacks/{stack['id']}/deployment-objects", json={"yaml_content": yaml}).json()
    alpha, beta = system.clusters
    for cluster in system.clusters:
        wait_until(lambda c=cluster: c.get("apps", "Deployment", "api", ns), 30, what="deployment applied")
    from brokkr_adapters_k8s.testing import container_status, waiting

    alpha.server.state.put_pod(ns, "api-1", labels={"app": "api"}, phase="Running")
    beta.server.state.put_pod(
        ns,
        "api-1",
        labels={"app": "api"},
        phase="Running",
        container_statuses=[
            container_status("api", state=waiting("CrashLoopBackOff", "back-off"), ready=False)
        ],
    )

    def rolled_up() -> dict[str, Any] | None:
        health = admin.get(f"/stacks/{stack['id']}/health").json()
        entries = [o for o in health["deployment_objects"] if o["id"] == obj["id"]]
        if entries and entries[0]["healthy_agents"] == 1 and entries[0]["degraded_agents"] == 1:
            return health
        return None

    health = wait_until(rolled_up, 40, what="one healthy and one degraded cluster")
    assert health["overall_status"] == "degraded"
    per_object = admin.get(f"/deployment-objects/{obj['id']}/health").json()
    assert {r["agent_id"] for r in per_object["health_records"]} == {alpha.agent_id, beta.agent_id}


def test_work_order_targeted_by_label_runs_on_one_agent(system: System) -> None:
    admin = system.broker.client()
    name = _name("wo-cm")
    order = admin.post(
        "/work-orders",
        json={
            "work_type": "custom",
            "yaml_content": _configmap(name, "default", "job"),
            "targeting": {"labels": ["fleet"]},
        },
    )
    assert order.status_code == 201, order.text
    order_id = order.json()["id"]
    entry = wait_until(
        lambda: (
            admin.get(f"/work-order-log/{order_id}").json()
            if admin.get(f"/work-order-log/{order_id}").status_code == 200
            else None
        ),
        40,
        what="work order completed",
    )
    assert entry["success"] is True, entry
    assert "1 resource" in entry["result_message"]
    ran_on = [c for c in system.clusters if c.get("", "ConfigMap", name, "default") is not None]
    assert len(ran_on) == 1 and ran_on[0].agent_id == entry["claimed_by"]
    assert admin.get(f"/work-orders/{order_id}").json()["status"] == "COMPLETED"


def test_webhook_end_to_end_signed_deployment_applied_for_each_agent(system: System) -> None:
    admin = system.broker.client()
    secret = "s3cret-signing-key"
    hook = admin.post(
        "/webhooks",
        json={
            "name": _name("hook"),
            "url": system.receiver.url,
            "event_types": ["deployment.applied"],
            "signing_secret": secret,
        },
    )
    assert hook.status_code == 201, hook.text
    assert "url" not in hook.json() and hook.json()["has_url"] is True
    stack = _stack_for_fleet(admin, system, _name("hooked"))
    obj = admin.post(
        f"/stacks/{stack['id']}/deployment-objects",
        json={"yaml_content": _configmap(_name("h"), "default", "1")},
    ).json()

    def delivered() -> list[dict[str, Any]]:
        events = [
            e
            for e in system.receiver.events("deployment.applied")
            if e["data"]["deployment_object_id"] == obj["id"]
        ]
        return (
            events if {e["data"]["agent_id"] for e in events} == {c.agent_id for c in system.clusters} else []
        )

    events = wait_until(delivered, 40, what="deployment.applied from both agents")
    assert len(events) >= 2
    for headers, body in system.receiver.received:
        if headers.get("X-Brokkr-Event-Type") == "deployment.applied":
            assert headers["X-Brokkr-Delivery-Id"]
            assert verify_signature(
                secret,
                body,
                headers["X-Brokkr-Timestamp"],
                headers["X-Brokkr-Signature"],
                now=int(time.time()),
                tolerance_seconds=3600,
            )


def test_agent_pak_rotation_old_key_401_new_key_works(system: System) -> None:
    admin = system.broker.client()
    created = admin.post("/agents", json={"name": _name("rot"), "cluster_name": "gamma"}).json()
    agent_id, old = created["agent"]["id"], created["initial_pak"]
    assert system.broker.client(old).post("/auth/pak").json()["agent"] == agent_id
    rotated = admin.post(f"/agents/{agent_id}/rotate-pak")
    assert rotated.status_code == 200
    new = rotated.json()["pak"]
    assert system.broker.client(old).post("/auth/pak").status_code == 401
    assert system.broker.client(new).post("/auth/pak").json()["agent"] == agent_id


def test_audit_log_and_metrics(system: System) -> None:
    admin = system.broker.client()
    page = admin.get("/admin/audit-logs", params={"action": "agent.*", "limit": 5}).json()
    assert set(page) == {"logs", "total", "count", "limit", "offset"}
    assert page["limit"] == 5 and page["count"] <= 5 and page["total"] >= 2
    metrics = httpx.get(f"{system.broker.url}/metrics").text
    for name in (
        "brokkr_http_requests_total",
        "brokkr_active_agents",
        "brokkr_stacks_total",
        "brokkr_deployment_objects_total",
    ):
        assert name in metrics
    assert "/api/v1/agents/:id" in metrics
