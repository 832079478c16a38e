"""Contract of ``WorkOrderRepository``: eligibility, claim-once, maintenance locks and the log."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from uuid import UUID

import attrs

from brokkr_domain.model import WorkOrder, WorkOrderStatus, WorkOrderTargeting
from brokkr_domain.ports import AgentTargetingFacts, UnitOfWorkFactory
from brokkr_domain.testing import builders as b
from brokkr_domain.testing.contracts._support import assert_not_found, committed, read, seed_agent
from brokkr_domain.testing.fakes import FakeClock


def _facts(
    agent_id: UUID, labels: tuple[str, ...] = (), pairs: tuple[tuple[str, str], ...] = ()
) -> AgentTargetingFacts:
    return AgentTargetingFacts(agent_id=agent_id, labels=frozenset(labels), annotations=frozenset(pairs))


class WorkOrderRepositoryContract:
    """Subclass with ``uow_factory`` and ``clock`` fixtures in scope."""

    def test_add_then_get_round_trips_with_targeting(
        self, uow_factory: UnitOfWorkFactory, clock: FakeClock
    ) -> None:
        agent = committed(uow_factory, lambda uow: seed_agent(uow, clock.now()))
        targeting = WorkOrderTargeting(
            agent_ids=frozenset({agent.id}),
            labels=frozenset({"builder", "gpu"}),
            annotations=frozenset({("a", "1")}),
        )
        order = b.work_order(
            clock.now(), targeting, max_retries=5, backoff_seconds=10, claim_timeout_seconds=60
        )
        committed(uow_factory, lambda uow: uow.work_orders.add(order))
        assert read(uow_factory, lambda uow: uow.work_orders.get(order.id)) == order

    def test_targeting_an_unknown_agent_is_not_found(
        self, uow_factory: UnitOfWorkFactory, clock: FakeClock
    ) -> None:
        ghost = b.agent(clock.now())
        order = b.work_order(clock.now(), WorkOrderTargeting(agent_ids=frozenset({ghost.id})))
        assert_not_found(uow_factory, lambda uow: uow.work_orders.add(order))

    def test_list_filters_newest_first(self, uow_factory: UnitOfWorkFactory, clock: FakeClock) -> None:
        with uow_factory() as uow:
            old = uow.work_orders.add(b.work_order(clock.advance(), work_type="build"))
            mid = uow.work_orders.add(b.work_order(clock.advance(), work_type="custom"))
            new = uow.work_orders.add(
                b.work_order(clock.advance(), work_type="build", status=WorkOrderStatus.RETRY_PENDING)
            )
            uow.commit()
        with uow_factory() as uow:
            assert [o.id for o in uow.work_orders.list()] == [new.id, mid.id, old.id]
            assert [o.id for o in uow.work_orders.list(work_type="build")] == [new.id, old.id]
            assert [o.id for o in uow.work_orders.list(status="PENDING")] == [mid.id, old.id]
            assert [o.id for o in uow.work_orders.list(status="RETRY_PENDING", work_type="build")] == [new.id]

    def test_delete(self, uow_factory: UnitOfWorkFactory, clock: FakeClock) -> None:
        order = committed(uow_factory, lambda uow: uow.work_orders.add(b.work_order(clock.now())))
        assert committed(uow_factory, lambda uow: uow.work_orders.delete(order.id))
        assert not committed(uow_factory, lambda uow: uow.work_orders.delete(order.id))
        assert read(uow_factory, lambda uow: uow.work_orders.get(order.id)) is None

    def test_pending_for_agent_follows_eligibility(
        self, uow_factory: UnitOfWorkFactory, clock: FakeClock
    ) -> None:
        with uow_factory() as uow:
            agent = seed_agent(uow, clock.now())
            by_id = uow.work_orders.add(
                b.work_order(clock.advance(), WorkOrderTargeting(agent_ids=frozenset({agent.id})))
            )
            by_label = uow.work_orders.add(
                b.work_order(
                    clock.advance(), WorkOrderTargeting(labels=frozenset({"gpu", "x"})), work_type="build"
                )
            )
            by_pair = uow.work_orders.add(
                b.work_order(clock.advance(), WorkOrderTargeting(annotations=frozenset({("zone", "a")})))
            )
            uow.work_orders.add(b.work_order(clock.advance(), WorkOrderTargeting(labels=frozenset({"cpu"}))))
            uow.work_orders.add(
                b.work_order(clock.advance(), WorkOrderTargeting(annotations=frozenset({("zone", "b")})))
            )
            uow.work_orders.add(
                b.work_order(
                    clock.advance(),
                    WorkOrderTargeting(agent_ids=frozenset({agent.id})),
                    status=WorkOrderStatus.RETRY_PENDING,
                )
            )
            uow.commit()
        facts = _facts(agent.id, ("gpu",), (("zone", "a"),))
        with uow_factory() as uow:
            assert [o.id for o in uow.work_orders.pending_for_agent(facts)] == [
                by_id.id,
                by_label.id,
                by_pair.id,
            ]
            assert [o.id for o in uow.work_orders.pending_for_agent(facts, work_type="build")] == [
                by_label.id
            ]
            stranger = _facts(b.agent(clock.now()).id, ("gpu",))
            assert [o.id for o in uow.work_orders.pending_for_agent(stranger)] == [by_label.id]

    def test_claim_happens_once(self, uow_factory: UnitOfWorkFactory, clock: FakeClock) -> None:
        with uow_factory() as uow:
            one = seed_agent(uow, clock.now())
            two = seed_agent(uow, clock.now())
            order = uow.work_orders.add(
                b.work_order(clock.now(), WorkOrderTargeting(labels=frozenset({"gpu"})))
            )
            uow.commit()
        at = clock.advance()
        claimed = committed(
            uow_factory, lambda uow: uow.work_orders.claim(order.id, _facts(one.id, ("gpu",)), at)
        )
        assert claimed is not None
        assert (claimed.status, claimed.claimed_by, claimed.claimed_at) == (
            WorkOrderStatus.CLAIMED,
            one.id,
            at,
        )
        assert (
            committed(uow_factory, lambda uow: uow.work_orders.claim(order.id, _facts(two.id, ("gpu",)), at))
            is None
        )
        assert (
            committed(uow_factory, lambda uow: uow.work_orders.claim(order.id, _facts(one.id, ("gpu",)), at))
            is None
        )
        stored = read(uow_factory, lambda uow: uow.work_orders.get(order.id))
        assert stored is not None
        assert stored.claimed_by == one.id
        assert (
            read(uow_factory, lambda uow: uow.work_orders.pending_for_agent(_facts(two.id, ("gpu",)))) == []
        )

    def test_concurrent_claims_hand_the_order_to_one_agent(
        self, uow_factory: UnitOfWorkFactory, clock: FakeClock
    ) -> None:
        workers = 6
        with uow_factory() as uow:
            agents = [seed_agent(uow, clock.now()) for _ in range(workers)]
            order = uow.work_orders.add(
                b.work_order(clock.now(), WorkOrderTargeting(labels=frozenset({"gpu"})))
            )
            uow.commit()
        start = threading.Barrier(workers)

        def claim(agent_id: UUID) -> bool:
            start.wait(timeout=10)
            with uow_factory() as uow:
                won = uow.work_orders.claim(order.id, _facts(agent_id, ("gpu",)), clock.now()) is not None
                uow.commit()
            return won

        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(claim, [agent.id for agent in agents]))
        assert results.count(True) == 1
        stored = read(uow_factory, lambda uow: uow.work_orders.get(order.id))
        assert stored is not None
        assert stored.claimed_by == agents[results.index(True)].id

    def test_claim_requires_eligibility_and_existence(
        self, uow_factory: UnitOfWorkFactory, clock: FakeClock
    ) -> None:
        with uow_factory() as uow:
            agent = seed_agent(uow, clock.now())
            order = uow.work_orders.add(
                b.work_order(clock.now(), WorkOrderTargeting(labels=frozenset({"gpu"})))
            )
            uow.commit()
        with uow_factory() as uow:
            assert uow.work_orders.claim(order.id, _facts(agent.id, ("cpu",)), clock.now()) is None
            assert (
                uow.work_orders.claim(b.work_order(clock.now()).id, _facts(agent.id, ("gpu",)), clock.now())
                is None
            )
        stored = read(uow_factory, lambda uow: uow.work_orders.get(order.id))
        assert stored is not None
        assert stored.status == WorkOrderStatus.PENDING

    def test_lock_and_update(self, uow_factory: UnitOfWorkFactory, clock: FakeClock) -> None:
        order = committed(uow_factory, lambda uow: uow.work_orders.add(b.work_order(clock.now())))
        retry_at = clock.now() + timedelta(seconds=120)
        with uow_factory() as uow:
            locked = uow.work_orders.lock(order.id)
            assert locked == order
            assert uow.work_orders.lock(b.work_order(clock.now()).id) is None
            changed = attrs.evolve(
                order,
                status=WorkOrderStatus.RETRY_PENDING,
                retry_count=1,
                next_retry_after=retry_at,
                last_error="timeout",
                last_error_at=clock.now(),
            )
            uow.work_orders.update(changed)
            uow.commit()
        stored = read(uow_factory, lambda uow: uow.work_orders.get(order.id))
        assert stored is not None
        assert (stored.status, stored.retry_count, stored.next_retry_after, stored.last_error) == (
            WorkOrderStatus.RETRY_PENDING,
            1,
            retry_at,
            "timeout",
        )
        assert_not_found(uow_factory, lambda uow: uow.work_orders.update(b.work_order(clock.now())))

    def test_move_to_log(self, uow_factory: UnitOfWorkFactory, clock: FakeClock) -> None:
        with uow_factory() as uow:
            agent = seed_agent(uow, clock.now())
            order = uow.work_orders.add(
                b.work_order(clock.now(), WorkOrderTargeting(agent_ids=frozenset({agent.id})))
            )
            uow.commit()
        at = clock.advance()
        claimed = committed(uow_factory, lambda uow: uow.work_orders.claim(order.id, _facts(agent.id), at))
        assert claimed is not None
        entry = b.work_order_log(claimed, clock.advance(), success=True, result_message="sha256:abc")
        committed(uow_factory, lambda uow: uow.work_orders.move_to_log(entry))
        with uow_factory() as uow:
            assert uow.work_orders.get(order.id) is None
            assert uow.work_orders.get_log(order.id) == entry
            assert uow.work_orders.get_log(b.work_order(clock.now()).id) is None
        assert_not_found(
            uow_factory, lambda uow: uow.work_orders.move_to_log(b.work_order_log(b.work_order(at), at))
        )

    def test_list_log_filters_most_recent_first(
        self, uow_factory: UnitOfWorkFactory, clock: FakeClock
    ) -> None:
        with uow_factory() as uow:
            agent = seed_agent(uow, clock.now())
            orders = [
                uow.work_orders.add(b.work_order(clock.now(), work_type=t))
                for t in ("build", "custom", "build")
            ]
            entries = [
                b.work_order_log(orders[0], clock.advance(), success=True, claimed_by=agent.id),
                b.work_order_log(orders[1], clock.advance(), success=False),
                b.work_order_log(orders[2], clock.advance(), success=False, claimed_by=agent.id),
            ]
            for entry in entries:
                uow.work_orders.move_to_log(entry)
            uow.commit()
        first, second, third = (e.id for e in entries)
        with uow_factory() as uow:
            assert [e.id for e in uow.work_orders.list_log()] == [third, second, first]
            assert [e.id for e in uow.work_orders.list_log(work_type="build")] == [third, first]
            assert [e.id for e in uow.work_orders.list_log(success=False)] == [third, second]
            assert [e.id for e in uow.work_orders.list_log(agent_id=agent.id)] == [third, first]
            assert [e.id for e in uow.work_orders.list_log(limit=1)] == [third]

    def test_lock_due_retries(self, uow_factory: UnitOfWorkFactory, clock: FakeClock) -> None:
        now = clock.now()
        with uow_factory() as uow:
            due_early = uow.work_orders.add(
                b.work_order(
                    now, status=WorkOrderStatus.RETRY_PENDING, next_retry_after=now - timedelta(minutes=5)
                )
            )
            due_late = uow.work_orders.add(
                b.work_order(
                    now, status=WorkOrderStatus.RETRY_PENDING, next_retry_after=now - timedelta(minutes=1)
                )
            )
            uow.work_orders.add(
                b.work_order(
                    now, status=WorkOrderStatus.RETRY_PENDING, next_retry_after=now + timedelta(minutes=1)
                )
            )
            uow.work_orders.add(b.work_order(now - timedelta(hours=1)))  # pending, not a retry
            uow.commit()
        with uow_factory() as uow:
            assert {o.id for o in uow.work_orders.lock_due_retries(now, 10)} == {due_early.id, due_late.id}
            assert len(uow.work_orders.lock_due_retries(now, 1)) == 1

    def test_lock_stale_claims(self, uow_factory: UnitOfWorkFactory, clock: FakeClock) -> None:
        now = clock.now()
        with uow_factory() as uow:
            agent = seed_agent(uow, now)

            def claimed(minutes_ago: int) -> WorkOrder:
                return uow.work_orders.add(
                    b.work_order(
                        now,
                        status=WorkOrderStatus.CLAIMED,
                        claimed_by=agent.id,
                        claimed_at=now - timedelta(minutes=minutes_ago),
                        claim_timeout_seconds=600,
                    )
                )

            stale = claimed(30)
            claimed(5)  # still within its 10 minutes
            uow.work_orders.add(b.work_order(now - timedelta(hours=2)))  # pending
            uow.commit()
        with uow_factory() as uow:
            assert [o.id for o in uow.work_orders.lock_stale_claims(now, 10)] == [stale.id]
            assert uow.work_orders.lock_stale_claims(now, 0) == []


__all__ = ["WorkOrderRepositoryContract"]
