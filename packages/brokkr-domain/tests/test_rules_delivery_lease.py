"""The broker's delivery lease follows its subscription's timeout.

Two promises, checked for every allowed timeout: while the POST of an attempt may still be running (up to the
timeout), nobody else can take the delivery; once a broker that held it is gone (it never reports), the
delivery comes back to the queue within timeout + margin and is sent again with the same ids.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brokkr_domain.errors import ConflictError
from brokkr_domain.model import Actor, Caller, DeliveryOutcome, DeliveryStatus, WebhookDelivery
from brokkr_domain.rules import deliveries as dl
from brokkr_domain.rules.webhooks import MAX_TIMEOUT_SECONDS
from brokkr_domain.testing import FakeClock, InMemoryUnitOfWorkFactory, RecordingAuditSink, SequentialIds
from brokkr_domain.testing import builders as b
from brokkr_domain.usecases import webhooks as uc
from brokkr_domain.usecases.context import Services

T0 = datetime(2024, 1, 1, tzinfo=UTC)
ADMIN = Caller(actor=Actor.admin())
timeouts = st.integers(min_value=1, max_value=MAX_TIMEOUT_SECONDS)


@given(timeout=timeouts, started=st.floats(min_value=0, max_value=1e6))
def test_a_attempt_lease_outlasts_the_attempt_and_ends_within_the_margin(
    timeout: int, started: float
) -> None:
    now = T0 + timedelta(seconds=started)
    leased = dl.acquire(b.delivery(T0, b.subscription(T0).id), None, now, dl.attempt_lease(timeout))
    assert dl.release_expired(leased, now + timedelta(seconds=timeout)) is None
    assert dl.release_expired(leased, now + dl.attempt_lease(timeout)) is None  # the lease's last instant
    released = dl.release_expired(
        leased, now + timedelta(seconds=timeout) + dl.LEASE_MARGIN + timedelta(0, 0, 1)
    )
    assert released is not None and released.status is DeliveryStatus.PENDING


def test_only_a_held_delivery_has_its_lease_renewed() -> None:
    leased = dl.acquire(b.delivery(T0, b.subscription(T0).id), None, T0)
    assert dl.renew_lease(leased, T0 + timedelta(seconds=5)).acquired_until == T0 + timedelta(seconds=5)
    for status in (DeliveryStatus.PENDING, DeliveryStatus.FAILED, DeliveryStatus.SUCCESS):
        with pytest.raises(ConflictError) as caught:
            dl.renew_lease(b.delivery(T0, b.subscription(T0).id, status=status), T0)
        assert caught.value.code == "delivery_not_acquired"


class World:
    def __init__(self) -> None:
        self.clock = FakeClock(T0)
        self.uow = InMemoryUnitOfWorkFactory()
        self.s = Services(uow=self.uow, clock=self.clock, ids=SequentialIds(), audit=RecordingAuditSink())

    def subscription_with_delivery(self, timeout: int) -> WebhookDelivery:
        sub = uc.create_webhook(
            self.s,
            ADMIN,
            name=f"hook-{timeout}",
            url="https://example.test/hook",
            event_types=["*"],
            timeout_seconds=timeout,
        )
        with self.uow() as uow:
            row = uow.deliveries.add(b.delivery(self.clock.now(), sub.id))
            uow.commit()
        return row


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(timeout_list=st.lists(timeouts, min_size=1, max_size=4), crashed_at=st.floats(0, 1))
def test_a_claim_abandoned_by_a_dead_broker_comes_back_after_its_own_lease(
    timeout_list: list[int], crashed_at: float
) -> None:
    w = World()
    rows = {w.subscription_with_delivery(t).id: t for t in timeout_list}
    claimed_at = w.clock.now()
    first = uc.claim_broker_batch(w.s, 50)
    assert {d.id for d, _ in first} == set(rows)
    for delivery, sub in first:
        assert sub.timeout_seconds == rows[delivery.id]
        assert delivery.acquired_until == claimed_at + dl.attempt_lease(rows[delivery.id])
    # The broker dies some time into the shortest attempt and never reports: nothing comes back before the
    # shortest timeout has passed, and each delivery comes back once its own lease has run out.
    shortest = min(rows.values())
    w.clock.advance(shortest * crashed_at)
    assert uc.claim_broker_batch(w.s, 50) == []
    original = {d.id: d for d, _ in first}
    for timeout in sorted(set(rows.values())):
        w.clock.set(claimed_at + dl.attempt_lease(timeout) + timedelta(microseconds=1))
        again = uc.claim_broker_batch(w.s, 50)
        assert {d.id for d, _ in again} == {i for i, t in rows.items() if t == timeout}
        for delivery, _ in again:  # same delivery, same event, no attempt counted by the crash; now delivered
            before = original[delivery.id]
            assert (delivery.event_id, delivery.payload, delivery.attempts) == (
                before.event_id,
                before.payload,
                0,
            )
            done = uc.record_broker_outcome(w.s, delivery.id, DeliveryOutcome(success=True, status_code=200))
            assert done is not None and (done.status, done.attempts) == (DeliveryStatus.SUCCESS, 1)


def test_an_explicit_ttl_is_used_as_given() -> None:
    w = World()
    row = w.subscription_with_delivery(300)
    [(delivery, _)] = uc.claim_broker_batch(w.s, 10, ttl=timedelta(seconds=3))
    assert delivery.id == row.id and delivery.acquired_until == T0 + timedelta(seconds=3)
