"""``AgentLoops`` and ``Loop`` with the domain's fakes: status gating, drift-check spacing, bounded work-order
concurrency, and a loop that survives any failure."""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from agentapp_clusters import SHIPWRIGHT_CRDS
from agentapp_support import wait_for
from brokkr_agent_app.loops import DRIFT_CHECK_TICKS, AgentLoops, Loop
from brokkr_agent_app.metrics import AgentMetrics
from brokkr_agent_app.status import AgentStatus
from brokkr_agent_app.webhook_sender import HttpxWebhookSender
from brokkr_domain.errors import TransientError
from brokkr_domain.manifests import ObjectRef
from brokkr_domain.model import Agent, WorkOrderStatus
from brokkr_domain.settings import AgentSettings
from brokkr_domain.testing import FakeClock
from brokkr_domain.testing.builders import deployment_object
from brokkr_domain.testing.fake_broker import FakeBrokerGateway
from brokkr_domain.testing.fake_cluster import FakeCluster

THREE_MAPS = "---\n".join(
    f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: m{i}, namespace: default}}\ndata: {{k: v}}\n"
    for i in range(3)
)


class World:
    def __init__(self, concurrency: int = 2, polling_interval: float = 10.0) -> None:
        self.clock = FakeClock()
        self.broker = FakeBrokerGateway(self.clock)
        self.cluster = FakeCluster()
        self.agent: Agent = self.broker.add_agent(name="a", cluster_name="c")
        self.settings = AgentSettings(polling_interval=polling_interval, work_order_concurrency=concurrency)
        self.loops = AgentLoops(
            agent_id=self.agent.id,
            settings=self.settings,
            gateway=self.broker,
            cluster=self.cluster,
            sender=HttpxWebhookSender(),
            clock=self.clock,
            status=AgentStatus(),
            metrics=AgentMetrics(),
            agent_status=self.agent.status,
        )

    def finish_builds(self) -> None:
        """End every build still followed (the fake clock never reaches their time-out)."""
        for live in self.cluster.objects():
            if live["kind"] == "BuildRun":
                self.cluster.put(
                    {**live, "status": {"conditions": [{"type": "Succeeded", "status": "False"}]}}
                )


@pytest.fixture
def world() -> Iterator[World]:
    made = World(polling_interval=0.2)
    yield made
    made.finish_builds()
    made.loops.pool.shutdown(wait=True, cancel_futures=True)


def test_only_an_active_agent_deploys_and_heartbeats_switch_it(world: World) -> None:
    stack_id = uuid.uuid4()
    world.broker.set_target_state(world.agent.id, [deployment_object(world.clock.now(), stack_id)])
    world.broker.set_agent_status(world.agent.id, "INACTIVE")
    world.loops.heartbeat_tick()
    assert world.loops.active is False and world.loops.status.agent_status == "INACTIVE"
    world.loops.control_tick()
    assert world.cluster.count_calls("apply") == 0
    world.broker.set_agent_status(world.agent.id, "ACTIVE")
    world.loops.heartbeat_tick()
    world.loops.control_tick()
    assert world.cluster.count_calls("apply") == 1
    assert world.loops.status.broker_connected and world.loops.status.last_heartbeat is not None


def test_a_failed_heartbeat_marks_the_broker_disconnected(world: World) -> None:
    world.loops.heartbeat_tick()
    world.broker.outage = True
    with pytest.raises(TransientError):
        world.loops.heartbeat_tick()
    assert world.loops.status.broker_connected is False


def test_converged_stacks_are_checked_for_drift_every_few_ticks_and_repaired(world: World) -> None:
    obj = deployment_object(world.clock.now(), uuid.uuid4(), yaml_content=THREE_MAPS)
    world.broker.set_target_state(world.agent.id, [obj])
    world.loops.control_tick()
    assert len(world.cluster.refs(kinds={"ConfigMap"})) == 3
    gets = []
    for _ in range(2 * DRIFT_CHECK_TICKS):  # the fake clock moves exactly one polling interval per tick
        world.clock.advance(world.settings.polling_interval)
        before = world.cluster.count_calls("get")
        world.loops.control_tick()
        gets.append(world.cluster.count_calls("get") - before)
    assert gets == ([0] * (DRIFT_CHECK_TICKS - 1) + [3]) * 2

    world.cluster.delete(ObjectRef("v1", "ConfigMap", "default", "m1"))
    for _ in range(DRIFT_CHECK_TICKS):
        world.clock.advance(world.settings.polling_interval)
        world.loops.control_tick()
    assert ObjectRef("v1", "ConfigMap", "default", "m1") in world.cluster.refs(kinds={"ConfigMap"})


def test_work_orders_run_off_the_loop_with_bounded_concurrency(world: World) -> None:
    for crd in SHIPWRIGHT_CRDS:
        world.cluster.put(crd)
    build = "apiVersion: shipwright.io/v1beta1\nkind: Build\nmetadata: {name: b}\nspec: {}\n"
    orders = [world.broker.add_work_order("build", build, agent_ids=[world.agent.id]) for _ in range(3)]

    def claimed() -> list[uuid.UUID]:
        current = [world.broker.work_orders.get(o.id) for o in orders]
        return [o.id for o in current if o is not None and o.status == WorkOrderStatus.CLAIMED]

    began = time.monotonic()
    world.loops.work_order_tick()
    assert time.monotonic() - began < 1.0, "the tick only hands the orders to the pool"
    wait_for(lambda: len(claimed()) == 2, message="two builds in flight")
    running = claimed()
    world.loops.work_order_tick()
    assert len(claimed()) == 2, "the pool is full: the third order waits"

    for order_id in running:
        live = world.cluster.get(
            ObjectRef("shipwright.io/v1beta1", "BuildRun", "default", f"b-{str(order_id)[:8]}")
        )
        assert live is not None
        world.cluster.put({**live, "status": {"conditions": [{"type": "Succeeded", "status": "True"}]}})
    wait_for(
        lambda: all(o.id not in world.broker.work_orders for o in orders if o.id in running), message="done"
    )
    world.loops.work_order_tick()
    [third] = [o.id for o in orders if o.id not in running]
    wait_for(lambda: claimed() == [third], message="the third order to start")


def test_a_loop_survives_any_failure_and_backs_off() -> None:
    ticks: list[float] = []
    failures = iter([TransientError("down"), RuntimeError("bug"), ValueError("odd")])

    def tick() -> None:
        ticks.append(time.monotonic())
        error = next(failures, None)
        if error is not None:
            raise error

    loop = Loop("test", 0.01, tick, max_backoff=0.05)
    loop.start()
    try:
        wait_for(lambda: len(ticks) >= 6, message="the loop to go on after three failures")
        assert loop.failures == 0
    finally:
        loop.stop()
        loop.join(1)
    assert not loop._thread.is_alive()
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert max(gaps[:3]) <= 0.2 and max(gaps[:3]) >= 0.01


def test_stop_waits_for_the_tick_in_progress() -> None:
    inside, release, finished = threading.Event(), threading.Event(), threading.Event()

    def tick() -> None:
        inside.set()
        release.wait(5)
        finished.set()

    loop = Loop("slow", 0.01, tick)
    loop.start()
    inside.wait(5)
    loop.stop()
    threading.Timer(0.2, release.set).start()
    loop.join(5)
    assert finished.is_set() and not loop._thread.is_alive()
