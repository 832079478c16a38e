"""End to end: work orders (custom, Shipwright builds, retries) off the control loop, and agent webhooks."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from uuid import UUID

import pytest

from agentapp_clusters import SHIPWRIGHT_CRDS
from agentapp_support import AgentEnv, wait_for
from brokkr_domain.rules.webhooks import (
    DELIVERY_ID_HEADER,
    EVENT_TYPE_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    verify_signature,
)

BUILD = """apiVersion: shipwright.io/v1beta1
kind: Build
metadata: {name: app, namespace: default}
spec:
  source: {type: Git, git: {url: "https://git.example/app"}}
  strategy: {name: buildah, kind: ClusterBuildStrategy}
  output: {image: registry.example/app}
"""


def create_order(env: AgentEnv, work_type: str, yaml_content: str, **extra: Any) -> UUID:
    body = {
        "work_type": work_type,
        "yaml_content": yaml_content,
        "targeting": {"labels": ["site=edge"]},
        **extra,
    }
    return UUID(env.admin.post("/work-orders", body)["id"])


def finished(env: AgentEnv, order_id: UUID, **kw: Any) -> dict[str, Any]:
    def log_entry() -> dict[str, Any] | None:
        entry: dict[str, Any] | None = env.admin.call("GET", f"/work-order-log/{order_id}", expect=(200, 404))
        return entry if entry and "success" in entry else None

    return wait_for(log_entry, message=f"work order {order_id} to finish", **kw)


def build_run_name(order_id: UUID) -> str:
    return f"app-{str(order_id)[:8]}"


def test_a_custom_work_order_applies_its_objects(env: AgentEnv) -> None:
    yaml_content = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: from-order, namespace: default}\ndata: {k: v}\n"
    )
    order = create_order(env, "custom", yaml_content)
    log = finished(env, order)
    assert log["success"] is True and log["result_message"] == "Successfully applied 1 resource(s)"
    assert log["claimed_by"] == str(env.agent_id)
    assert env.live("v1", "ConfigMap", "from-order", "default") is not None


def test_a_work_order_is_retried_after_a_transient_failure(env: AgentEnv) -> None:
    env.harness.go_down("configmaps", method="PATCH")  # longer than the adapter's own retries last
    yaml_content = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: second-try}\ndata: {k: v}\n"
    order = create_order(env, "custom", yaml_content, max_retries=2, backoff_seconds=1)
    wait_for(
        lambda: env.admin.get(f"/work-orders/{order}")["status"] == "RETRY_PENDING",
        timeout=15,
        message="the first attempt to fail and be scheduled again",
    )
    env.harness.come_back()
    log = finished(env, order, timeout=15)
    assert log["success"] is True
    assert log["retries_attempted"] == 1, "the first attempt failed and was scheduled again by the broker"
    assert env.live("v1", "ConfigMap", "second-try", "default") is not None


def test_builds_succeed_or_fail_and_heartbeats_go_on_meanwhile(env: AgentEnv) -> None:
    for crd in SHIPWRIGHT_CRDS:
        env.harness.put(crd)
    good = create_order(env, "build", BUILD)
    run = env.wait_live("shipwright.io/v1beta1", "BuildRun", build_run_name(good), "default")
    assert run["spec"]["build"]["name"] == "app"
    assert run["metadata"]["labels"]["brokkr.io/work-order-id"] == str(good)

    beats: set[str] = set()
    deadline = time.monotonic() + 1.5  # the build "runs" for 1.5 s: heartbeats must not wait for it
    while time.monotonic() < deadline:
        beats.add(env.admin.get(f"/agents/{env.agent_id}")["last_heartbeat"])
        time.sleep(0.1)
    assert len(beats - {None}) >= 3, f"heartbeats stalled during the build: {sorted(beats - {None})}"

    digest = "sha256:" + "ab" * 32
    env.harness.set_status(
        ref("BuildRun", build_run_name(good)),
        {
            "conditions": [{"type": "Succeeded", "status": "True", "reason": "Succeeded"}],
            "output": {"digest": digest},
        },
    )
    log = finished(env, good)
    assert log["success"] is True and log["result_message"] == digest

    bad = create_order(env, "build", BUILD, max_retries=0)
    env.wait_live("shipwright.io/v1beta1", "BuildRun", build_run_name(bad), "default")
    env.harness.set_status(
        ref("BuildRun", build_run_name(bad)),
        {
            "conditions": [{"type": "Succeeded", "status": "False", "reason": "Failed"}],
            "failureDetails": {"reason": "BuildahFailed", "message": "step-build exited with 1"},
        },
    )
    failed = finished(env, bad)
    assert failed["success"] is False
    assert failed["result_message"] == "BuildahFailed: step-build exited with 1"


def ref(kind: str, name: str) -> Any:
    from brokkr_domain.manifests import ObjectRef

    return ObjectRef("shipwright.io/v1beta1", kind, "default", name)


class Receiver:
    """A local HTTP endpoint that records every POST (headers and body) and answers 200."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                del format, args

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    made.thread.start()
    yield made
    made.server.shutdown()
    made.server.server_close()


def test_a_webhook_is_delivered_by_the_agent_with_headers_and_signature(
    env: AgentEnv, receiver: Receiver
) -> None:
    sub = env.admin.post(
        "/webhooks",
        {
            "name": "edge-receiver",
            "url": receiver.url,
            "event_types": ["stack.created"],
            "target_labels": ["site=edge"],
            "signing_secret": "top-secret",
            "auth_header": "Bearer receiver-token",
        },
    )
    stack = env.admin.create_stack("announced")
    wait_for(lambda: receiver.requests, message="the delivery")
    headers, body = receiver.requests[0]
    assert headers[EVENT_TYPE_HEADER.lower()] == "stack.created"
    assert headers[DELIVERY_ID_HEADER.lower()]
    assert headers["authorization"] == "Bearer receiver-token"
    assert headers["content-type"] == "application/json"
    assert verify_signature(
        "top-secret",
        body,
        headers.get(TIMESTAMP_HEADER.lower()),
        headers.get(SIGNATURE_HEADER.lower()),
        now=datetime.now(UTC),
    )
    event = json.loads(body)
    assert event["event_type"] == "stack.created" and event["data"]["stack_id"] == str(stack)
    wait_for(
        lambda: [d for d in env.admin.get(f"/webhooks/{sub['id']}/deliveries") if d["status"] == "success"],
        message="the delivery to be reported as a success",
    )
