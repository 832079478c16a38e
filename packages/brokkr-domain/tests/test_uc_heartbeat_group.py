"""Group commit of heartbeats: concurrent heartbeats share one write, and each caller still learns exactly
what happened to its own (its agent live or not, or the database's failure), only after it was written."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brokkr_domain.errors import TransientError
from brokkr_domain.ports import UnitOfWork
from brokkr_domain.testing import InMemoryUnitOfWorkFactory
from brokkr_domain.testing import builders as b
from brokkr_domain.usecases.heartbeats import HeartbeatGroup

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def fleet(uow: InMemoryUnitOfWorkFactory, live: int, deleted: int) -> tuple[list[UUID], list[UUID]]:
    with uow() as tx:
        alive = [tx.agents.add(b.agent(T0)).id for _ in range(live)]
        gone = [tx.agents.add(b.agent(T0)).id for _ in range(deleted)]
        for agent_id in gone:
            tx.agents.soft_delete(agent_id, T0)
        tx.commit()
    return alive, gone


def last_heartbeat(uow: InMemoryUnitOfWorkFactory, agent_id: UUID) -> datetime | None:
    with uow() as tx:
        agent = tx.agents.get(agent_id, include_deleted=True)
        assert agent is not None
        return agent.last_heartbeat


class HeldFirstWrite:
    """A unit-of-work factory whose first write waits until ``release`` (a slow database round trip)."""

    def __init__(self, uow: InMemoryUnitOfWorkFactory) -> None:
        self.uow = uow
        self.started = threading.Event()
        self.release = threading.Event()
        self.calls = 0

    def __call__(self) -> UnitOfWork:
        self.calls += 1
        if self.calls == 1:
            self.started.set()
            assert self.release.wait(10)
        return self.uow()


def test_alone_a_heartbeat_is_written_at_once_and_says_whether_its_agent_is_live() -> None:
    uow = InMemoryUnitOfWorkFactory()
    [alive], [gone] = fleet(uow, 1, 1)
    group = HeartbeatGroup(uow)
    assert group.record(alive, T0 + timedelta(seconds=1)) is True
    assert last_heartbeat(uow, alive) == T0 + timedelta(seconds=1)
    assert group.record(gone, T0) is False and group.record(uuid4(), T0) is False
    assert group.writes == 3


def test_heartbeats_arriving_during_a_write_are_written_together_by_one_statement() -> None:
    uow = InMemoryUnitOfWorkFactory()
    alive, gone = fleet(uow, 30, 5)
    held = HeldFirstWrite(uow)
    group = HeartbeatGroup(held)
    callers = alive + gone
    with ThreadPoolExecutor(len(callers)) as pool:
        first = pool.submit(group.record, alive[0], T0 + timedelta(seconds=1))
        assert held.started.wait(5)  # the first write is on its way; everyone else arrives meanwhile
        rest = {i: pool.submit(group.record, i, T0 + timedelta(seconds=2)) for i in callers[1:]}
        while group.queued < len(callers) - 1:
            threading.Event().wait(0.005)
        held.release.set()
        results = {i: f.result(10) for i, f in rest.items()}
    assert first.result() is True
    assert results == {i: i in alive for i in callers[1:]}
    assert group.writes == 2  # the first alone, then all the others in one statement
    assert all(last_heartbeat(uow, i) == T0 + timedelta(seconds=2) for i in alive[1:])
    assert all(last_heartbeat(uow, i) is None for i in gone)


def test_a_failed_write_fails_every_heartbeat_of_its_group_and_the_next_group_is_written() -> None:
    uow = InMemoryUnitOfWorkFactory()
    alive, _ = fleet(uow, 3, 0)
    down = True

    def flaky() -> UnitOfWork:
        if down:
            raise TransientError("database unavailable", code="database_unavailable")
        return uow()

    group = HeartbeatGroup(flaky)
    for agent_id in alive:
        with pytest.raises(TransientError):
            group.record(agent_id, T0)
    down = False
    assert [group.record(agent_id, T0) for agent_id in alive] == [True, True, True]


@settings(max_examples=25, deadline=None)
@given(
    plan=st.lists(st.tuples(st.integers(0, 7), st.integers(0, 1000)), min_size=1, max_size=40),
    deleted=st.sets(st.integers(0, 7)),
    threads=st.integers(1, 8),
)
def test_every_caller_gets_its_own_answer_and_each_agent_keeps_one_of_its_times(
    plan: list[tuple[int, int]], deleted: set[int], threads: int
) -> None:
    uow = InMemoryUnitOfWorkFactory()
    alive, gone = fleet(uow, 8 - len(deleted), len(deleted))
    agents = alive + gone  # index -> id; the last len(deleted) are deleted
    group = HeartbeatGroup(uow)
    beats: list[tuple[UUID, datetime]] = [(agents[n], T0 + timedelta(seconds=s)) for n, s in plan]
    record: Callable[[tuple[UUID, datetime]], bool] = lambda beat: group.record(*beat)  # noqa: E731
    with ThreadPoolExecutor(threads) as pool:
        answers = list(pool.map(record, beats))
    assert answers == [agent_id in alive for agent_id, _ in beats]
    assert 1 <= group.writes <= len(beats)
    for agent_id in alive:
        sent = {at for i, at in beats if i == agent_id}
        assert last_heartbeat(uow, agent_id) in (sent or {None})
    assert all(last_heartbeat(uow, i) is None for i in gone)
