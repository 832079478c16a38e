"""A webhook receiver that hangs never stalls other subscriptions' deliveries or the API.

The broker runs its background tasks on their own threads, as in production (delivery interval 1 s). One
subscription's receiver accepts each request and never answers within the test (its subscription allows the
maximum timeout, 300 s); another subscription gets the same events from a receiver that answers at once. The
hanging subscription gets more events than the worker has slots, yet holds only a quarter of them. While the
hanging POSTs hold their slots, every event still reaches the fast receiver within a couple of seconds, and
API reads and writes answer quickly.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import attrs
import pytest

from brokerapp_faults_support import HoldingReceiver
from brokerapp_support import Broker
from brokkr_broker_app.webhook_worker import DELIVERY_SLOTS, WebhookDeliveryWorker
from brokkr_domain.rules.webhooks import MAX_TIMEOUT_SECONDS
from brokkr_domain.settings import Settings

EVENTS = 24  # more than the worker's 16 slots: the hanging subscription may hold only a quarter of them


@pytest.fixture
def receivers() -> Iterator[tuple[HoldingReceiver, HoldingReceiver]]:
    with HoldingReceiver(holding=True) as hanging, HoldingReceiver(holding=False) as fast:
        yield hanging, fast


@pytest.fixture
def broker(
    make_broker: Callable[..., Broker],
    settings_for: Callable[..., Settings],
    receivers: tuple[HoldingReceiver, HoldingReceiver],
) -> Iterator[Broker]:
    base = settings_for()
    settings = attrs.evolve(
        base,
        broker=attrs.evolve(base.broker, webhook_delivery_interval_seconds=1, shutdown_grace_seconds=1),
    )
    broker = make_broker(settings, background=True)
    yield broker
    receivers[0].release()  # let the hanging POSTs end before the app's shutdown waits for them


def test_a_hanging_receiver_stalls_neither_other_deliveries_nor_the_api(
    broker: Broker, receivers: tuple[HoldingReceiver, HoldingReceiver]
) -> None:
    hanging, fast = receivers
    broker.create_webhook(hanging.url, event_types=["agent.registered"], timeout_seconds=MAX_TIMEOUT_SECONDS)
    broker.create_webhook(fast.url, event_types=["agent.registered"])
    delivery_lags, api_latencies = [], []
    for n in range(EVENTS):
        started = time.monotonic()
        broker.create_agent()
        api_latencies.append(time.monotonic() - started)
        assert fast.wait_for(n + 1, timeout=20), f"event {n} did not reach the fast receiver"
        delivery_lags.append(time.monotonic() - started)
        started = time.monotonic()
        broker.ok("GET", "/agents")
        api_latencies.append(time.monotonic() - started)
    worker_cap = DELIVERY_SLOTS // 4
    assert hanging.wait_for(worker_cap, timeout=5)  # its first POSTs are open at once, none answered
    time.sleep(1.5)  # more ticks: the rest of its deliveries wait in the database
    assert hanging.count() == worker_cap
    # ~ one delivery interval each (1 s); a stall would last the hanging receiver's timeout (300 s)
    assert max(delivery_lags) < 10, delivery_lags
    assert max(api_latencies) < 5, api_latencies  # milliseconds in practice; generous under load
    task = next(t for t in broker.app.state.tasks if t.name == "webhook_delivery")
    worker = getattr(task.run, "__self__", None)
    assert isinstance(worker, WebhookDeliveryWorker)
    deadline = time.monotonic() + 10  # the last fast POST may still be recording its outcome
    while (in_flight := worker.in_flight) > worker_cap and time.monotonic() < deadline:
        time.sleep(0.02)
    assert in_flight == worker_cap  # the hanging deliveries, each holding its own slot
    print(
        f"\nfast receiver lag: max {max(delivery_lags):.2f} s; API latency: max {max(api_latencies) * 1000:.0f} ms "
        f"while {in_flight} POSTs hang"
    )
