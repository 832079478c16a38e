"""Several brokers on one PostgreSQL, and the background tasks running on their own threads.

Work that must happen once is claimed in the database, never in memory: two replicas delivering webhooks
concurrently send each delivery exactly once, and agents racing for a work order through different replicas
get it exactly once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import attrs
import pytest

from brokerapp_support import Broker, Receiver
from brokkr_domain.settings import Settings


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def small_batches(settings_for: Callable[..., Settings]) -> Settings:
    base = settings_for()
    return attrs.evolve(base, broker=attrs.evolve(base.broker, webhook_delivery_batch_size=3))


def deliver_until_idle(broker: Broker, start: threading.Barrier) -> int:
    task = next(t for t in broker.app.state.tasks if t.name == "webhook_delivery")
    start.wait(5)
    sent = 0
    while (n := task.run()) > 0:
        sent += n
    return sent


def test_two_replicas_never_send_a_delivery_twice(
    make_broker: Callable[..., Broker], settings_for: Callable[..., Settings], receiver: Receiver
) -> None:
    first = make_broker(small_batches(settings_for))
    first.create_webhook(receiver.url, event_types=["agent.registered"])
    for _ in range(20):
        first.create_agent()
    second = first.replica()
    with second.client:
        start = threading.Barrier(2)
        with ThreadPoolExecutor(2) as pool:
            counts = list(pool.map(lambda b: deliver_until_idle(b, start), [first, second]))
    assert sum(counts) == 20
    ids = [r.headers["x-brokkr-delivery-id"] for r in receiver.received]
    assert len(ids) == 20 and len(set(ids)) == 20


def test_agents_racing_through_two_replicas_claim_an_order_once(broker: Broker) -> None:
    agents = []
    for _ in range(8):
        agent, pak = broker.create_agent()
        broker.ok("POST", f"/agents/{agent['id']}/labels", json={"agent_id": agent["id"], "label": "builder"})
        agents.append((agent["id"], pak))
    order = broker.ok(
        "POST",
        "/work-orders",
        json={"work_type": "build", "yaml_content": "x", "targeting": {"labels": ["builder"]}},
        status=201,
    )
    other = broker.replica()
    with other.client:
        start = threading.Barrier(len(agents))

        def claim(n: int) -> int:
            agent_id, pak = agents[n]
            replica = broker if n % 2 else other
            start.wait(5)
            response = replica.request(
                "POST", f"/work-orders/{order['id']}/claim", pak, json={"agent_id": agent_id}
            )
            return response.status_code

        with ThreadPoolExecutor(len(agents)) as pool:
            statuses = sorted(pool.map(claim, range(len(agents))))
    assert statuses == [200] + [404] * (len(agents) - 1)


def test_background_tasks_run_on_their_own_and_stop_with_the_app(
    make_broker: Callable[..., Broker], settings_for: Callable[..., Settings], receiver: Receiver
) -> None:
    base = settings_for()
    settings = attrs.evolve(base, broker=attrs.evolve(base.broker, webhook_delivery_interval_seconds=1))
    setup = make_broker(settings)  # an initialised database
    setup.create_webhook(receiver.url, event_types=["agent.registered"])
    running = setup.replica(background=True)
    with running.client:
        running.create_agent()
        deadline = time.monotonic() + 5
        while not receiver.received and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(receiver.received) == 1
        tasks = running.app.state.tasks
        assert all(t._thread is not None and t._thread.is_alive() for t in tasks)
    assert not any(t._thread.is_alive() for t in tasks)
