"""Benchmark of the hot path: the target-state query of one agent associated with 100 stacks x 10 versions.

    uv run --frozen --no-sync python packages/brokkr-adapters-postgres/bench_target_state.py [--url URL]

Without ``--url`` an embedded PostgreSQL is started in a temporary directory. The database also holds noise
(other agents and stacks, deleted stacks with acknowledged markers, the agent's event history), so the query
does not run on a toy table. Prints the median and p99 of a full ``target_state`` call through the adapter
(read-only and transactional unit of work) and the server-side execution time from EXPLAIN ANALYZE.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

from sqlalchemy import text

from brokkr_adapters_postgres.embedded import EmbeddedPostgres
from brokkr_adapters_postgres.engine import make_engine
from brokkr_adapters_postgres.repositories.objects import TARGET_STATE_FULL
from brokkr_adapters_postgres.testing import PostgresTestServer
from brokkr_adapters_postgres.uow import SqlUnitOfWorkFactory
from brokkr_domain.ports import TargetStateQuery, UnitOfWork
from brokkr_domain.testing import builders as b
from brokkr_domain.testing.fakes import PlainCipher

STACKS, VERSIONS = 100, 10
START = datetime(2024, 1, 1, tzinfo=UTC)


def seed(factory: SqlUnitOfWorkFactory) -> UUID:
    at = START
    with factory() as uow:
        generator = uow.generators.add(b.generator(at))
        agent = uow.agents.add(b.agent(at))
        uow.agents.add_label(b.agent_label(agent.id, "bench"))
        for n in range(STACKS):
            stack = uow.stacks.add(b.stack(at, generator.id))
            uow.stacks.add_label(b.stack_label(stack.id, "bench"))
            for version in range(VERSIONS):
                obj = uow.deployment_objects.add(
                    b.deployment_object(at + timedelta(seconds=version), stack.id)
                )
                # History of mixed outcomes; the newest version failed on every tenth stack only.
                failed = version % 3 == 0 if version < VERSIONS - 1 else n % 10 == 0
                status = "FAILURE" if failed else "SUCCESS"
                uow.agent_events.add(b.agent_event(at, agent.id, obj.id, status))
            if n % 10 == 0:  # a few explicit targets and annotation matches on top of the label
                uow.agents.add_target(b.agent_target(agent.id, stack.id))
        _noise(uow, generator.id, agent.id, at)
        uow.commit()
    return agent.id


def _noise(uow: UnitOfWork, generator_id: UUID, agent_id: UUID, at: datetime) -> None:
    """Other agents and stacks, and 50 stacks this agent deployed that were deleted (markers acknowledged)."""
    for n in range(20):
        other = uow.agents.add(b.agent(at))
        uow.agents.add_label(b.agent_label(other.id, f"team-{n}"))
    for n in range(400):
        stack = uow.stacks.add(b.stack(at, generator_id))
        uow.stacks.add_label(b.stack_label(stack.id, f"team-{n % 20}"))
        for version in range(3):
            uow.deployment_objects.add(b.deployment_object(at + timedelta(seconds=version), stack.id))
    for _ in range(50):
        stack = uow.stacks.add(b.stack(at, generator_id))
        obj = uow.deployment_objects.add(b.deployment_object(at, stack.id))
        uow.agent_events.add(b.agent_event(at, agent_id, obj.id))
        later = at + timedelta(hours=1)
        uow.stacks.soft_delete(stack.id, later)
        uow.deployment_objects.soft_delete_for_stack(stack.id, later)
        marker = uow.deployment_objects.add(b.deletion_marker(later, stack.id))
        uow.agent_events.add(b.agent_event(later, agent_id, marker.id))


def measure(label: str, call: Callable[[], int], rounds: int) -> None:
    for _ in range(20):
        call()
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        count = call()
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    p99 = timings[int(len(timings) * 0.99) - 1]
    print(f"{label:48} {count:3} objects  median {statistics.median(timings):6.2f} ms  p99 {p99:6.2f} ms")


def run(url: str, rounds: int) -> None:
    engine = make_engine(url, pool_size=2)
    factory = SqlUnitOfWorkFactory(engine, PlainCipher())
    agent_id = seed(factory)
    with engine.connect() as conn:
        conn.execute(text("ANALYZE"))
    for incremental in (False, True):
        query = TargetStateQuery(agent_id=agent_id, incremental=incremental)

        def autocommit(q: TargetStateQuery = query) -> int:
            with factory.autocommit() as uow:
                return len(uow.deployment_objects.target_state(q))

        def in_transaction(q: TargetStateQuery = query) -> int:
            with factory() as uow:
                return len(uow.deployment_objects.target_state(q))

        mode = "incremental" if incremental else "full"
        measure(f"target_state {mode}, autocommit unit of work", autocommit, rounds)
        measure(f"target_state {mode}, transactional unit of work", in_transaction, rounds)
    with engine.connect() as conn:
        sql = str(TARGET_STATE_FULL.compile(engine))
        plan = conn.exec_driver_sql(f"EXPLAIN (ANALYZE, FORMAT TEXT) {sql}", {"agent_id": agent_id}).all()
    server = [row[0] for row in plan if row[0].startswith(("Planning Time", "Execution Time"))]
    print("server side (full):", "; ".join(server))
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="superuser URL of a PostgreSQL server (default: embedded)")
    parser.add_argument("--rounds", type=int, default=500)
    args = parser.parse_args()
    directory = None
    embedded = None
    if args.url:
        server = PostgresTestServer(args.url)
    else:
        directory = Path(tempfile.mkdtemp(prefix="brokkr-bench-"))
        embedded = EmbeddedPostgres(
            directory, durable=False, database="postgres", stop_with_parent=True
        ).start()
        server = PostgresTestServer(embedded.url("postgres"), embedded=embedded)
    try:
        run(server.create_database(), args.rounds)
    finally:
        if embedded is not None:
            embedded.stop()
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
