"""Notifications: the target-state version moves on committed changes to target-state inputs and only on those;
messages on other channels reach every subscriber."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Engine

from brokkr_adapters_postgres.notifications import APPLICATION_NAME, Notifications
from brokkr_adapters_postgres.uow import SqlUnitOfWorkFactory
from brokkr_domain.testing import builders as b
from brokkr_domain.testing.contracts._support import seed_agent, seed_stack
from brokkr_domain.testing.fakes import FakeClock


@pytest.fixture
def version(engine: Engine) -> Iterator[Notifications]:
    listener = Notifications(engine, wait_seconds=0.05).start()
    assert listener.version is not None, "the listener connects at start"
    yield listener
    listener.stop()


def settle(listener: Notifications, seconds: float = 0.3) -> int:
    """The version once no notification arrived for ``seconds``."""
    last = listener.version
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:
        time.sleep(seconds)
        now = listener.version
        if now == last and now is not None:
            return now
        last = now
    raise AssertionError("the version never settled")


def moved(listener: Notifications, before: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = listener.version
        if now is not None and now > before:
            return True
        time.sleep(0.01)
    return False


def test_committed_changes_move_the_version_heartbeats_and_rollbacks_do_not(
    uow_factory: SqlUnitOfWorkFactory, version: Notifications, clock: FakeClock
) -> None:
    with uow_factory() as uow:
        agent = seed_agent(uow, clock.now())
        uow.commit()
    start = settle(version)

    with uow_factory() as uow:
        uow.agents.touch_heartbeats({agent.id: clock.now()})
        uow.commit()
    with uow_factory() as uow:
        seed_stack(uow, clock.now(), labels=("fleet",))  # never committed
    assert settle(version) == start, "heartbeats and rolled-back work leave cached answers valid"

    changes: list[Callable[[], object]] = []
    with uow_factory() as uow:
        stack = seed_stack(uow, clock.now())
        uow.commit()
    assert moved(version, start)
    changes.append(lambda: uow.agents.add_label(b.agent_label(agent.id, "edge")))
    changes.append(lambda: uow.stacks.add_label(b.stack_label(stack.id, "edge")))
    changes.append(lambda: uow.deployment_objects.add(b.deployment_object(clock.now(), stack.id)))
    changes.append(lambda: uow.agents.soft_delete(agent.id, clock.now()))
    for change in changes:
        before = settle(version)
        with uow_factory() as uow:
            change()
            uow.commit()
        assert moved(version, before), "every committed change of a target-state input moves the version"


def test_the_version_is_unknown_while_disconnected_and_moves_on_reconnect(engine: Engine) -> None:
    listener = Notifications(engine, wait_seconds=0.05, reconnect_seconds=0.05).start()
    try:
        before = listener.version
        assert before is not None
        with engine.connect() as conn:  # what a database restart does to the listening session
            conn.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
                (APPLICATION_NAME,),
            )
        assert moved(listener, before), "a lost connection invalidates every cached answer"
    finally:
        listener.stop()
    assert listener.version is None, "a stopped listener vouches for nothing"


def test_messages_reach_every_subscriber_until_it_unsubscribes(engine: Engine) -> None:
    first = Notifications(engine, wait_seconds=0.05).start()
    second = Notifications(engine, wait_seconds=0.05).start()
    got: dict[str, list[str]] = {"first": [], "second": []}
    try:
        first.subscribe("brokkr_test_channel", got["first"].append)
        stop_second = second.subscribe("brokkr_test_channel", got["second"].append)
        deadline = time.monotonic() + 5  # each starts LISTENing to a new channel on its next wait cycle
        while not (got["first"] and got["second"]):
            assert time.monotonic() < deadline, "the subscribers never started listening"
            first.publish("brokkr_test_channel", "ping")
            time.sleep(0.1)
        time.sleep(0.2)
        got["first"].clear()
        got["second"].clear()

        first.publish("brokkr_test_channel", "hello")
        assert eventually(lambda: got["first"] == ["hello"] and got["second"] == ["hello"])
        stop_second()
        first.publish("brokkr_test_channel", "again")
        assert eventually(lambda: got["first"] == ["hello", "again"]), "the publisher's own process hears it"
        time.sleep(0.2)
        assert got["second"] == ["hello"], "an unsubscribed callback hears nothing more"
        with pytest.raises(ValueError, match="channel"):
            first.publish("bad; DROP TABLE agents", "x")
    finally:
        first.stop()
        second.stop()


def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True
