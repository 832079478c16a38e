"""Contract of ``WebhookSubscriptionRepository`` and ``WebhookDeliveryRepository`` (one suite)."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import attrs

from brokkr_domain.model import DeliveryStatus, WebhookFilters
from brokkr_domain.ports import AgentTargetingFacts, UnitOfWorkFactory
from brokkr_domain.testing import builders as b
from brokkr_domain.testing.contracts._support import assert_not_found, committed, read, seed_agent
from brokkr_domain.testing.fakes import FakeClock


class WebhookRepositoryContract:
    """Subclass with ``uow_factory`` and ``clock`` fixtures in scope."""

    def test_subscription_round_trips_secrets_and_filters(
        self, uow_factory: UnitOfWorkFactory, clock: FakeClock
    ) -> None:
        sub = b.subscription(
            clock.now(),
            url="https://hooks.example/secret-path?token=abc",
            auth_header="Bearer s3cret",
            signing_secret="hmac-key",  # noqa: S106 - test data
            event_types=("deployment.*", "agent.registered"),
            filters=WebhookFilters(agent_id=uuid.uuid4(), labels={"env": "prod"}),
            target_labels=("edge", "eu"),
            max_retries=3,
            timeout_seconds=5,
            created_by="admin",
        )
        committed(uow_factory, lambda uow: uow.webhooks.add(sub))
        assert read(uow_factory, lambda uow: uow.webhooks.get(sub.id)) == sub

    def test_subscriptions_list_update_delete(self, uow_factory: UnitOfWorkFactory, clock: FakeClock) -> None:
        with uow_factory() as uow:
            older = uow.webhooks.add(b.subscription(clock.advance()))
            newer = uow.webhooks.add(b.subscription(clock.advance(), enabled=False))
            uow.commit()
        with uow_factory() as uow:
            assert [s.id for s in uow.webhooks.list()] == [newer.id, older.id]
            assert [s.id for s in uow.webhooks.list(enabled_only=True)] == [older.id]
        changed = attrs.evolve(newer, enabled=True, name="renamed", url="https://other.example/")
        committed(uow_factory, lambda uow: uow.webhooks.update(changed))
        stored = read(uow_factory, lambda uow: uow.webhooks.get(newer.id))
        assert stored is not None
        assert (stored.enabled, stored.name, stored.url) == (True, "renamed", "https://other.example/")
        assert_not_found(uow_factory, lambda uow: uow.webhooks.update(b.subscription(clock.now())))
        assert committed(uow_factory, lambda uow: uow.webhooks.delete(older.id))
        assert not committed(uow_factory, lambda uow: uow.webhooks.delete(older.id))
        assert read(uow_factory, lambda uow: uow.webhooks.get(older.id)) is None

    def test_deleting_a_subscription_deletes_its_deliveries(
        self, uow_factory: UnitOfWorkFactory, clock: FakeClock
    ) -> None:
        with uow_factory() as uow:
            sub = uow.webhooks.add(b.subscription(clock.now()))
            delivery = uow.deliveries.add(b.delivery(clock.now(), sub.id))
            uow.commit()
        committed(uow_factory, lambda uow: uow.webhooks.delete(sub.id))
        assert read(uow_factory, lambda uow: uow.deliveries.get(delivery.id)) is None

    def test_delivery_round_trip_and_unknown_subscription(
        self, uow_factory: UnitOfWorkFactory, clock: FakeClock
    ) -> None:
        sub = committed(uow_factory, lambda uow: uow.webhooks.add(b.subscription(clock.now())))
        delivery = b.delivery(clock.now(), sub.id, target_labels=("edge",))
        committed(uow_factory, lambda uow: uow.deliveries.add(delivery))
        assert read(uow_factory, lambda uow: uow.deliveries.get(delivery.id)) == delivery
        ghost = b.subscription(clock.now())
        assert_not_found(uow_factory, lambda uow: uow.deliveries.add(b.delivery(clock.now(), ghost.id)))

    def test_list_for_subscription_pages_newest_first(
        self, uow_factory: UnitOfWorkFactory, clock: FakeClock
    ) -> None:
        with uow_factory() as uow:
            sub = uow.webhooks.add(b.subscription(clock.now()))
            other = uow.webhooks.add(b.subscription(clock.now()))
            made = [uow.deliveries.add(b.delivery(clock.advance(), sub.id)) for _ in range(4)]
            uow.deliveries.add(b.delivery(clock.advance(), other.id))
            dead = uow.deliveries.add(b.delivery(clock.advance(), sub.id, status=DeliveryStatus.DEAD))
            uow.commit()
        newest_first = [dead.id] + [d.id for d in reversed(made)]
        with uow_factory() as uow:
            assert [d.id for d in uow.deliveries.list_for_subscription(sub.id)] == newest_first
            assert [
                d.id for d in uow.deliveries.list_for_subscription(sub.id, limit=2, offset=1)
            ] == newest_first[1:3]
            assert [d.id for d in uow.deliveries.list_for_subscription(sub.id, status="dead")] == [dead.id]

    def test_broker_claims_only_broker_routed_deliveries_once(
        self, uow_factory: UnitOfWorkFactory, clock: FakeClock
    ) -> None:
        with uow_factory() as uow:
            sub = uow.webhooks.add(b.subscription(clock.now()))
            first = uow.deliveries.add(b.delivery(clock.advance(), sub.id, target_labels=None))
            second = uow.deliveries.add(b.delivery(clock.advance(), sub.id, target_labels=()))
            third = uow.deliveries.add(b.delivery(clock.advance(), sub.id))
            uow.deliveries.add(b.delivery(clock.advance(), sub.id, target_labels=("edge",)))
            uow.deliveries.add(b.delivery(clock.advance(), sub.id, status=DeliveryStatus.FAILED))
            uow.commit()
        now = clock.advance()
        until = now + timedelta(seconds=60)
        claimed = committed(uow_factory, lambda uow: uow.deliveries.claim_for_broker(now, 2, until))
        assert [d.id for d in claimed] == [first.id, second.id]
        assert all(d.status == DeliveryStatus.ACQUIRED and d.acquired_by is None for d in claimed)
        assert all(d.acquired_until == until for d in claimed)
        rest = committed(uow_factory, lambda uow: uow.deliveries.claim_for_broker(now, 10, until))
        assert [d.id for d in rest] == [third.id]
        assert committed(uow_factory, lambda uow: uow.deliveries.claim_for_broker(now, 10, until)) == []

    def test_broker_claims_cap_each_subscription_and_skip_the_busy_ones(
        self, uow_factory: UnitOfWorkFactory, clock: FakeClock
    ) -> None:
        with uow_factory() as uow:
            slow = uow.webhooks.add(b.subscription(clock.now()))
            fast = uow.webhooks.add(b.subscription(clock.now()))
            jam = [uow.deliveries.add(b.delivery(clock.advance(), slow.id)).id for _ in range(5)]
            later = [uow.deliveries.add(b.delivery(clock.advance(), fast.id)).id for _ in range(2)]
            uow.commit()
        now = clock.advance()
        until = now + timedelta(seconds=60)

        def claim(**options: Any) -> list[uuid.UUID]:
            return [
                d.id
                for d in committed(
                    uow_factory, lambda uow: uow.deliveries.claim_for_broker(now, 4, until, **options)
                )
            ]

        assert claim(per_subscription=2) == [*jam[:2], *later], "older deliveries of a busy receiver wait"
        assert claim(skip_subscriptions=frozenset({slow.id})) == [], "a skipped subscription gets nothing"
        assert claim() == jam[2:], "without options the oldest go first"

    def test_concurrent_broker_claims_never_double_deliver(
        self, uow_factory: UnitOfWorkFactory, clock: FakeClock
    ) -> None:
        workers, total = 4, 20
        with uow_factory() as uow:
            sub = uow.webhooks.add(b.subscription(clock.now()))
            made = {uow.deliveries.add(b.delivery(clock.advance(), sub.id)).id for _ in range(total)}
            uow.commit()
        now = clock.advance()
        start = threading.Barrier(workers)

        def replica(_: int) -> list[uuid.UUID]:
            start.wait(timeout=10)
            claimed: list[uuid.UUID] = []
            while True:
                with uow_factory() as uow:
                    batch = uow.deliveries.claim_for_broker(now, 3, now + timedelta(seconds=60))
                    uow.commit()
                if not batch:
                    return claimed
                claimed.extend(d.id for d in batch)

        with ThreadPoolExecutor(max_workers=workers) as pool:
            per_replica = list(pool.map(replica, range(workers)))
        everything = [delivery_id for batch in per_replica for delivery_id in batch]
        assert len(everything) == len(set(everything))
        assert set(everything) == made

    def test_agent_claims_deliveries_whose_labels_it_carries(
        self, uow_factory: UnitOfWorkFactory, clock: FakeClock
    ) -> None:
        with uow_factory() as uow:
            agent = seed_agent(uow, clock.now())
            sub = uow.webhooks.add(b.subscription(clock.now()))
            mine = uow.deliveries.add(b.delivery(clock.advance(), sub.id, target_labels=("edge",)))
            also_mine = uow.deliveries.add(b.delivery(clock.advance(), sub.id, target_labels=("edge", "eu")))
            uow.deliveries.add(b.delivery(clock.advance(), sub.id, target_labels=("edge", "us")))
            uow.deliveries.add(b.delivery(clock.advance(), sub.id, target_labels=None))
            uow.deliveries.add(b.delivery(clock.advance(), sub.id, target_labels=()))
            uow.commit()
        facts = AgentTargetingFacts(
            agent_id=agent.id, labels=frozenset({"edge", "eu", "x"}), annotations=frozenset()
        )
        now = clock.advance()
        until = now + timedelta(seconds=60)
        claimed = committed(uow_factory, lambda uow: uow.deliveries.claim_for_agent(facts, now, 10, until))
        assert [d.id for d in claimed] == [mine.id, also_mine.id]
        assert all(d.status == DeliveryStatus.ACQUIRED and d.acquired_by == agent.id for d in claimed)
        assert committed(uow_factory, lambda uow: uow.deliveries.claim_for_agent(facts, now, 10, until)) == []
        stored = read(uow_factory, lambda uow: uow.deliveries.get(mine.id))
        assert stored is not None
        assert stored.acquired_by == agent.id

    def test_release_expired(self, uow_factory: UnitOfWorkFactory, clock: FakeClock) -> None:
        with uow_factory() as uow:
            sub = uow.webhooks.add(b.subscription(clock.now()))
            delivery = uow.deliveries.add(b.delivery(clock.now(), sub.id))
            uow.commit()
        now = clock.now()
        committed(
            uow_factory, lambda uow: uow.deliveries.claim_for_broker(now, 10, now + timedelta(seconds=60))
        )
        assert (
            committed(uow_factory, lambda uow: uow.deliveries.release_expired(now + timedelta(seconds=30)))
            == 0
        )
        assert (
            committed(uow_factory, lambda uow: uow.deliveries.release_expired(now + timedelta(seconds=90)))
            == 1
        )
        stored = read(uow_factory, lambda uow: uow.deliveries.get(delivery.id))
        assert stored is not None
        assert (stored.status, stored.acquired_by, stored.acquired_until) == (
            DeliveryStatus.PENDING,
            None,
            None,
        )

    def test_requeue_due(self, uow_factory: UnitOfWorkFactory, clock: FakeClock) -> None:
        now = clock.now()
        with uow_factory() as uow:
            sub = uow.webhooks.add(b.subscription(now))
            due = uow.deliveries.add(
                b.delivery(
                    now,
                    sub.id,
                    status=DeliveryStatus.FAILED,
                    attempts=1,
                    next_retry_at=now - timedelta(seconds=1),
                )
            )
            later = uow.deliveries.add(
                b.delivery(
                    now,
                    sub.id,
                    status=DeliveryStatus.FAILED,
                    attempts=1,
                    next_retry_at=now + timedelta(hours=1),
                )
            )
            uow.commit()
        assert committed(uow_factory, lambda uow: uow.deliveries.requeue_due(now)) == 1
        with uow_factory() as uow:
            requeued = uow.deliveries.get(due.id)
            waiting = uow.deliveries.get(later.id)
            assert requeued is not None
            assert waiting is not None
            assert (requeued.status, requeued.attempts) == (DeliveryStatus.PENDING, 1)
            assert waiting.status == DeliveryStatus.FAILED

    def test_update(self, uow_factory: UnitOfWorkFactory, clock: FakeClock) -> None:
        with uow_factory() as uow:
            sub = uow.webhooks.add(b.subscription(clock.now()))
            delivery = uow.deliveries.add(b.delivery(clock.now(), sub.id))
            uow.commit()
        done = attrs.evolve(
            delivery,
            status=DeliveryStatus.SUCCESS,
            attempts=1,
            last_attempt_at=clock.now(),
            completed_at=clock.now(),
        )
        committed(uow_factory, lambda uow: uow.deliveries.update(done))
        assert read(uow_factory, lambda uow: uow.deliveries.get(delivery.id)) == done
        assert_not_found(uow_factory, lambda uow: uow.deliveries.update(b.delivery(clock.now(), sub.id)))

    def test_delete_finished_before(self, uow_factory: UnitOfWorkFactory, clock: FakeClock) -> None:
        old = clock.now()
        cutoff = old + timedelta(days=1)
        recent = cutoff + timedelta(hours=1)
        with uow_factory() as uow:
            sub = uow.webhooks.add(b.subscription(old))
            doomed = [
                uow.deliveries.add(b.delivery(old, sub.id, status=DeliveryStatus.SUCCESS)),
                uow.deliveries.add(b.delivery(old, sub.id, status=DeliveryStatus.DEAD)),
            ]
            kept = [
                uow.deliveries.add(b.delivery(old, sub.id, status=DeliveryStatus.FAILED)),
                uow.deliveries.add(b.delivery(old, sub.id, status=DeliveryStatus.PENDING)),
                uow.deliveries.add(b.delivery(recent, sub.id, status=DeliveryStatus.SUCCESS)),
            ]
            uow.commit()
        assert committed(uow_factory, lambda uow: uow.deliveries.delete_finished_before(cutoff)) == 2
        with uow_factory() as uow:
            assert all(uow.deliveries.get(d.id) is None for d in doomed)
            assert all(uow.deliveries.get(d.id) == d for d in kept)


__all__ = ["WebhookRepositoryContract"]
