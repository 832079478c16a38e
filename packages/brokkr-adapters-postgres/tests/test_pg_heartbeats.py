"""Group-committed heartbeats over the real PostgreSQL adapter: many threads, far fewer statements, and every
caller answered with its own agent's state (the array UPDATE returns exactly the live ids)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from uuid import UUID, uuid4

from brokkr_adapters_postgres.uow import SqlUnitOfWorkFactory
from brokkr_domain.testing import FakeClock
from brokkr_domain.testing import builders as b
from brokkr_domain.usecases.heartbeats import HeartbeatGroup

THREADS, ROUNDS = 16, 25


def test_concurrent_heartbeats_share_statements_and_each_gets_its_answer(
    uow_factory: SqlUnitOfWorkFactory, clock: FakeClock
) -> None:
    with uow_factory() as uow:
        live = [uow.agents.add(b.agent(clock.now())).id for _ in range(THREADS - 4)]
        deleted = [uow.agents.add(b.agent(clock.now())).id for _ in range(2)]
        for agent_id in deleted:
            uow.agents.soft_delete(agent_id, clock.now())
        uow.commit()
    callers: list[UUID] = live + deleted + [uuid4(), uuid4()]
    group = HeartbeatGroup(uow_factory.autocommit)
    start = threading.Barrier(THREADS)
    last = clock.now() + timedelta(seconds=ROUNDS)

    def beat(agent_id: UUID) -> list[bool]:
        start.wait(10)
        return [group.record(agent_id, clock.now() + timedelta(seconds=n + 1)) for n in range(ROUNDS)]

    with ThreadPoolExecutor(THREADS) as pool:
        answers = dict(zip(callers, pool.map(beat, callers), strict=True))
    assert answers == {i: [i in live] * ROUNDS for i in callers}
    assert group.writes < THREADS * ROUNDS  # grouped: fewer statements than heartbeats
    with uow_factory() as uow:
        stored = {i: uow.agents.get(i, include_deleted=True) for i in live + deleted}
    assert {i: a.last_heartbeat for i, a in stored.items() if a is not None} == dict.fromkeys(
        live, last
    ) | dict.fromkeys(deleted)
    print(f"\n{THREADS * ROUNDS} heartbeats from {THREADS} threads in {group.writes} statements")
