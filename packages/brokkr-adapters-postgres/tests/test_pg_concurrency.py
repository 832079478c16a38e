"""Claims under concurrency: 8 threads, then 8 spawned processes, race for the same items.

Asserts that no item is ever claimed twice and none is lost, for work-order claims (conditional update),
due retries (FOR UPDATE SKIP LOCKED), webhook delivery batches (SKIP LOCKED; also with a per-subscription cap,
whose ranking must not let a row another worker just took be taken again) and diagnostic claims
(conditional update). Prints claims per second (run with ``-s``).
"""

from __future__ import annotations

import multiprocessing
import runpy
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from queue import Empty
from typing import Any

import attrs

from brokkr_adapters_postgres.engine import make_engine
from brokkr_adapters_postgres.testing import PostgresTestServer
from brokkr_adapters_postgres.uow import SqlUnitOfWorkFactory
from brokkr_domain.model import WorkOrderStatus, WorkOrderTargeting
from brokkr_domain.testing import builders as b
from brokkr_domain.testing.fakes import PlainCipher

WORKERS = 8
WORKER_FILE = Path(__file__).with_name("pg_claim_workers.py")
_workers: dict[str, Any] = runpy.run_path(str(WORKER_FILE))
NOW = _workers["NOW"]
COUNTS = {"work_orders": 160, "retries": 200, "deliveries": 400, "capped_deliveries": 400, "diagnostics": 160}
RECEIVERS = 8  # subscriptions the capped deliveries are spread over

Args = tuple[str, str, dict[str, list[str]], int]


def _seed(url: str) -> tuple[list[str], dict[str, list[str]]]:
    engine = make_engine(url, pool_size=1)
    at = NOW - timedelta(hours=1)
    builder = WorkOrderTargeting(labels=frozenset({"builder"}))
    with SqlUnitOfWorkFactory(engine, PlainCipher())() as uow:
        agents = [uow.agents.add(b.agent(at)) for _ in range(WORKERS)]
        orders = [uow.work_orders.add(b.work_order(at, builder)) for _ in range(COUNTS["work_orders"])]
        retry = {"status": WorkOrderStatus.RETRY_PENDING, "retry_count": 1, "next_retry_after": at}
        due = [
            uow.work_orders.add(attrs.evolve(b.work_order(at, builder), **retry))
            for _ in range(COUNTS["retries"])
        ]
        sub = uow.webhooks.add(b.subscription(at))
        deliveries = [
            uow.deliveries.add(b.delivery(at + timedelta(microseconds=i), sub.id))
            for i in range(COUNTS["deliveries"])
        ]
        subs = [uow.webhooks.add(b.subscription(at)) for _ in range(RECEIVERS)]
        capped = [
            uow.deliveries.add(b.delivery(at + timedelta(microseconds=i), subs[i % RECEIVERS].id))
            for i in range(COUNTS["capped_deliveries"])
        ]
        stack = uow.stacks.add(b.stack(at, uow.generators.add(b.generator(at)).id))
        obj = uow.deployment_objects.add(b.deployment_object(at, stack.id))
        requests = [
            uow.diagnostics.add(b.diagnostic_request(at, agents[0].id, obj.id))
            for _ in range(COUNTS["diagnostics"])
        ]
        uow.commit()
    engine.dispose()
    ids = {
        "work_orders": [str(o.id) for o in orders],
        "retries": [str(o.id) for o in due],
        "deliveries": [str(d.id) for d in deliveries],
        "capped_deliveries": [str(d.id) for d in capped],
        "capped_subscriptions": [str(sub.id) for sub in subs],
        "diagnostics": [str(r.id) for r in requests],
    }
    return [str(a.id) for a in agents], ids


def _run(url: str, spawn: Callable[[list[Args]], list[dict[str, Any]]], how: str) -> None:
    agent_ids, ids = _seed(url)
    reports = spawn([(url, agent_ids[i], ids, i) for i in range(WORKERS)])
    for kind in _workers["KINDS"]:
        expected = ids[kind]
        claims = Counter(item for report in reports for item in report[kind][0])
        doubled = [item for item, n in claims.items() if n > 1]
        assert doubled == [], f"{kind}: claimed more than once: {doubled[:5]}"
        assert set(claims) == set(expected), f"{kind}: {len(set(expected) - set(claims))} items never claimed"
        attempts = sum(report[kind][1] for report in reports)
        elapsed = max(r[kind][3] for r in reports) - min(r[kind][2] for r in reports)
        print(
            f"\n{how:9} x{WORKERS} {kind:11}: {len(expected):3} claims in {elapsed:5.2f} s ="
            f" {len(expected) / elapsed:6.0f} claims/s ({attempts / elapsed:6.0f} attempts/s)"
        )


def _threads(args: list[Args]) -> list[dict[str, Any]]:
    barrier = threading.Barrier(WORKERS)
    with ThreadPoolExecutor(WORKERS) as pool:
        return list(pool.map(lambda a: _workers["run_worker"](*a, barrier), args))


def _processes(args: list[Args]) -> list[dict[str, Any]]:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    barrier = context.Barrier(WORKERS)
    processes = [
        context.Process(
            target=runpy.run_path,
            args=(str(WORKER_FILE),),
            kwargs={
                "init_globals": {"QUEUE": queue, "ARGS": (*a, barrier)},
                "run_name": "__brokkr_claim_worker__",
            },
        )
        for a in args
    ]
    for process in processes:
        process.start()
    results: list[dict[str, Any]] = []
    try:
        while len(results) < len(processes):
            try:
                results.append(queue.get(timeout=1))
            except Empty:
                failed = [p.exitcode for p in processes if p.exitcode not in (None, 0)]
                assert not failed, f"a worker process failed (exit codes {failed})"
    finally:
        for process in processes:
            process.join(timeout=30)
    assert [process.exitcode for process in processes] == [0] * WORKERS
    return results


def test_claims_across_threads(postgres_server: PostgresTestServer) -> None:
    _run(postgres_server.create_database(), _threads, "threads")


def test_claims_across_processes(postgres_server: PostgresTestServer) -> None:
    _run(postgres_server.create_database(), _processes, "processes")
