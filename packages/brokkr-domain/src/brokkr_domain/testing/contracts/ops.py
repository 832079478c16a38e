"""Contracts of ``DiagnosticRepository``, ``DeploymentHealthRepository``, ``AuditLogRepository`` and
``AdminRepository``."""

from __future__ import annotations

import uuid
from datetime import timedelta

import attrs

from brokkr_domain.model import (
    ActorType,
    AdminRole,
    DiagnosticStatus,
    HealthStatus,
    HealthSummary,
    ResourceHealth,
)
from brokkr_domain.ports import AuditQuery, UnitOfWorkFactory
from brokkr_domain.testing import builders as b
from brokkr_domain.testing.contracts._support import (
    assert_not_found,
    committed,
    read,
    seed_agent,
    seed_object,
    seed_stack,
)
from brokkr_domain.testing.fakes import FakeClock


class DiagnosticRepositoryContract:
    """Subclass with ``uow_factory`` and ``clock`` fixtures in scope."""

    def test_add_then_get_and_references(self, uow_factory: UnitOfWorkFactory, clock: FakeClock) -> None:
        with uow_factory() as uow:
            agent = seed_agent(uow, clock.now())
            obj = seed_object(uow, clock.now())
            uow.commit()
        request = b.diagnostic_request(clock.now(), agent.id, obj.id, requested_by="ops")
        committed(uow_factory, lambda uow: uow.diagnostics.add(request))
        assert read(uow_factory, lambda uow: uow.diagnostics.get(request.id)) == request
        ghost_agent = b.agent(clock.now())
        ghost_obj = b.deployment_object(clock.now(), obj.stack_id)
        assert_not_found(
            uow_factory,
            lambda uow: uow.diagnostics.add(b.diagnostic_request(clock.now(), ghost_agent.id, obj.id)),
        )
        assert_not_found(
            uow_factory,
            lambda uow: uow.diagnostics.add(b.diagnostic_request(clock.now(), agent.id, ghost_obj.id)),
        )

    def test_pending_for_agent_is_unexpired_pending_oldest_first(
        self, uow_factory: UnitOfWorkFactory, clock: FakeClock
    ) -> None:
        now = clock.now()
        with uow_factory() as uow:
            agent, other = seed_agent(uow, now), seed_agent(uow, now)
            obj = seed_object(uow, now)
            older = uow.diagnostics.add(b.diagnostic_request(now - timedelta(minutes=2), agent.id, obj.id))
            newer = uow.diagnostics.add(b.diagnostic_request(now - timedelta(minutes=1), agent.id, obj.id))
            uow.diagnostics.add(b.diagnostic_request(now, other.id, obj.id))
            uow.diagnostics.add(
                b.diagnostic_request(now, agent.id, obj.id, expires_at=now - timedelta(seconds=1))
            )
            uow.diagnostics.add(b.diagnostic_request(now, agent.id, obj.id, status=DiagnosticStatus.CLAIMED))
            uow.commit()
        assert [
            r.id for r in read(uow_factory, lambda uow: uow.diagnostics.pending_for_agent(agent.id, now))
        ] == [
            older.id,
            newer.id,
        ]

    def test_claim_happens_once(self, uow_factory: UnitOfWorkFactory, clock: FakeClock) -> None:
        with uow_factory() as uow:
            request = uow.diagnostics.add(
                b.diagnostic_request(
                    clock.now(), seed_agent(uow, clock.now()).id, seed_object(uow, clock.now()).id
                )
            )
            uow.commit()
        at = clock.advance()
        claimed = committed(uow_factory, lambda uow: uow.diagnostics.claim(request.id, at))
        assert claimed is not None
        assert (claimed.status, claimed.claimed_at) == (DiagnosticStatus.CLAIMED, at)
        assert committed(uow_factory, lambda uow: uow.diagnostics.claim(request.id, at)) is None
        assert committed(uow_factory, lambda uow: uow.diagnostics.claim(uuid.uuid4(), at)) is None

    def test_update_and_results(self, uow_factory: UnitOfWorkFactory, clock: FakeClock) -> None:
        with uow_factory() as uow:
            request = uow.diagnostics.add(
                b.diagnostic_request(
                    clock.now(), seed_agent(uow, clock.now()).id, seed_object(uow, clock.now()).id
                )
            )
            uow.commit()
        assert read(uow_factory, lambda uow: uow.diagnostics.get_result(request.id)) is None
        result = b.diagnostic_result(clock.now(), request.id, log_tails='{"p/c": "line"}')
        done = attrs.evolve(request, status=DiagnosticStatus.COMPLETED, completed_at=clock.now())
        with uow_factory() as uow:
            uow.diagnostics.add_result(result)
            uow.diagnostics.update(done)
            uow.commit()
        with uow_factory() as uow:
            assert uow.diagnostics.get_result(request.id) == result
            assert uow.diagnostics.get(request.id) == done
        assert_not_found(
            uow_factory,
            lambda uow: uow.diagnostics.add_result(b.diagnostic_result(clock.now(), uuid.uuid4())),
        )
        ghost = attrs.evolve(request, id=uuid.uuid4())
        assert_not_found(uow_factory, lambda uow: uow.diagnostics.update(ghost))

    def test_expire_and_delete_finished(self, uow_factory: UnitOfWorkFactory, clock: FakeClock) -> None:
        now = clock.now()
        old = now - timedelta(hours=2)
        with uow_factory() as uow:
            agent, obj = seed_agent(uow, now), seed_object(uow, now)
            lapsed = uow.diagnostics.add(
                b.diagnostic_request(old, agent.id, obj.id, expires_at=now - timedelta(minutes=1))
            )
            live = uow.diagnostics.add(b.diagnostic_request(now, agent.id, obj.id))
            done = uow.diagnostics.add(
                b.diagnostic_request(old, agent.id, obj.id, status=DiagnosticStatus.COMPLETED)
            )
            claimed = uow.diagnostics.add(
                b.diagnostic_request(old, agent.id, obj.id, status=DiagnosticStatus.CLAIMED)
            )
            result = uow.diagnostics.add_result(b.diagnostic_result(old, done.id))
            uow.commit()
        assert committed(uow_factory, lambda uow: uow.diagnostics.expire_pending(now)) == 1
        expired = read(uow_factory, lambda uow: uow.diagnostics.get(lapsed.id))
        assert expired is not None
        assert expired.status == DiagnosticStatus.EXPIRED
        assert (
            committed(
                uow_factory, lambda uow: uow.diagnostics.delete_finished_before(now - timedelta(hours=1))
            )
            == 2
        )
        with uow_factory() as uow:
            assert uow.diagnostics.get(lapsed.id) is None
            assert uow.diagnostics.get(done.id) is None
            assert uow.diagnostics.get_result(done.id) is None
            assert uow.diagnostics.get(live.id) == live
            assert uow.diagnostics.get(claimed.id) == claimed
        del result


class DeploymentHealthRepositoryContract:
    """Subclass with ``uow_factory`` and ``clock`` fixtures in scope."""

    def test_upsert_keeps_one_row_per_agent_and_object(
        self, uow_factory: UnitOfWorkFactory, clock: FakeClock
    ) -> None:
        with uow_factory() as uow:
            agent, other = seed_agent(uow, clock.now()), seed_agent(uow, clock.now())
            obj = seed_object(uow, clock.now())
            uow.commit()
        summary = HealthSummary(
            pods_ready=1,
            pods_total=2,
            conditions=("CrashLoopBackOff",),
            resources=(
                ResourceHealth(kind="Pod", name="web-1", namespace="apps", ready=False, message="boom"),
            ),
        )
        first = b.health(clock.now(), agent.id, obj.id, status=HealthStatus.DEGRADED, summary=summary)
        stored = committed(uow_factory, lambda uow: uow.health.upsert(first))
        assert stored == first
        later = clock.advance(60)
        again = b.health(later, agent.id, obj.id, status=HealthStatus.HEALTHY)
        committed(uow_factory, lambda uow: uow.health.upsert(again))
        committed(uow_factory, lambda uow: uow.health.upsert(b.health(later, other.id, obj.id)))
        rows = read(uow_factory, lambda uow: uow.health.list_for_object(obj.id))
        mine = [r for r in rows if r.agent_id == agent.id]
        assert len(rows) == 2
        assert len(mine) == 1
        assert (mine[0].status, mine[0].summary, mine[0].checked_at) == (HealthStatus.HEALTHY, None, later)

    def test_summary_round_trips(self, uow_factory: UnitOfWorkFactory, clock: FakeClock) -> None:
        with uow_factory() as uow:
            agent, obj = seed_agent(uow, clock.now()), seed_object(uow, clock.now())
            uow.commit()
        summary = HealthSummary(
            pods_ready=2,
            pods_total=3,
            conditions=("OOMKilled", "PodFailed"),
            resources=(ResourceHealth(kind="Pod", name="db-0", namespace="data", ready=False),),
        )
        health = b.health(clock.now(), agent.id, obj.id, status=HealthStatus.FAILING, summary=summary)
        committed(uow_factory, lambda uow: uow.health.upsert(health))
        assert read(uow_factory, lambda uow: uow.health.list_for_object(obj.id)) == [health]

    def test_unknown_references_are_not_found(self, uow_factory: UnitOfWorkFactory, clock: FakeClock) -> None:
        with uow_factory() as uow:
            agent, obj = seed_agent(uow, clock.now()), seed_object(uow, clock.now())
            uow.commit()
        assert_not_found(
            uow_factory, lambda uow: uow.health.upsert(b.health(clock.now(), uuid.uuid4(), obj.id))
        )
        assert_not_found(
            uow_factory, lambda uow: uow.health.upsert(b.health(clock.now(), agent.id, uuid.uuid4()))
        )

    def test_list_for_stack_covers_live_objects_only(
        self, uow_factory: UnitOfWorkFactory, clock: FakeClock
    ) -> None:
        with uow_factory() as uow:
            agent = seed_agent(uow, clock.now())
            stack = seed_stack(uow, clock.now())
            old = seed_object(uow, clock.now(), stack.id)
            elsewhere = seed_object(uow, clock.now())
            uow.health.upsert(b.health(clock.now(), agent.id, old.id))
            uow.health.upsert(b.health(clock.now(), agent.id, elsewhere.id))
            uow.deployment_objects.soft_delete_for_stack(stack.id, clock.advance())
            new = seed_object(uow, clock.now(), stack.id)
            current = uow.health.upsert(b.health(clock.now(), agent.id, new.id))
            uow.commit()
        assert read(uow_factory, lambda uow: uow.health.list_for_stack(stack.id)) == [current]


class AuditLogRepositoryContract:
    """Subclass with ``uow_factory`` and ``clock`` fixtures in scope."""

    def test_query_filters_pages_and_counts(self, uow_factory: UnitOfWorkFactory, clock: FakeClock) -> None:
        agent_id, stack_id = uuid.uuid4(), uuid.uuid4()
        entries = [
            b.audit_entry(clock.advance(), "agent.created", resource_id=agent_id, details={"name": "a"}),
            b.audit_entry(clock.advance(), "agent.updated", resource_id=agent_id, ip_address="10.0.0.1"),
            b.audit_entry(
                clock.advance(),
                "stack.created",
                resource_id=stack_id,
                actor_type=ActorType.GENERATOR,
                actor_id=agent_id,
                user_agent="ci/1.0",
            ),
            b.audit_entry(clock.advance(), "agentx.odd", resource_type="agent"),
            b.audit_entry(clock.advance(), "pak.rotated", resource_type="agent", resource_id=agent_id),
        ]
        committed(uow_factory, lambda uow: uow.audit.add_many(entries))
        ids = [e.id for e in entries]

        def run(query: AuditQuery) -> tuple[list[uuid.UUID], int]:
            page, total = read(uow_factory, lambda uow: uow.audit.query(query))
            return [e.id for e in page], total

        assert run(AuditQuery()) == (ids[::-1], 5)
        assert read(uow_factory, lambda uow: uow.audit.query(AuditQuery()))[0][-1] == entries[0]
        assert run(AuditQuery(action="agent.*")) == ([ids[1], ids[0]], 2)
        assert run(AuditQuery(action="agent.updated")) == ([ids[1]], 1)
        assert run(AuditQuery(action="agent")) == ([], 0)
        assert run(AuditQuery(actor_type="generator")) == ([ids[2]], 1)
        assert run(AuditQuery(actor_id=agent_id)) == ([ids[2]], 1)
        assert run(AuditQuery(resource_type="agent")) == ([ids[4], ids[3], ids[1], ids[0]], 4)
        assert run(AuditQuery(resource_type="agent", resource_id=agent_id)) == ([ids[4], ids[1], ids[0]], 3)
        assert run(AuditQuery(since=entries[1].timestamp, until=entries[3].timestamp)) == (
            [ids[2], ids[1]],
            2,
        )
        assert run(AuditQuery(limit=2)) == ([ids[4], ids[3]], 5)
        assert run(AuditQuery(limit=2, offset=2)) == ([ids[2], ids[1]], 5)
        assert run(AuditQuery(limit=2, offset=10)) == ([], 5)

    def test_delete_before(self, uow_factory: UnitOfWorkFactory, clock: FakeClock) -> None:
        old = b.audit_entry(clock.now())
        new = b.audit_entry(clock.advance(3600))
        committed(uow_factory, lambda uow: uow.audit.add_many([old, new]))
        assert (
            committed(uow_factory, lambda uow: uow.audit.delete_before(clock.now() - timedelta(minutes=1)))
            == 1
        )
        page, total = read(uow_factory, lambda uow: uow.audit.query(AuditQuery()))
        assert (page, total) == ([new], 1)


class AdminRepositoryContract:
    """Subclass with ``uow_factory`` and ``clock`` fixtures in scope."""

    def test_upsert_creates_then_replaces_the_hash(
        self, uow_factory: UnitOfWorkFactory, clock: FakeClock
    ) -> None:
        assert read(uow_factory, lambda uow: uow.admin.get()) is None
        role = AdminRole(id=uuid.uuid4(), pak_hash="first", created_at=clock.now(), updated_at=clock.now())
        assert committed(uow_factory, lambda uow: uow.admin.upsert(role)) == role
        later = clock.advance()
        replacement = AdminRole(id=uuid.uuid4(), pak_hash="second", created_at=later, updated_at=later)
        committed(uow_factory, lambda uow: uow.admin.upsert(replacement))
        stored = read(uow_factory, lambda uow: uow.admin.get())
        assert stored is not None
        assert (stored.id, stored.pak_hash, stored.created_at) == (role.id, "second", role.created_at)

    def test_initialization_flag(self, uow_factory: UnitOfWorkFactory, clock: FakeClock) -> None:
        assert not read(uow_factory, lambda uow: uow.admin.is_initialized())
        committed(uow_factory, lambda uow: uow.admin.mark_initialized(clock.now()))
        committed(uow_factory, lambda uow: uow.admin.mark_initialized(clock.advance()))
        assert read(uow_factory, lambda uow: uow.admin.is_initialized())


__all__ = [
    "AdminRepositoryContract",
    "AuditLogRepositoryContract",
    "DeploymentHealthRepositoryContract",
    "DiagnosticRepositoryContract",
]
