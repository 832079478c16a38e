"""Claim workers for the concurrency test, loaded by path (threads) or run by path in spawned processes.

Not a test module: ``test_pg_concurrency.py`` runs :func:`run_worker` in 8 threads and in 8 processes.
Every worker handles every kind in turn; a barrier starts all workers on a kind together, so the timings
measure claiming, not process start-up.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import attrs
from sqlalchemy import text

from brokkr_adapters_postgres.engine import make_engine
from brokkr_adapters_postgres.uow import SqlUnitOfWorkFactory
from brokkr_domain.model import WorkOrderStatus
from brokkr_domain.ports import AgentTargetingFacts
from brokkr_domain.testing.fakes import PlainCipher

NOW = datetime(2024, 6, 1, tzinfo=UTC)
KINDS = ("work_orders", "retries", "deliveries", "capped_deliveries", "diagnostics")

# kind -> (claimed ids, attempts, monotonic start, monotonic end)
Report = dict[str, tuple[list[str], int, float, float]]


def _one_by_one(
    claim: Callable[[Any, UUID], bool], uow_factory: SqlUnitOfWorkFactory, ids: list[str], seed: int
):  # type: ignore[no-untyped-def]
    """Try every item in a random order, one conditional update per unit of work (the race is maximal)."""
    order = list(ids)
    random.Random(seed).shuffle(order)
    claimed = []
    for item in order:
        with uow_factory() as uow:
            if claim(uow, UUID(item)):
                claimed.append(item)
            uow.commit()
    return claimed, len(order)


def _batches(take: Callable[[Any], list[str]], uow_factory: SqlUnitOfWorkFactory):  # type: ignore[no-untyped-def]
    """Take batches (SKIP LOCKED) until a batch comes back empty."""
    claimed: list[str] = []
    attempts = 0
    while True:
        attempts += 1
        with uow_factory() as uow:
            batch = take(uow)
            uow.commit()
        if not batch:
            return claimed, attempts
        claimed += batch


def run_worker(url: str, agent_id: str, ids: dict[str, list[str]], seed: int, barrier: Any) -> Report:
    engine = make_engine(url, pool_size=1, max_overflow=0)
    with engine.connect() as conn:  # connect before the clock starts
        conn.execute(text("SELECT 1"))
    uow_factory = SqlUnitOfWorkFactory(engine, PlainCipher())
    facts = AgentTargetingFacts(
        agent_id=UUID(agent_id), labels=frozenset({"builder"}), annotations=frozenset()
    )
    until = NOW + timedelta(minutes=1)
    capped_subs = frozenset(UUID(i) for i in ids["capped_subscriptions"])  # left to the capped kind

    def requeue(uow: Any) -> list[str]:
        batch = uow.work_orders.lock_due_retries(NOW, 5)
        for order in batch:
            uow.work_orders.update(attrs.evolve(order, status=WorkOrderStatus.PENDING, next_retry_after=None))
        return [str(order.id) for order in batch]

    report: Report = {}
    try:
        for kind in KINDS:
            barrier.wait()
            started = time.monotonic()
            if kind == "work_orders":
                claimed, attempts = _one_by_one(
                    lambda uow, i: uow.work_orders.claim(i, facts, NOW) is not None,
                    uow_factory,
                    ids[kind],
                    seed,
                )
            elif kind == "diagnostics":
                claimed, attempts = _one_by_one(
                    lambda uow, i: uow.diagnostics.claim(i, NOW) is not None, uow_factory, ids[kind], seed
                )
            elif kind == "deliveries":
                claimed, attempts = _batches(
                    lambda uow: [
                        str(d.id)
                        for d in uow.deliveries.claim_for_broker(
                            NOW, 5, until, skip_subscriptions=capped_subs
                        )
                    ],
                    uow_factory,
                )
            elif kind == "capped_deliveries":  # ranked per subscription before locking
                claimed, attempts = _batches(
                    lambda uow: [
                        str(d.id) for d in uow.deliveries.claim_for_broker(NOW, 5, until, per_subscription=2)
                    ],
                    uow_factory,
                )
            else:
                claimed, attempts = _batches(requeue, uow_factory)
            report[kind] = (claimed, attempts, started, time.monotonic())
    finally:
        engine.dispose()
    return report


if __name__ == "__brokkr_claim_worker__":
    QUEUE.put(run_worker(*ARGS))  # type: ignore[name-defined]  # noqa: F821 - injected by runpy init_globals
