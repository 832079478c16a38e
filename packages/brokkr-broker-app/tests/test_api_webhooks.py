"""Webhook subscriptions over HTTP: CRUD without secrets, event emission, the test endpoint, the agents' side."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from brokerapp_support import Broker, Receiver
from brokkr_domain.rules.webhooks import EVENT_TYPES


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def test_subscriptions_never_show_their_secrets(broker: Broker) -> None:
    body = {
        "name": "ops",
        "url": "https://user:pw@hooks.example/x?token=abc",
        "auth_header": "Bearer s3cret",
        "signing_secret": "hmac-key",
        "event_types": ["agent.*", "workorder.completed"],
        "filters": {"labels": {"env": "prod"}},
        "max_retries": 3,
        "timeout_seconds": 5,
        "target_labels": ["edge"],
        "validate": True,
    }
    response = broker.request("POST", "/webhooks", broker.admin, json=body)
    assert response.status_code == 201
    hook = response.json()
    assert (
        "s3cret" not in response.text
        and "hmac-key" not in response.text
        and "hooks.example" not in response.text
    )
    assert {"url", "auth_header", "signing_secret"}.isdisjoint(hook)
    assert (hook["has_url"], hook["has_auth_header"], hook["enabled"], hook["created_by"]) == (
        True,
        True,
        True,
        "admin",
    )
    assert (hook["max_retries"], hook["timeout_seconds"], hook["target_labels"]) == (3, 5, ["edge"])
    assert hook["filters"] == {"agent_id": None, "stack_id": None, "labels": {"env": "prod"}}
    assert broker.ok("GET", f"/webhooks/{hook['id']}") == hook
    assert [h["id"] for h in broker.ok("GET", "/webhooks")] == [hook["id"]]
    cleared = broker.ok(
        "PUT", f"/webhooks/{hook['id']}", json={"auth_header": None, "filters": None, "enabled": False}
    )
    assert (cleared["has_auth_header"], cleared["filters"], cleared["enabled"], cleared["name"]) == (
        False,
        None,
        False,
        "ops",
    )
    assert broker.request("DELETE", f"/webhooks/{hook['id']}", broker.admin).status_code == 204
    assert (
        broker.request("GET", f"/webhooks/{hook['id']}", broker.admin).json()["code"] == "webhook_not_found"
    )


def test_the_event_types(broker: Broker) -> None:
    types = broker.ok("GET", "/webhooks/event-types")
    assert types == list(EVENT_TYPES) and len(types) == 12


def test_creating_agents_stacks_and_objects_emits_events(broker: Broker) -> None:
    hook = broker.create_webhook(event_types=["agent.*", "stack.created", "deployment.*"])
    ignored = broker.create_webhook(event_types=["workorder.*"])
    agent, _ = broker.create_agent()
    stack = broker.create_stack(broker.admin_generator_id())
    obj = broker.create_object(stack["id"])
    deliveries = broker.ok("GET", f"/webhooks/{hook['id']}/deliveries")
    assert [d["event_type"] for d in deliveries] == [
        "deployment.created",
        "stack.created",
        "agent.registered",
    ]
    assert all(d["status"] == "pending" and d["attempts"] == 0 for d in deliveries)
    payloads = [json.loads(d["payload"]) for d in deliveries]
    assert payloads[0]["data"]["deployment_object_id"] == obj["id"]
    assert payloads[1]["data"]["stack_id"] == stack["id"]
    assert payloads[2]["data"]["agent_id"] == agent["id"]
    assert all(p["id"] == d["event_id"] for p, d in zip(payloads, deliveries, strict=True))
    assert broker.ok("GET", f"/webhooks/{ignored['id']}/deliveries") == []
    assert broker.ok("GET", f"/webhooks/{hook['id']}/deliveries", params={"status": "success"}) == []
    assert (
        len(broker.ok("GET", f"/webhooks/{hook['id']}/deliveries", params={"limit": "1", "offset": "1"})) == 1
    )


def test_filters_are_applied(broker: Broker) -> None:
    agent, _ = broker.create_agent()
    other, _ = broker.create_agent()
    hook = broker.create_webhook(event_types=["agent.deregistered"], filters={"agent_id": agent["id"]})
    for a in (agent, other):
        broker.ok("DELETE", f"/agents/{a['id']}", status=204)
    deliveries = broker.ok("GET", f"/webhooks/{hook['id']}/deliveries")
    assert [json.loads(d["payload"])["data"]["agent_id"] for d in deliveries] == [agent["id"]]


def test_the_test_endpoint_posts_a_synthetic_event(broker: Broker, receiver: Receiver) -> None:
    hook = broker.create_webhook(receiver.url, auth_header="Token t0k")
    result = broker.ok("POST", f"/webhooks/{hook['id']}/test")
    assert result == {"success": True, "status_code": 200, "message": "Test delivery successful"}
    (sent,) = receiver.received
    event = json.loads(sent.body)
    assert event["event_type"] == "webhook.test" and event["data"]["subscription_id"] == hook["id"]
    assert (
        sent.headers["authorization"] == "Token t0k" and sent.headers["x-brokkr-event-type"] == "webhook.test"
    )
    assert broker.ok("GET", f"/webhooks/{hook['id']}/deliveries") == []  # no delivery row
    receiver.script = [503]
    failed = broker.request("POST", f"/webhooks/{hook['id']}/test", broker.admin)
    assert failed.status_code == 400 and failed.json()["code"] == "webhook_test_failed"
    assert failed.json()["details"]["status_code"] == 503


def test_agents_deliver_label_routed_events_and_report(broker: Broker, receiver: Receiver) -> None:
    agent, pak = broker.create_agent()
    aid = agent["id"]
    broker.ok("POST", f"/agents/{aid}/labels", json={"agent_id": aid, "label": "inside"})
    hook = broker.create_webhook(
        receiver.url,
        event_types=["stack.created"],
        target_labels=["inside"],
        auth_header="Basic x",
        signing_secret="k",
    )
    broker.create_stack(broker.admin_generator_id())
    _, unlabelled = broker.create_agent()
    (pending,) = broker.ok("GET", f"/agents/{aid}/webhooks/pending", pak)
    assert (pending["url"], pending["auth_header"], pending["signing_secret"]) == (
        receiver.url,
        "Basic x",
        "k",
    )
    assert pending["subscription_id"] == hook["id"] and pending["event_type"] == "stack.created"
    assert broker.ok("GET", f"/agents/{aid}/webhooks/pending", pak) == []  # acquired: not offered twice
    result = f"/webhook-deliveries/{pending['id']}/result"
    stranger = broker.request("POST", result, unlabelled, json={"success": True})
    assert stranger.status_code == 403 and stranger.json()["code"] == "delivery_not_acquired_by_agent"
    failed = broker.ok("POST", result, pak, json={"success": False, "status_code": 500, "error": "HTTP 500"})
    assert (failed["status"], failed["delivery_id"], failed["attempts"]) == ("failed", pending["id"], 1)
    assert failed["next_retry_at"] is not None
    assert broker.request("POST", result, pak, json={"success": True}).status_code == 403  # no longer held

    broker.create_stack(broker.admin_generator_id())
    (second,) = broker.ok("GET", f"/agents/{aid}/webhooks/pending", pak)
    result = f"/webhook-deliveries/{second['id']}/result"
    done = broker.ok("POST", result, pak, json={"success": True, "status_code": 200, "duration_ms": 3})
    assert done == {"status": "success", "delivery_id": second["id"]}
    again = broker.request("POST", result, pak, json={"success": True})
    assert again.status_code == 409 and again.json()["code"] == "delivery_already_finished"
    statuses = {d["id"]: d["status"] for d in broker.ok("GET", f"/webhooks/{hook['id']}/deliveries")}
    assert statuses == {pending["id"]: "failed", second["id"]: "success"}
