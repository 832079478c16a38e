"""Several hanging webhook receivers together never hold more than half of the delivery slots.

Six subscriptions point at receivers that never answer (each POST times out after the subscription's 1 s);
one points at a receiver that answers at once. Events keep coming. Once the hanging POSTs have been open for
``slow_after``, their subscriptions count as slow: each gets at most one delivery in flight and all of them
together at most half of the worker's slots, so the fast receiver keeps the other half and gets every event
within a tick or two. A slow subscription whose receiver answers again is fast again.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from uuid import UUID

import pytest

from brokerapp_faults_support import HoldingReceiver
from brokerapp_support import Broker
from brokkr_broker_app.webhook_worker import WebhookDeliveryWorker

SLOTS = 8  # a quarter (2) per subscription, half (4) for the slow ones together
HANGING = 6  # 6 x 2 > 8: without the slow lane, hanging receivers could hold every slot
SLOW_AFTER = 0.3
WARM_UP = 1.6  # the first hanging POSTs time out after 1 s; after that the lane holds
DURATION = 5.0
TICK = 0.05


@pytest.fixture
def receivers() -> Iterator[tuple[list[HoldingReceiver], HoldingReceiver]]:
    with ExitStack() as stack:
        hanging = [stack.enter_context(HoldingReceiver(holding=True)) for _ in range(HANGING)]
        yield hanging, stack.enter_context(HoldingReceiver(holding=False))


def worker_for(broker: Broker) -> WebhookDeliveryWorker:
    c = broker.container
    return WebhookDeliveryWorker(
        broker.services, c.live(), c.webhook_sender(), c.metrics(), slots=SLOTS, slow_after=SLOW_AFTER
    )


def subscribe(broker: Broker, url: str) -> UUID:
    return UUID(broker.create_webhook(url, event_types=["agent.registered"], timeout_seconds=1)["id"])


def test_slow_receivers_share_at_most_half_of_the_slots(
    broker: Broker, receivers: tuple[list[HoldingReceiver], HoldingReceiver]
) -> None:
    hanging, fast = receivers
    slow_ids = {subscribe(broker, r.url) for r in hanging}
    fast_id = subscribe(broker, fast.url)
    worker = worker_for(broker)
    started = time.monotonic()
    events, lags, worst_slow, samples = 0, [], 0, 0
    pending: list[tuple[int, float]] = []
    try:
        while (now := time.monotonic()) - started < DURATION:
            if events < (now - started) / 0.2:  # an event every 0.2 s
                broker.create_agent()
                events += 1
                pending.append((events, time.monotonic()))
            worker.tick()
            held = worker.in_flight_by_subscription()
            if now - started > WARM_UP:
                samples += 1
                slow_held = sum(held.get(i, 0) for i in slow_ids)
                worst_slow = max(worst_slow, slow_held)
                assert slow_held <= SLOTS // 2, held
                assert all(held.get(i, 0) <= SLOTS // 4 for i in slow_ids), held
            while pending and fast.count() >= pending[0][0]:
                _, sent = pending.pop(0)
                if sent - started > WARM_UP:  # before, the first hanging POSTs could hold every slot
                    lags.append(time.monotonic() - sent)
            time.sleep(TICK)
        assert worker.slow_subscriptions() >= slow_ids
        assert fast_id not in worker.slow_subscriptions()
        assert fast.wait_for(events, timeout=5), (fast.count(), events)
    finally:
        for r in hanging:
            r.release()
        worker.wait_idle(timeout=10)
    assert samples > 20 and worst_slow >= 1  # the lane was in use, not empty
    assert lags and max(lags) < 0.9, lags  # a tick or two; with every slot hanging, up to their 1 s timeout
    print(
        f"\n{events} events; fast receiver lag max {max(lags) * 1000:.0f} ms; slow subscriptions held "
        f"at most {worst_slow} of {SLOTS} slots after warm-up"
    )


def test_a_slow_receiver_that_answers_again_is_fast_again(
    broker: Broker, receivers: tuple[list[HoldingReceiver], HoldingReceiver]
) -> None:
    hanging = receivers[0][0]
    sub_id = subscribe(broker, hanging.url)
    worker = worker_for(broker)
    broker.create_agent()
    assert worker.tick() == 1
    time.sleep(SLOW_AFTER + 0.1)
    assert worker.slow_subscriptions() == {sub_id}  # still open: slow before it times out
    assert worker.wait_idle(timeout=5)
    assert worker.slow_subscriptions() == {sub_id}  # timed out: remembered
    hanging.release()  # answers at once from now on
    broker.create_agent()
    assert worker.run_batch() == 1  # one at a time while slow
    assert worker.slow_subscriptions() == frozenset()
