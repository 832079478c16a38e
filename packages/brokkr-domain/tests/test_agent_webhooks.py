"""Agent-side webhook delivery and the heartbeat tick, against the fake broker."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping

import pytest

from brokkr_domain.agent.heartbeat import heartbeat_tick
from brokkr_domain.agent.webhooks import deliver_pending_webhooks
from brokkr_domain.errors import TransientError
from brokkr_domain.model import DeliveryOutcome, PendingWebhookDelivery
from brokkr_domain.rules.webhooks import verify_signature
from brokkr_domain.testing.fake_broker import FakeBrokerGateway
from brokkr_domain.testing.fakes import FakeClock


class RecordingSender:
    """A WebhookSender that records requests and answers from a script (success unless told otherwise)."""

    def __init__(self, answers: Mapping[str, DeliveryOutcome] | None = None) -> None:
        self.requests: list[tuple[str, bytes, dict[str, str], float]] = []
        self.answers = dict(answers or {})

    def post(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout_seconds: float
    ) -> DeliveryOutcome:
        self.requests.append((url, body, dict(headers), timeout_seconds))
        if url.endswith("/explode"):
            raise OSError("socket closed")
        return self.answers.get(url, DeliveryOutcome(success=True, status_code=200))


def delivery(url: str, **overrides: object) -> PendingWebhookDelivery:
    fields: dict[str, object] = {
        "id": uuid.uuid4(),
        "subscription_id": uuid.uuid4(),
        "event_type": "deployment.applied",
        "payload": '{"id":"e1","event_type":"deployment.applied","data":{}}',
        "url": url,
    }
    return PendingWebhookDelivery(**(fields | overrides))  # type: ignore[arg-type]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_delivers_with_the_brokers_headers_and_signature(clock: FakeClock) -> None:
    broker = FakeBrokerGateway(clock)
    agent = broker.add_agent()
    signed = delivery(
        "https://a.example/hook", auth_header="Bearer t", signing_secret="s3cret", timeout_seconds=7
    )
    plain = delivery("https://b.example/hook")
    broker.add_webhook(agent.id, signed)
    broker.add_webhook(agent.id, plain)
    sender = RecordingSender()

    attempts = deliver_pending_webhooks(broker, sender, agent.id, clock)

    assert [a.delivery_id for a in attempts] == [signed.id, plain.id]
    by_url = {request[0]: request for request in sender.requests}  # sent side by side: in any order
    _, body, headers, timeout = by_url["https://a.example/hook"]
    assert timeout == 7.0
    assert body == signed.payload.encode()
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Brokkr-Event-Type"] == "deployment.applied"
    assert headers["X-Brokkr-Delivery-Id"] == str(signed.id)
    assert headers["Authorization"] == "Bearer t"
    assert verify_signature(
        "s3cret", body, headers["X-Brokkr-Timestamp"], headers["X-Brokkr-Signature"], now=clock.now()
    )
    unsigned = by_url["https://b.example/hook"][2]
    assert "X-Brokkr-Signature" not in unsigned
    assert "Authorization" not in unsigned
    assert [outcome.success for _, outcome in broker.webhook_outcomes] == [True, True]


def test_a_slow_receiver_delays_neither_other_deliveries_nor_their_reports(clock: FakeClock) -> None:
    broker = FakeBrokerGateway(clock)
    agent = broker.add_agent()
    slow, fast = delivery("https://slow.example/hook"), delivery("https://fast.example/hook")
    broker.add_webhook(agent.id, slow)  # first in the batch
    broker.add_webhook(agent.id, fast)
    seen_while_slow: list[bool] = []

    class SlowFirst(RecordingSender):
        def post(
            self, url: str, body: bytes, headers: Mapping[str, str], timeout_seconds: float
        ) -> DeliveryOutcome:
            if url == slow.url:  # answers only once the fast delivery was reported (or gives up after 5 s)
                deadline = time.monotonic() + 5
                while (
                    not any(i == fast.id for i, _ in broker.webhook_outcomes) and time.monotonic() < deadline
                ):
                    time.sleep(0.005)
                seen_while_slow.append(any(i == fast.id for i, _ in broker.webhook_outcomes))
            return super().post(url, body, headers, timeout_seconds)

    attempts = deliver_pending_webhooks(broker, SlowFirst(), agent.id, clock)
    assert seen_while_slow == [True]
    assert [a.delivery_id for a in attempts] == [slow.id, fast.id] and all(a.reported for a in attempts)
    assert [i for i, _ in broker.webhook_outcomes] == [fast.id, slow.id]


def test_reports_go_on_when_one_cannot_reach_the_broker_and_the_batch_then_raises(clock: FakeClock) -> None:
    unlucky, lucky = delivery("https://a.example/hook"), delivery("https://b.example/hook")

    class FlakyReports(FakeBrokerGateway):
        def report_webhook(self, delivery_id: uuid.UUID, outcome: DeliveryOutcome) -> None:
            if delivery_id == unlucky.id:
                raise TransientError("broker unreachable", code="broker_unreachable")
            super().report_webhook(delivery_id, outcome)

    broker = FlakyReports(clock)
    agent = broker.add_agent()
    broker.add_webhook(agent.id, unlucky)
    broker.add_webhook(agent.id, lucky)
    with pytest.raises(TransientError, match="broker unreachable"):
        deliver_pending_webhooks(broker, RecordingSender(), agent.id, clock)
    assert [i for i, _ in broker.webhook_outcomes] == [lucky.id]


def test_failures_are_reported_not_raised(clock: FakeClock) -> None:
    broker = FakeBrokerGateway(clock)
    agent = broker.add_agent()
    rejected = delivery("https://c.example/hook")
    broken = delivery("https://d.example/explode")
    broker.add_webhook(agent.id, rejected)
    broker.add_webhook(agent.id, broken)
    sender = RecordingSender(
        {rejected.url: DeliveryOutcome(success=False, status_code=500, error="HTTP 500: oops")}
    )
    deliver_pending_webhooks(broker, sender, agent.id, clock)
    outcomes = dict(broker.webhook_outcomes)
    assert outcomes[rejected.id].error == "HTTP 500: oops"
    assert outcomes[broken.id].success is False
    assert "socket closed" in (outcomes[broken.id].error or "")


def test_a_broker_outage_stops_the_batch(clock: FakeClock) -> None:
    broker = FakeBrokerGateway(clock)
    agent = broker.add_agent()
    broker.outage = True
    with pytest.raises(TransientError):
        deliver_pending_webhooks(broker, RecordingSender(), agent.id, clock)


def test_heartbeat_then_fresh_status(clock: FakeClock) -> None:
    broker = FakeBrokerGateway(clock)
    agent = broker.add_agent(status="INACTIVE")
    broker.set_agent_status(agent.id, "ACTIVE")
    current = heartbeat_tick(broker, agent.id)
    assert current.is_active
    assert current.last_heartbeat == clock.now()
    assert broker.heartbeats == [(agent.id, clock.now())]
    broker.outage = True
    with pytest.raises(TransientError):
        heartbeat_tick(broker, agent.id)
