"""Contracts of ``DeploymentObjectRepository`` (with the target-state rule) and ``AgentEventRepository``."""

from __future__ import annotations

import uuid
from uuid import UUID

import pytest

from brokkr_domain.model import DeploymentObject, RenderedProvenance
from brokkr_domain.ports import TargetStateQuery, UnitOfWork, UnitOfWorkFactory
from brokkr_domain.testing import builders as b
from brokkr_domain.testing.contracts._support import (
    assert_conflict,
    assert_not_found,
    committed,
    read,
    seed_agent,
    seed_object,
    seed_stack,
)
from brokkr_domain.testing.fakes import FakeClock
from brokkr_domain.testing.inmemory import constraints as c


def _state(uow_factory: UnitOfWorkFactory, agent_id: UUID, *, incremental: bool = False) -> list[UUID]:
    query = TargetStateQuery(agent_id=agent_id, incremental=incremental)
    return [obj.id for obj in read(uow_factory, lambda uow: uow.deployment_objects.target_state(query))]


def _delete_stack(uow: UnitOfWork, clock: FakeClock, stack_id: UUID) -> DeploymentObject:
    """What deleting a stack does: soft-delete the stack and its objects, then add a deletion marker."""
    at = clock.advance()
    uow.stacks.soft_delete(stack_id, at)
    uow.deployment_objects.soft_delete_for_stack(stack_id, at)
    return uow.deployment_objects.add(b.deletion_marker(at, stack_id))


class DeploymentObjectRepositoryContract:
    """Subclass with ``uow_factory`` and ``clock`` fixtures in scope."""

    def test_add_assigns_increasing_global_sequence(
        self, uow_factory: UnitOfWorkFactory, clock: FakeClock
    ) -> None:
        with uow_factory() as uow:
            one, two = seed_stack(uow, clock.now()), seed_stack(uow, clock.now())
            first = seed_object(uow, clock.now(), one.id)
            second = seed_object(uow, clock.now(), two.id)
            third = seed_object(uow, clock.now(), one.id)
            uow.commit()
        assert 0 < first.sequence_id < second.sequence_id < third.sequence_id
        stored = read(uow_factory, lambda uow: uow.deployment_objects.get(second.id))
        assert stored == second

    def test_round_trip_keeps_every_field(self, uow_factory: UnitOfWorkFactory, clock: FakeClock) -> None:
        stack = committed(uow_factory, lambda uow: seed_stack(uow, clock.now()))
        obj = b.deployment_object(clock.now(), stack.id, yaml_content="kind: A\n---\nkind: B\n")
        stored = committed(uow_factory, lambda uow: uow.deployment_objects.add(obj))
        assert stored.sequence_id > 0
        assert read(uow_factory, lambda uow: uow.deployment_objects.get(obj.id)) == stored
        assert stored.yaml_content == obj.yaml_content
        assert stored.yaml_checksum == obj.yaml_checksum

    def test_unknown_stack_is_not_found(self, uow_factory: UnitOfWorkFactory, clock: FakeClock) -> None:
        stack = committed(uow_factory, lambda uow: seed_stack(uow, clock.now()))
        ghost = b.stack(clock.now(), stack.generator_id)
        assert_not_found(
            uow_factory, lambda uow: uow.deployment_objects.add(b.deployment_object(clock.now(), ghost.id))
        )

    def test_list_for_stack_is_live_newest_first(
        self, uow_factory: UnitOfWorkFactory, clock: FakeClock
    ) -> None:
        with uow_factory() as uow:
            stack = seed_stack(uow, clock.now())
            older = seed_object(uow, clock.now(), stack.id)
            newer = seed_object(uow, clock.now(), stack.id)
            seed_object(uow, clock.now())  # another stack
            uow.commit()
        listed = read(uow_factory, lambda uow: uow.deployment_objects.list_for_stack(stack.id))
        assert [o.id for o in listed] == [newer.id, older.id]

    def test_soft_delete_for_stack(self, uow_factory: UnitOfWorkFactory, clock: FakeClock) -> None:
        with uow_factory() as uow:
            stack = seed_stack(uow, clock.now())
            objs = [seed_object(uow, clock.now(), stack.id) for _ in range(3)]
            other = seed_object(uow, clock.now())
            uow.commit()
        before = read(uow_factory, lambda uow: uow.deployment_objects.count())
        at = clock.advance()
        assert (
            committed(uow_factory, lambda uow: uow.deployment_objects.soft_delete_for_stack(stack.id, at))
            == 3
        )
        assert (
            committed(uow_factory, lambda uow: uow.deployment_objects.soft_delete_for_stack(stack.id, at))
            == 0
        )
        with uow_factory() as uow:
            assert uow.deployment_objects.list_for_stack(stack.id) == []
            assert uow.deployment_objects.get(objs[0].id) is None
            hidden = uow.deployment_objects.get(objs[0].id, include_deleted=True)
            assert hidden is not None
            assert hidden.deleted_at == at
            assert uow.deployment_objects.get(other.id) == other
            assert uow.deployment_objects.count() == before - 3

    def test_provenance(self, uow_factory: UnitOfWorkFactory, clock: FakeClock) -> None:
        with uow_factory() as uow:
            obj = seed_object(uow, clock.now())
            template = uow.templates.add(b.template(clock.now()))
            uow.commit()

        def provenance() -> RenderedProvenance:
            return RenderedProvenance(
                id=uuid.uuid4(),
                deployment_object_id=obj.id,
                template_id=template.id,
                template_version=template.version,
                template_parameters={"name": "web", "replicas": 2},
                created_at=clock.now(),
            )

        first = provenance()
        committed(uow_factory, lambda uow: uow.deployment_objects.add_provenance(first))
        assert read(uow_factory, lambda uow: uow.deployment_objects.get_provenance(obj.id)) == first
        assert read(uow_factory, lambda uow: uow.deployment_objects.get_provenance(template.id)) is None
        assert_conflict(
            uow_factory, lambda uow: uow.deployment_objects.add_provenance(provenance()), c.RENDERED_OBJECT
        )

    # --- target state ---

    def test_target_state_is_latest_live_object_per_associated_stack(
        self, uow_factory: UnitOfWorkFactory, clock: FakeClock
    ) -> None:
        with uow_factory() as uow:
            agent = seed_agent(uow, clock.now(), labels=("prod",))
            web = seed_stack(uow, clock.now(), labels=("prod",))
            db = seed_stack(uow, clock.now(), labels=("prod",))
            seed_object(uow, clock.now(), web.id)
            db_latest = seed_object(uow, clock.now(), db.id)
            web_latest = seed_object(uow, clock.now(), web.id)
            seed_object(uow, clock.now(), seed_stack(uow, clock.now(), labels=("dev",)).id)
            seed_stack(uow, clock.now(), labels=("prod",))  # associated but empty
            uow.commit()
        assert _state(uow_factory, agent.id) == [web_latest.id, db_latest.id]

    @pytest.mark.parametrize("via", ["label", "annotation", "target"])
    def test_target_state_follows_each_kind_of_association(
        self, uow_factory: UnitOfWorkFactory, clock: FakeClock, via: str
    ) -> None:
        with uow_factory() as uow:
            agent = seed_agent(uow, clock.now(), labels=("l1",), annotations={"k": "v"})
            if via == "label":
                stack = seed_stack(uow, clock.now(), labels=("l1",))
            elif via == "annotation":
                stack = seed_stack(uow, clock.now(), annotations={"k": "v"})
            else:
                stack = seed_stack(uow, clock.now())
                uow.agents.add_target(b.agent_target(agent.id, stack.id))
            obj = seed_object(uow, clock.now(), stack.id)
            seed_object(uow, clock.now(), seed_stack(uow, clock.now(), annotations={"k": "other"}).id)
            uow.commit()
        assert _state(uow_factory, agent.id) == [obj.id]

    def test_target_state_hides_soft_deleted_objects(
        self, uow_factory: UnitOfWorkFactory, clock: FakeClock
    ) -> None:
        with uow_factory() as uow:
            agent = seed_agent(uow, clock.now(), labels=("prod",))
            stack = seed_stack(uow, clock.now(), labels=("prod",))
            seed_object(uow, clock.now(), stack.id)
            uow.deployment_objects.soft_delete_for_stack(stack.id, clock.advance())
            uow.commit()
        assert _state(uow_factory, agent.id) == []
        fresh = committed(uow_factory, lambda uow: seed_object(uow, clock.now(), stack.id))
        assert _state(uow_factory, agent.id) == [fresh.id]

    def test_incremental_hides_success_but_not_failure(
        self, uow_factory: UnitOfWorkFactory, clock: FakeClock
    ) -> None:
        with uow_factory() as uow:
            agent = seed_agent(uow, clock.now(), labels=("prod",))
            other = seed_agent(uow, clock.now(), labels=("prod",))
            ok_stack = seed_stack(uow, clock.now(), labels=("prod",))
            bad_stack = seed_stack(uow, clock.now(), labels=("prod",))
            ok = seed_object(uow, clock.now(), ok_stack.id)
            bad = seed_object(uow, clock.now(), bad_stack.id)
            uow.agent_events.add(b.agent_event(clock.now(), agent.id, ok.id, "SUCCESS"))
            uow.agent_events.add(b.agent_event(clock.now(), agent.id, bad.id, "FAILURE"))
            uow.agent_events.add(b.agent_event(clock.now(), other.id, bad.id, "SUCCESS"))
            uow.commit()
        assert _state(uow_factory, agent.id) == [bad.id, ok.id]
        assert _state(uow_factory, agent.id, incremental=True) == [bad.id]
        assert _state(uow_factory, other.id, incremental=True) == [ok.id]

    def test_a_newer_object_supersedes_a_failed_one(
        self, uow_factory: UnitOfWorkFactory, clock: FakeClock
    ) -> None:
        with uow_factory() as uow:
            agent = seed_agent(uow, clock.now(), labels=("prod",))
            stack = seed_stack(uow, clock.now(), labels=("prod",))
            failed = seed_object(uow, clock.now(), stack.id)
            uow.agent_events.add(b.agent_event(clock.now(), agent.id, failed.id, "FAILURE"))
            newer = seed_object(uow, clock.now(), stack.id)
            uow.commit()
        assert _state(uow_factory, agent.id, incremental=True) == [newer.id]

    def test_soft_deleted_events_do_not_count(self, uow_factory: UnitOfWorkFactory, clock: FakeClock) -> None:
        with uow_factory() as uow:
            agent = seed_agent(uow, clock.now(), labels=("prod",))
            stack = seed_stack(uow, clock.now(), labels=("prod",))
            obj = seed_object(uow, clock.now(), stack.id)
            uow.agent_events.add(b.agent_event(clock.now(), agent.id, obj.id, "SUCCESS"))
            uow.commit()
        assert _state(uow_factory, agent.id, incremental=True) == []
        committed(uow_factory, lambda uow: uow.agent_events.soft_delete_for_agent(agent.id, clock.advance()))
        assert _state(uow_factory, agent.id, incremental=True) == [obj.id]

    def test_deletion_marker_reaches_only_agents_that_deployed_the_stack(
        self, uow_factory: UnitOfWorkFactory, clock: FakeClock
    ) -> None:
        with uow_factory() as uow:
            deployer = seed_agent(uow, clock.now(), labels=("prod",))
            bystander = seed_agent(uow, clock.now(), labels=("prod",))
            stack = seed_stack(uow, clock.now(), labels=("prod",))
            obj = seed_object(uow, clock.now(), stack.id)
            uow.agent_events.add(b.agent_event(clock.now(), deployer.id, obj.id, "SUCCESS"))
            uow.commit()
        marker = committed(uow_factory, lambda uow: _delete_stack(uow, clock, stack.id))
        assert _state(uow_factory, deployer.id) == [marker.id]
        assert _state(uow_factory, deployer.id, incremental=True) == [marker.id]
        assert _state(uow_factory, bystander.id) == []
        assert _state(uow_factory, bystander.id, incremental=True) == []

    def test_deletion_marker_reaches_an_agent_whose_deployment_failed(
        self, uow_factory: UnitOfWorkFactory, clock: FakeClock
    ) -> None:
        with uow_factory() as uow:
            agent = seed_agent(uow, clock.now())
            stack = seed_stack(uow, clock.now())
            uow.agents.add_target(b.agent_target(agent.id, stack.id))
            obj = seed_object(uow, clock.now(), stack.id)
            uow.agent_events.add(b.agent_event(clock.now(), agent.id, obj.id, "FAILURE"))
            uow.commit()
        marker = committed(uow_factory, lambda uow: _delete_stack(uow, clock, stack.id))
        assert _state(uow_factory, agent.id) == [marker.id]

    def test_acknowledged_marker_disappears(self, uow_factory: UnitOfWorkFactory, clock: FakeClock) -> None:
        with uow_factory() as uow:
            agent = seed_agent(uow, clock.now(), labels=("prod",))
            stack = seed_stack(uow, clock.now(), labels=("prod",))
            obj = seed_object(uow, clock.now(), stack.id)
            uow.agent_events.add(b.agent_event(clock.now(), agent.id, obj.id, "SUCCESS"))
            uow.commit()
        marker = committed(uow_factory, lambda uow: _delete_stack(uow, clock, stack.id))
        committed(
            uow_factory, lambda uow: uow.agent_events.add(b.agent_event(clock.now(), agent.id, marker.id))
        )
        assert _state(uow_factory, agent.id) == []
        assert _state(uow_factory, agent.id, incremental=True) == []

    def test_marker_in_a_live_stack_is_returned_like_any_object(
        self, uow_factory: UnitOfWorkFactory, clock: FakeClock
    ) -> None:
        with uow_factory() as uow:
            agent = seed_agent(uow, clock.now(), labels=("prod",))
            stack = seed_stack(uow, clock.now(), labels=("prod",))
            seed_object(uow, clock.now(), stack.id)
            marker = uow.deployment_objects.add(b.deletion_marker(clock.now(), stack.id))
            uow.commit()
        assert marker.is_deletion_marker
        assert _state(uow_factory, agent.id) == [marker.id]

    def test_soft_deleted_stack_without_events_is_invisible(
        self, uow_factory: UnitOfWorkFactory, clock: FakeClock
    ) -> None:
        with uow_factory() as uow:
            agent = seed_agent(uow, clock.now(), labels=("prod",))
            stack = seed_stack(uow, clock.now(), labels=("prod",))
            seed_object(uow, clock.now(), stack.id)
            uow.stacks.soft_delete(stack.id, clock.advance())
            uow.commit()
        assert _state(uow_factory, agent.id) == []

    def test_target_state_of_unknown_agent_is_empty(
        self, uow_factory: UnitOfWorkFactory, clock: FakeClock
    ) -> None:
        committed(uow_factory, lambda uow: seed_object(uow, clock.now()))
        assert _state(uow_factory, uuid.uuid4()) == []


class AgentEventRepositoryContract:
    """Subclass with ``uow_factory`` and ``clock`` fixtures in scope."""

    def test_add_then_get_round_trips(self, uow_factory: UnitOfWorkFactory, clock: FakeClock) -> None:
        with uow_factory() as uow:
            agent = seed_agent(uow, clock.now())
            obj = seed_object(uow, clock.now())
            uow.commit()
        event = b.agent_event(clock.now(), agent.id, obj.id, "FAILURE", message="boom")
        committed(uow_factory, lambda uow: uow.agent_events.add(event))
        assert read(uow_factory, lambda uow: uow.agent_events.get(event.id)) == event

    def test_unknown_agent_or_object_is_not_found(
        self, uow_factory: UnitOfWorkFactory, clock: FakeClock
    ) -> None:
        with uow_factory() as uow:
            agent = seed_agent(uow, clock.now())
            obj = seed_object(uow, clock.now())
            uow.commit()
        ghost_agent = b.agent(clock.now())
        ghost_obj = b.deployment_object(clock.now(), obj.stack_id)
        assert_not_found(
            uow_factory, lambda uow: uow.agent_events.add(b.agent_event(clock.now(), ghost_agent.id, obj.id))
        )
        assert_not_found(
            uow_factory, lambda uow: uow.agent_events.add(b.agent_event(clock.now(), agent.id, ghost_obj.id))
        )

    def test_list_is_newest_first_and_filters_by_agent(
        self, uow_factory: UnitOfWorkFactory, clock: FakeClock
    ) -> None:
        with uow_factory() as uow:
            one, two = seed_agent(uow, clock.now()), seed_agent(uow, clock.now())
            obj = seed_object(uow, clock.now())
            first = uow.agent_events.add(b.agent_event(clock.advance(), one.id, obj.id))
            second = uow.agent_events.add(b.agent_event(clock.advance(), two.id, obj.id))
            third = uow.agent_events.add(b.agent_event(clock.advance(), one.id, obj.id))
            uow.commit()
        with uow_factory() as uow:
            assert [e.id for e in uow.agent_events.list(agent_id=one.id)] == [third.id, first.id]
            ours = {first.id, second.id, third.id}
            assert [e.id for e in uow.agent_events.list() if e.id in ours] == [third.id, second.id, first.id]

    def test_soft_delete_for_agent(self, uow_factory: UnitOfWorkFactory, clock: FakeClock) -> None:
        with uow_factory() as uow:
            one, two = seed_agent(uow, clock.now()), seed_agent(uow, clock.now())
            obj = seed_object(uow, clock.now())
            gone = [uow.agent_events.add(b.agent_event(clock.now(), one.id, obj.id)) for _ in range(2)]
            kept = uow.agent_events.add(b.agent_event(clock.now(), two.id, obj.id))
            uow.commit()
        at = clock.advance()
        assert committed(uow_factory, lambda uow: uow.agent_events.soft_delete_for_agent(one.id, at)) == 2
        assert committed(uow_factory, lambda uow: uow.agent_events.soft_delete_for_agent(one.id, at)) == 0
        with uow_factory() as uow:
            assert uow.agent_events.list(agent_id=one.id) == []
            assert uow.agent_events.get(gone[0].id) is None
            assert uow.agent_events.get(kept.id) == kept


__all__ = ["AgentEventRepositoryContract", "DeploymentObjectRepositoryContract"]
