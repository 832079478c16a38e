"""The target-state version moves on committed changes to target-state inputs, and only on those."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Engine

from brokkr_adapters_postgres.notifications import APPLICATION_NAME, TargetStateVersion
from brokkr_adapters_postgres.uow import SqlUnitOfWorkFactory
from brokkr_domain.testing import builders as b
from brokkr_domain.testing.contracts._support import seed_agent, seed_stack
from brokkr_domain.testing.fakes import FakeClock


@pytest.fixture
def version(engine: Engine) -> Iterator[TargetStateVersion]:
    listener = TargetStateVersion(engine, wait_seconds=0.05).start()
    assert listener.version is not None, "the listener connects at start"
    yield listener
    listener.stop()


def settle(listener: TargetStateVersion, seconds: float = 0.3) -> int:
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


def moved(listener: TargetStateVersion, before: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = listener.version
        if now is not None and now > before:
            return True
        time.sleep(0.01)
    return False


def test_committed_changes_move_the_version_heartbeats_and_rollbacks_do_not(
    uow_factory: SqlUnitOfWorkFactory, version: TargetStateVersion, clock: FakeClock
) -> None:
    with uow_factory() as uow:
        agent = seed_agent(uow, clock.now())
        uow.commit()
    start = settle(version)

    with uow_factory() as uow:
        uow.agents.touch_heartbeat(agent.id, clock.now())
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
    listener = TargetStateVersion(engine, wait_seconds=0.05, reconnect_seconds=0.05).start()
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
