"""The broker's webhook delivery worker against a real HTTP receiver on loopback.

The worker's tick (``app.state.tasks``, task ``webhook_delivery``) is run by hand with a fake clock, so retry
backoff is crossed by advancing the clock instead of sleeping. Checked: body byte for byte, HMAC signature,
``X-Brokkr-Event-Type``/``X-Brokkr-Delivery-Id``/``Authorization`` headers, retries on 5xx and on timeouts with
the same delivery and event ids, no retry on a permanent 4xx, dead after ``max_retries`` attempts.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from brokerapp_support import Broker, Receiver
from brokkr_domain.rules.webhooks import verify_signature
from brokkr_domain.testing import FakeClock


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime.now(UTC))


@pytest.fixture
def broker(make_broker: Callable[..., Broker], clock: FakeClock) -> Broker:
    return make_broker(clock=clock)


def deliver(broker: Broker) -> int:
    """One tick of the broker's delivery worker; returns how many deliveries it attempted."""
    task = next(t for t in broker.app.state.tasks if t.name == "webhook_delivery")
    attempted: int = task.run()
    return attempted


def deliveries(broker: Broker, hook: dict[str, Any]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = broker.ok("GET", f"/webhooks/{hook['id']}/deliveries")
    return result


def test_a_delivery_is_signed_and_carries_its_headers(
    broker: Broker, receiver: Receiver, clock: FakeClock
) -> None:
    hook = broker.create_webhook(
        receiver.url,
        event_types=["agent.registered"],
        auth_header="Bearer hook-token",
        signing_secret="s3cret",
    )
    agent, _ = broker.create_agent()
    assert deliver(broker) == 1
    (sent,) = receiver.received
    (delivery,) = deliveries(broker, hook)
    assert sent.body == delivery["payload"].encode()
    event = json.loads(sent.body)
    assert (event["event_type"], event["data"]["agent_id"], event["id"]) == (
        "agent.registered",
        agent["id"],
        delivery["event_id"],
    )
    headers = sent.headers
    assert headers["content-type"] == "application/json"
    assert headers["x-brokkr-event-type"] == "agent.registered"
    assert headers["x-brokkr-delivery-id"] == delivery["id"]
    assert headers["authorization"] == "Bearer hook-token"
    assert verify_signature(
        "s3cret", sent.body, headers["x-brokkr-timestamp"], headers["x-brokkr-signature"], now=clock.now()
    )
    assert not verify_signature(
        "other", sent.body, headers["x-brokkr-timestamp"], headers["x-brokkr-signature"], now=clock.now()
    )
    assert (delivery["status"], delivery["attempts"], delivery["completed_at"] is not None) == (
        "success",
        1,
        True,
    )
    assert deliver(broker) == 0  # nothing left


def test_without_a_secret_there_is_no_signature(broker: Broker, receiver: Receiver) -> None:
    broker.create_webhook(receiver.url, event_types=["agent.*"])
    broker.create_agent()
    deliver(broker)
    (sent,) = receiver.received
    assert "x-brokkr-signature" not in sent.headers and "authorization" not in sent.headers


def test_a_server_error_is_retried_after_the_backoff(
    broker: Broker, receiver: Receiver, clock: FakeClock
) -> None:
    hook = broker.create_webhook(receiver.url, event_types=["agent.*"], max_retries=5)
    broker.create_agent()
    receiver.script = [500]
    deliver(broker)
    (failed,) = deliveries(broker, hook)
    assert (failed["status"], failed["attempts"]) == ("failed", 1)
    assert failed["last_error"].startswith("HTTP 500")
    assert deliver(broker) == 0  # the backoff (2 s after the first failure) has not passed
    clock.advance(timedelta(seconds=3))
    assert deliver(broker) == 1
    (done,) = deliveries(broker, hook)
    assert (done["status"], done["attempts"]) == ("success", 2)
    first, second = receiver.received
    assert first.body == second.body  # same event id: receivers deduplicate on it
    assert first.headers["x-brokkr-delivery-id"] == second.headers["x-brokkr-delivery-id"]


def test_a_timeout_is_retried(broker: Broker, receiver: Receiver, clock: FakeClock) -> None:
    hook = broker.create_webhook(receiver.url, event_types=["agent.*"], timeout_seconds=1)
    broker.create_agent()
    receiver.script = [("sleep", 1.6)]
    deliver(broker)
    (failed,) = deliveries(broker, hook)
    assert failed["status"] == "failed" and "timed out" in failed["last_error"]
    clock.advance(timedelta(seconds=3))
    deliver(broker)
    assert deliveries(broker, hook)[0]["status"] == "success"


def test_a_permanent_client_error_is_not_retried(
    broker: Broker, receiver: Receiver, clock: FakeClock
) -> None:
    hook = broker.create_webhook(receiver.url, event_types=["agent.*"], max_retries=5)
    broker.create_agent()
    receiver.script = [400]
    deliver(broker)
    (dead,) = deliveries(broker, hook)
    assert (dead["status"], dead["attempts"]) == ("dead", 1)
    clock.advance(timedelta(hours=1))
    assert deliver(broker) == 0 and len(receiver.received) == 1


def test_a_delivery_is_dead_after_max_retries_attempts(
    broker: Broker, receiver: Receiver, clock: FakeClock
) -> None:
    hook = broker.create_webhook(receiver.url, event_types=["agent.*"], max_retries=2)
    broker.create_agent()
    receiver.script = [503, 503, 503]
    deliver(broker)
    clock.advance(timedelta(seconds=3))
    deliver(broker)
    (dead,) = deliveries(broker, hook)
    assert (dead["status"], dead["attempts"]) == ("dead", 2)
    clock.advance(timedelta(hours=1))
    assert deliver(broker) == 0 and len(receiver.received) == 2
    failures = broker.audit(action="webhook.delivery_failed")
    assert failures["total"] == 1 and failures["logs"][0]["actor_type"] == "system"


def test_deliveries_routed_to_agents_are_left_to_them(broker: Broker, receiver: Receiver) -> None:
    hook = broker.create_webhook(receiver.url, event_types=["agent.*"], target_labels=["inside"])
    broker.create_agent()
    assert deliver(broker) == 0 and receiver.received == []
    assert deliveries(broker, hook)[0]["status"] == "pending"


def test_a_disabled_subscription_gets_no_deliveries(broker: Broker, receiver: Receiver) -> None:
    hook = broker.create_webhook(receiver.url, event_types=["*"])
    broker.ok("PUT", f"/webhooks/{hook['id']}", json={"enabled": False})
    broker.create_agent()
    assert deliveries(broker, hook) == [] and deliver(broker) == 0
