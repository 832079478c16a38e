"""The in-memory store beyond the port contracts: isolation, locking and misuse."""

from __future__ import annotations

import threading

import pytest

from brokkr_domain.testing import FakeClock, InMemoryStore, InMemoryUnitOfWorkFactory
from brokkr_domain.testing import builders as b


def test_uncommitted_changes_are_invisible_to_the_snapshot() -> None:
    factory = InMemoryUnitOfWorkFactory()
    agent = b.agent(FakeClock().now())
    with factory() as uow:
        uow.agents.add(agent)
        assert agent.id not in factory.store.snapshot().agents
        uow.commit()
    assert factory.store.snapshot().agents[agent.id] == agent


def test_nesting_in_one_thread_fails_fast_instead_of_deadlocking() -> None:
    factory = InMemoryUnitOfWorkFactory()
    with factory(), pytest.raises(RuntimeError, match="already open"), factory():
        pass
    with factory() as uow:  # the outer one released the lock
        assert uow.agents.list() == []


def test_repositories_need_an_open_unit_of_work() -> None:
    uow = InMemoryUnitOfWorkFactory()()
    with pytest.raises(RuntimeError, match="not open"):
        uow.agents.list()
    with pytest.raises(RuntimeError, match="not open"):
        uow.rollback()


def test_units_of_work_in_other_threads_wait_for_the_open_one() -> None:
    store = InMemoryStore()
    factory = InMemoryUnitOfWorkFactory(store)
    clock = FakeClock()
    first, second = b.agent(clock.now()), b.agent(clock.now())
    seen: list[int] = []

    def other() -> None:
        with factory() as uow:
            seen.append(len(uow.agents.list()))
            uow.agents.add(second)
            uow.commit()

    with factory() as uow:
        uow.agents.add(first)
        worker = threading.Thread(target=other)
        worker.start()
        worker.join(timeout=0.2)
        assert worker.is_alive()  # blocked on the store
        uow.commit()
    worker.join(timeout=5)
    assert seen == [1]  # it saw the committed state, not a half-done one
    assert set(store.snapshot().agents) == {first.id, second.id}


def test_stored_objects_are_the_ones_returned_with_a_sequence() -> None:
    factory = InMemoryUnitOfWorkFactory()
    clock = FakeClock()
    with factory() as uow:
        generator = uow.generators.add(b.generator(clock.now()))
        stack = uow.stacks.add(b.stack(clock.now(), generator.id))
        stored = uow.deployment_objects.add(b.deployment_object(clock.now(), stack.id))
        uow.commit()
    assert stored.sequence_id == 1
    assert factory.store.snapshot().deployment_objects[stored.id] == stored
