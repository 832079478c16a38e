"""Webhook use cases against the in-memory adapters: subscriptions, agent and broker delivery, retries."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brokkr_domain.errors import ConflictError, ForbiddenError, NotFoundError, ValidationError
from brokkr_domain.model import (
    Actor,
    Agent,
    Caller,
    DeliveryOutcome,
    DeliveryStatus,
    WebhookDelivery,
    WebhookFilters,
    WebhookSubscription,
)
from brokkr_domain.rules.webhooks import EVENT_TYPES, MAX_TIMEOUT_SECONDS, verify_signature
from brokkr_domain.testing import FakeClock, InMemoryUnitOfWorkFactory, RecordingAuditSink, SequentialIds
from brokkr_domain.testing import builders as b
from brokkr_domain.usecases import webhooks as uc
from brokkr_domain.usecases._authz import KEEP
from brokkr_domain.usecases.context import Services

MISSING = UUID(int=2**127)  # never handed out by SequentialIds or uuid4
ADMIN = Caller(actor=Actor.admin())
FAIL = DeliveryOutcome(success=False, status_code=503, error="HTTP 503: busy")
OK = DeliveryOutcome(success=True, status_code=200)


class World:
    def __init__(self) -> None:
        self.clock = FakeClock()
        self.audit = RecordingAuditSink()
        self.uow = InMemoryUnitOfWorkFactory()
        self.s = Services(uow=self.uow, clock=self.clock, ids=SequentialIds(), audit=self.audit)

    def agent(self, *labels: str) -> Agent:
        agent = b.agent(self.clock.now())
        with self.uow() as uow:
            uow.agents.add(agent)
            for label in labels:
                uow.agents.add_label(b.agent_label(agent.id, label))
            uow.commit()
        return agent

    def deliveries(self, sub: WebhookSubscription, count: int = 1) -> list[WebhookDelivery]:
        rows = []
        with self.uow() as uow:
            for _ in range(count):
                self.clock.advance(1)
                rows.append(
                    uow.deliveries.add(b.delivery(self.clock.now(), sub.id, target_labels=sub.target_labels))
                )
            uow.commit()
        return rows

    def delivery(self, delivery_id: UUID) -> WebhookDelivery:
        return self.uow.store.snapshot().webhook_deliveries[delivery_id]


def me(agent: Agent) -> Caller:
    return Caller(actor=Actor.agent(agent.id))


@pytest.fixture
def w() -> World:
    return World()


def create(w: World, **kwargs: Any) -> WebhookSubscription:
    fields: dict[str, Any] = {"name": "hook", "url": "https://example.test/hook", "event_types": ["*"]}
    return uc.create_webhook(w.s, ADMIN, **(fields | kwargs))


# --- subscriptions ----------------------------------------------------------------------------------------


def test_create_applies_defaults_and_audits(w: World) -> None:
    sub = create(w, event_types=["workorder.*", "workorder.*", "agent.registered"], auth_header="Bearer t")
    assert (sub.enabled, sub.max_retries, sub.timeout_seconds, sub.created_by) == (True, 5, 30, "admin")
    assert sub.event_types == ("workorder.*", "agent.registered")
    assert uc.get_webhook(w.s, ADMIN, sub.id) == sub
    [entry] = w.audit.entries
    assert (entry.action, entry.resource_type) == ("webhook.created", "webhook_subscription")
    assert entry.details == {"name": "hook", "event_types": ["workorder.*", "agent.registered"]}


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"url": ""}, "url_required"),
        ({"url": "ftp://example.test"}, "invalid_url_scheme"),
        ({"event_types": []}, "invalid_webhook"),
        ({"event_types": ["deployment*"]}, "invalid_webhook"),
        ({"max_retries": -1}, "invalid_webhook"),
        ({"timeout_seconds": 0}, "invalid_webhook"),
        ({"signing_secret": " "}, "invalid_webhook"),
        ({"auth_header": "a\r\nb"}, "invalid_webhook"),
    ],
)
def test_create_validates(w: World, kwargs: dict[str, Any], code: str) -> None:
    with pytest.raises(ValidationError) as err:
        create(w, **kwargs)
    assert err.value.code == code
    assert uc.list_webhooks(w.s, ADMIN) == []


def test_update_keeps_changes_and_clears(w: World) -> None:
    sub = create(
        w,
        auth_header="Bearer t",
        signing_secret="s3cret",
        filters=WebhookFilters(stack_id=UUID(int=1)),
        target_labels=["edge"],
    )
    w.clock.advance(5)
    updated = uc.update_webhook(w.s, ADMIN, sub.id, enabled=False, auth_header=None, filters=None)
    assert (updated.enabled, updated.auth_header, updated.filters) == (False, None, None)
    assert (updated.signing_secret, updated.target_labels, updated.url) == ("s3cret", ("edge",), sub.url)
    assert updated.updated_at == w.clock.now() and updated.created_at == sub.created_at
    cleared = uc.update_webhook(w.s, ADMIN, sub.id, target_labels=None, url="http://other.test/x", name=KEEP)
    assert (cleared.target_labels, cleared.url, cleared.name) == (None, "http://other.test/x", "hook")
    with pytest.raises(ValidationError):
        uc.update_webhook(w.s, ADMIN, sub.id, event_types=[])
    assert w.audit.entries[-1].details == {
        "name": "hook",
        "enabled": False,
        "changed": ["target_labels", "url"],
    }
    with pytest.raises(NotFoundError) as err:
        uc.update_webhook(w.s, ADMIN, MISSING, enabled=True)
    assert err.value.code == "webhook_not_found"


def test_delete_cascades_deliveries(w: World) -> None:
    sub = create(w)
    w.deliveries(sub, 2)
    uc.delete_webhook(w.s, ADMIN, sub.id)
    assert w.uow.store.snapshot().webhook_deliveries == {}
    assert w.audit.actions()[-1] == "webhook.deleted"
    with pytest.raises(NotFoundError):
        uc.delete_webhook(w.s, ADMIN, sub.id)


def test_list_newest_first_and_event_types(w: World) -> None:
    first = create(w, name="a")
    w.clock.advance(1)
    second = create(w, name="b")
    assert [s.id for s in uc.list_webhooks(w.s, ADMIN)] == [second.id, first.id]
    assert uc.list_event_types(w.s, ADMIN) == list(EVENT_TYPES)
    assert len(EVENT_TYPES) == 12


def test_list_deliveries_filters_pages_and_validates(w: World) -> None:
    sub = create(w)
    rows = w.deliveries(sub, 3)
    newest_first = [row.id for row in reversed(rows)]
    assert [d.id for d in uc.list_deliveries(w.s, ADMIN, sub.id)] == newest_first
    assert [d.id for d in uc.list_deliveries(w.s, ADMIN, sub.id, limit=1, offset=1)] == newest_first[1:2]
    assert len(uc.list_deliveries(w.s, ADMIN, sub.id, limit=5000)) == 3  # clamped, not refused
    assert uc.list_deliveries(w.s, ADMIN, sub.id, status="dead") == []
    for bad in ({"status": "bogus"}, {"limit": -1}, {"offset": -1}):
        with pytest.raises(ValidationError) as err:
            uc.list_deliveries(w.s, ADMIN, sub.id, **bad)
        assert err.value.code == "invalid_query"
    with pytest.raises(NotFoundError):
        uc.list_deliveries(w.s, ADMIN, MISSING)


# --- agent delivery ---------------------------------------------------------------------------------------


def test_agents_claim_routed_deliveries_with_decrypted_targets(w: World) -> None:
    edge = create(w, target_labels=["edge", "eu"], auth_header="Bearer x", signing_secret="k")
    broker = create(w, name="broker")
    w.deliveries(broker)
    rows = w.deliveries(edge, 12)
    both, only_edge = w.agent("edge", "eu", "gpu"), w.agent("edge")
    assert uc.pending_deliveries_for_agent(w.s, me(only_edge), only_edge.id) == []
    pending = uc.pending_deliveries_for_agent(w.s, me(both), both.id)
    assert [p.id for p in pending] == [row.id for row in rows[:10]]
    first = pending[0]
    assert (first.url, first.auth_header, first.signing_secret) == (
        "https://example.test/hook",
        "Bearer x",
        "k",
    )
    assert (first.timeout_seconds, first.max_retries, first.attempts) == (30, 5, 0)
    stored = w.delivery(first.id)
    assert (stored.status, stored.acquired_by) == (DeliveryStatus.ACQUIRED, both.id)
    assert stored.acquired_until == w.clock.now() + timedelta(seconds=60)
    assert [p.id for p in uc.pending_deliveries_for_agent(w.s, ADMIN, both.id)] == [r.id for r in rows[10:]]


@settings(max_examples=40, deadline=None)
@given(timeouts=st.lists(st.integers(min_value=1, max_value=MAX_TIMEOUT_SECONDS), min_size=1, max_size=5))
def test_an_agent_holds_each_delivery_for_its_timeout_plus_the_margin_and_a_minute_at_least(
    timeouts: list[int],
) -> None:
    w = World()
    agent = w.agent("edge")
    held_for = {}
    for n, timeout in enumerate(timeouts):
        [row] = w.deliveries(create(w, name=f"hook-{n}", target_labels=["edge"], timeout_seconds=timeout))
        held_for[row.id] = max(timedelta(seconds=timeout + 10), timedelta(seconds=60))
    expected = {i: w.clock.now() + lease for i, lease in held_for.items()}
    pending = uc.pending_deliveries_for_agent(w.s, me(agent), agent.id)
    assert {p.id: w.delivery(p.id).acquired_until for p in pending} == expected


def test_an_expired_agent_lease_goes_to_another_agent(w: World) -> None:
    sub = create(w, target_labels=["edge"])
    [row] = w.deliveries(sub)
    a1, a2 = w.agent("edge"), w.agent("edge")
    assert len(uc.pending_deliveries_for_agent(w.s, me(a1), a1.id)) == 1
    assert uc.pending_deliveries_for_agent(w.s, me(a2), a2.id) == []
    w.clock.advance(61)
    assert uc.claim_broker_batch(w.s, 50) == []  # the broker tick releases it, but does not take it
    assert [p.id for p in uc.pending_deliveries_for_agent(w.s, me(a2), a2.id)] == [row.id]
    with pytest.raises(ForbiddenError) as late:
        uc.report_delivery_result(w.s, me(a1), row.id, OK)
    assert late.value.code == "delivery_not_acquired_by_agent"


def test_agent_results_success_retry_and_dead(w: World) -> None:
    sub = create(w, target_labels=["edge"], max_retries=2)
    agent = w.agent("edge")
    [good, bad] = w.deliveries(sub, 2)
    uc.pending_deliveries_for_agent(w.s, me(agent), agent.id)
    done = uc.report_delivery_result(w.s, me(agent), good.id, OK)
    assert (done.status, done.attempts, done.completed_at) == (DeliveryStatus.SUCCESS, 1, w.clock.now())
    with pytest.raises(ConflictError):
        uc.report_delivery_result(w.s, me(agent), good.id, OK)
    failed = uc.report_delivery_result(w.s, me(agent), bad.id, FAIL)
    assert (failed.status, failed.attempts, failed.last_error) == (DeliveryStatus.FAILED, 1, "HTTP 503: busy")
    assert failed.next_retry_at == w.clock.now() + timedelta(seconds=2)
    w.clock.advance(2)
    uc.claim_broker_batch(w.s, 50)  # requeues the due retry
    uc.pending_deliveries_for_agent(w.s, me(agent), agent.id)
    dead = uc.report_delivery_result(w.s, me(agent), bad.id, FAIL)
    assert (dead.status, dead.attempts) == (DeliveryStatus.DEAD, 2)
    assert w.audit.actions()[-1] == "webhook.delivery_failed"
    assert w.audit.entries[-1].actor_id == agent.id


def test_a_permanent_client_error_is_dead_at_once(w: World) -> None:
    sub = create(w, target_labels=["edge"])
    agent = w.agent("edge")
    [row] = w.deliveries(sub)
    uc.pending_deliveries_for_agent(w.s, me(agent), agent.id)
    outcome = DeliveryOutcome(success=False, status_code=404, error="HTTP 404: gone")
    assert uc.report_delivery_result(w.s, me(agent), row.id, outcome).status is DeliveryStatus.DEAD


def test_results_come_from_agents_only(w: World) -> None:
    sub = create(w, target_labels=["edge"])
    agent = w.agent("edge")
    [row] = w.deliveries(sub)
    for caller in (ADMIN, Caller(actor=Actor.generator(UUID(int=3)))):
        with pytest.raises(ForbiddenError) as err:
            uc.report_delivery_result(w.s, caller, row.id, OK)
        assert err.value.code == "agent_pak_required"
    with pytest.raises(NotFoundError) as missing:
        uc.report_delivery_result(w.s, me(agent), MISSING, OK)
    assert missing.value.code == "delivery_not_found"
    with pytest.raises(ForbiddenError) as unclaimed:
        uc.report_delivery_result(w.s, me(agent), row.id, OK)
    assert unclaimed.value.code == "delivery_not_acquired_by_agent"


# --- broker delivery --------------------------------------------------------------------------------------


def test_broker_batches_take_only_broker_routed_deliveries(w: World) -> None:
    broker = create(w)
    edge = create(w, name="edge", target_labels=["edge"])
    w.deliveries(edge)
    rows = w.deliveries(broker, 3)
    batch = uc.claim_broker_batch(w.s, 2)
    assert [(d.id, s.id) for d, s in batch] == [(rows[0].id, broker.id), (rows[1].id, broker.id)]
    assert all(d.acquired_by is None and d.status is DeliveryStatus.ACQUIRED for d, _ in batch)
    assert [d.id for d, _ in uc.claim_broker_batch(w.s, 10)] == [rows[2].id]
    assert uc.claim_broker_batch(w.s, 10) == []


def test_broker_retry_timeline_2_4_8_then_dead(w: World) -> None:
    sub = create(w, max_retries=4)
    [row] = w.deliveries(sub)
    for attempt, delay in enumerate((2, 4, 8), start=1):
        [(delivery, _)] = uc.claim_broker_batch(w.s, 10)
        updated = uc.record_broker_outcome(w.s, delivery.id, FAIL)
        assert updated is not None
        assert (updated.status, updated.attempts) == (DeliveryStatus.FAILED, attempt)
        w.clock.advance(delay - 1)
        assert uc.claim_broker_batch(w.s, 10) == []
        w.clock.advance(1)
    [(delivery, _)] = uc.claim_broker_batch(w.s, 10)
    dead = uc.record_broker_outcome(w.s, delivery.id, FAIL)
    assert dead is not None and (dead.status, dead.attempts) == (DeliveryStatus.DEAD, 4)
    [entry] = [e for e in w.audit.entries if e.action == "webhook.delivery_failed"]
    assert (entry.actor_type, entry.details and entry.details["delivery_id"]) == ("system", str(row.id))


def test_broker_outcome_for_finished_or_missing_deliveries(w: World) -> None:
    sub = create(w)
    [row] = w.deliveries(sub)
    uc.claim_broker_batch(w.s, 10)
    done = uc.record_broker_outcome(w.s, row.id, OK)
    assert done is not None and done.status is DeliveryStatus.SUCCESS
    assert uc.record_broker_outcome(w.s, row.id, FAIL) == done  # a late duplicate changes nothing
    assert uc.record_broker_outcome(w.s, MISSING, OK) is None


def test_test_payload_is_signed_and_headed_like_a_delivery(w: World) -> None:
    sub = create(w, auth_header="Bearer t", signing_secret="k")
    test = uc.test_webhook_payload(w.s, ADMIN, sub.id)
    body = json.loads(test.payload)
    assert body["event_type"] == "webhook.test"
    assert body["data"]["subscription_id"] == str(sub.id)
    headers = test.headers
    assert headers["X-Brokkr-Event-Type"] == "webhook.test"
    assert headers["Authorization"] == "Bearer t"
    assert "X-Brokkr-Delivery-Id" in headers
    assert verify_signature(
        "k",
        test.payload,
        headers["X-Brokkr-Timestamp"],
        headers["X-Brokkr-Signature"],
        now=w.clock.now(),
    )
    assert w.uow.store.snapshot().webhook_deliveries == {}
    assert w.audit.actions()[-1] == "webhook.tested"
    with pytest.raises(NotFoundError):
        uc.test_webhook_payload(w.s, ADMIN, MISSING)
