"""Contracts of ``AgentRepository`` and ``GeneratorRepository``."""

from __future__ import annotations

import attrs

from brokkr_domain.ports import UnitOfWorkFactory
from brokkr_domain.testing import builders as b
from brokkr_domain.testing.contracts._support import (
    assert_conflict,
    assert_not_found,
    committed,
    read,
    seed_agent,
    seed_stack,
)
from brokkr_domain.testing.fakes import FakeClock
from brokkr_domain.testing.inmemory import constraints as c


class AgentRepositoryContract:
    """Subclass with ``uow_factory`` and ``clock`` fixtures in scope."""

    def test_add_then_get_round_trips(self, uow_factory: UnitOfWorkFactory, clock: FakeClock) -> None:
        agent = b.agent(clock.now(), status="ACTIVE", pak_hash="h1")
        committed(uow_factory, lambda uow: uow.agents.add(agent))
        assert read(uow_factory, lambda uow: uow.agents.get(agent.id)) == agent

    def test_get_unknown_is_none(self, uow_factory: UnitOfWorkFactory, clock: FakeClock) -> None:
        assert read(uow_factory, lambda uow: uow.agents.get(b.agent(clock.now()).id)) is None

    def test_duplicate_live_name_and_cluster_conflicts(
        self, uow_factory: UnitOfWorkFactory, clock: FakeClock
    ) -> None:
        first = committed(uow_factory, lambda uow: uow.agents.add(b.agent(clock.now())))
        twin = b.agent(clock.now(), name=first.name, cluster_name=first.cluster_name)
        assert_conflict(uow_factory, lambda uow: uow.agents.add(twin), c.UNIQUE_AGENT_CLUSTER)

    def test_same_name_in_another_cluster_is_fine(
        self, uow_factory: UnitOfWorkFactory, clock: FakeClock
    ) -> None:
        first = committed(uow_factory, lambda uow: uow.agents.add(b.agent(clock.now())))
        other = committed(uow_factory, lambda uow: uow.agents.add(b.agent(clock.now(), name=first.name)))
        assert read(uow_factory, lambda uow: uow.agents.get(other.id)) == other

    def test_name_is_reusable_after_soft_delete(
        self, uow_factory: UnitOfWorkFactory, clock: FakeClock
    ) -> None:
        first = committed(uow_factory, lambda uow: uow.agents.add(b.agent(clock.now())))
        assert committed(uow_factory, lambda uow: uow.agents.soft_delete(first.id, clock.advance()))
        again = b.agent(clock.now(), name=first.name, cluster_name=first.cluster_name)
        committed(uow_factory, lambda uow: uow.agents.add(again))
        assert read(uow_factory, lambda uow: uow.agents.find_by_name(first.name, first.cluster_name)) == again

    def test_soft_delete_hides_unless_asked(self, uow_factory: UnitOfWorkFactory, clock: FakeClock) -> None:
        agent = committed(uow_factory, lambda uow: uow.agents.add(b.agent(clock.now(), pak_hash="gone")))
        at = clock.advance()
        assert committed(uow_factory, lambda uow: uow.agents.soft_delete(agent.id, at))
        assert not committed(uow_factory, lambda uow: uow.agents.soft_delete(agent.id, at))
        with uow_factory() as uow:
            assert uow.agents.get(agent.id) is None
            deleted = uow.agents.get(agent.id, include_deleted=True)
            assert deleted is not None
            assert deleted.deleted_at == at
            assert uow.agents.find_by_name(agent.name, agent.cluster_name) is None
            assert uow.agents.find_by_pak_hash("gone") is None
            assert agent.id not in [a.id for a in uow.agents.list()]

    def test_soft_delete_of_unknown_is_false(self, uow_factory: UnitOfWorkFactory, clock: FakeClock) -> None:
        assert not committed(
            uow_factory, lambda uow: uow.agents.soft_delete(b.agent(clock.now()).id, clock.now())
        )

    def test_find_by_name_and_pak_hash(self, uow_factory: UnitOfWorkFactory, clock: FakeClock) -> None:
        agent = committed(uow_factory, lambda uow: uow.agents.add(b.agent(clock.now(), pak_hash="abc123")))
        with uow_factory() as uow:
            assert uow.agents.find_by_name(agent.name, agent.cluster_name) == agent
            assert uow.agents.find_by_name(agent.name, "elsewhere") is None
            assert uow.agents.find_by_pak_hash("abc123") == agent
            assert uow.agents.find_by_pak_hash("nope") is None

    def test_list_returns_live_agents_by_creation_time(
        self, uow_factory: UnitOfWorkFactory, clock: FakeClock
    ) -> None:
        older = b.agent(clock.now())
        newer = b.agent(clock.advance())
        doomed = b.agent(clock.advance())
        with uow_factory() as uow:
            for agent in (newer, doomed, older):
                uow.agents.add(agent)
            uow.agents.soft_delete(doomed.id, clock.now())
            uow.commit()
        assert [a.id for a in read(uow_factory, lambda uow: uow.agents.list())] == [older.id, newer.id]

    def test_update_persists_fields(self, uow_factory: UnitOfWorkFactory, clock: FakeClock) -> None:
        agent = committed(uow_factory, lambda uow: uow.agents.add(b.agent(clock.now())))
        changed = attrs.evolve(
            agent, name="renamed", status="ACTIVE", pak_hash="new-hash", updated_at=clock.advance()
        )
        committed(uow_factory, lambda uow: uow.agents.update(changed))
        stored = read(uow_factory, lambda uow: uow.agents.get(agent.id))
        assert stored is not None
        assert (stored.name, stored.status, stored.pak_hash) == ("renamed", "ACTIVE", "new-hash")

    def test_update_of_unknown_is_not_found(self, uow_factory: UnitOfWorkFactory, clock: FakeClock) -> None:
        assert_not_found(uow_factory, lambda uow: uow.agents.update(b.agent(clock.now())))

    def test_update_into_a_duplicate_conflicts(
        self, uow_factory: UnitOfWorkFactory, clock: FakeClock
    ) -> None:
        first = committed(uow_factory, lambda uow: uow.agents.add(b.agent(clock.now())))
        second = committed(uow_factory, lambda uow: uow.agents.add(b.agent(clock.now())))
        clash = attrs.evolve(second, name=first.name, cluster_name=first.cluster_name)
        assert_conflict(uow_factory, lambda uow: uow.agents.update(clash), c.UNIQUE_AGENT_CLUSTER)

    def test_touch_heartbeats(self, uow_factory: UnitOfWorkFactory, clock: FakeClock) -> None:
        one, two, gone = (
            committed(uow_factory, lambda uow: uow.agents.add(b.agent(clock.now()))) for _ in "abc"
        )
        committed(uow_factory, lambda uow: uow.agents.soft_delete(gone.id, clock.now()))
        unknown = b.agent(clock.now()).id
        first, second = clock.advance(30), clock.advance(1)
        beats = {one.id: first, two.id: second, gone.id: second, unknown: second}
        assert committed(uow_factory, lambda uow: uow.agents.touch_heartbeats(beats)) == {one.id, two.id}
        stored = read(
            uow_factory, lambda uow: [uow.agents.get(i, include_deleted=True) for i in (one.id, two.id)]
        )
        assert [agent.last_heartbeat for agent in stored if agent is not None] == [first, second]
        deleted = read(uow_factory, lambda uow: uow.agents.get(gone.id, include_deleted=True))
        assert (
            deleted is not None and deleted.last_heartbeat is None
        )  # a deleted agent's record stays as it was
        assert committed(uow_factory, lambda uow: uow.agents.touch_heartbeats({})) == frozenset()

    def test_labels(self, uow_factory: UnitOfWorkFactory, clock: FakeClock) -> None:
        agent = committed(uow_factory, lambda uow: seed_agent(uow, clock.now(), labels=("prod", "eu")))
        with uow_factory() as uow:
            assert sorted(label.label for label in uow.agents.list_labels(agent.id)) == ["eu", "prod"]
            assert all(label.agent_id == agent.id for label in uow.agents.list_labels(agent.id))
            assert uow.agents.remove_label(agent.id, "eu")
            assert not uow.agents.remove_label(agent.id, "eu")
            uow.commit()
        assert [label.label for label in read(uow_factory, lambda uow: uow.agents.list_labels(agent.id))] == [
            "prod"
        ]

    def test_duplicate_label_conflicts(self, uow_factory: UnitOfWorkFactory, clock: FakeClock) -> None:
        agent = committed(uow_factory, lambda uow: seed_agent(uow, clock.now(), labels=("prod",)))
        assert_conflict(
            uow_factory, lambda uow: uow.agents.add_label(b.agent_label(agent.id, "prod")), c.AGENT_LABEL
        )

    def test_label_of_unknown_agent_is_not_found(
        self, uow_factory: UnitOfWorkFactory, clock: FakeClock
    ) -> None:
        ghost = b.agent(clock.now())
        assert_not_found(uow_factory, lambda uow: uow.agents.add_label(b.agent_label(ghost.id, "x")))
        assert_not_found(
            uow_factory, lambda uow: uow.agents.add_annotation(b.agent_annotation(ghost.id, "k", "v"))
        )

    def test_annotations_hold_one_value_per_key(
        self, uow_factory: UnitOfWorkFactory, clock: FakeClock
    ) -> None:
        agent = committed(uow_factory, lambda uow: seed_agent(uow, clock.now(), annotations={"tier": "gold"}))
        assert_conflict(
            uow_factory,
            lambda uow: uow.agents.add_annotation(b.agent_annotation(agent.id, "tier", "silver")),
            c.AGENT_ANNOTATION_KEY,
        )
        with uow_factory() as uow:
            uow.agents.add_annotation(b.agent_annotation(agent.id, "zone", "a"))
            pairs = sorted((a.key, a.value) for a in uow.agents.list_annotations(agent.id))
            assert pairs == [("tier", "gold"), ("zone", "a")]
            assert uow.agents.remove_annotation(agent.id, "tier")
            assert not uow.agents.remove_annotation(agent.id, "tier")
            uow.commit()
        remaining = read(uow_factory, lambda uow: uow.agents.list_annotations(agent.id))
        assert [(a.key, a.value) for a in remaining] == [("zone", "a")]

    def test_targets(self, uow_factory: UnitOfWorkFactory, clock: FakeClock) -> None:
        with uow_factory() as uow:
            agent = seed_agent(uow, clock.now())
            stack = seed_stack(uow, clock.now())
            uow.commit()
        committed(uow_factory, lambda uow: uow.agents.add_target(b.agent_target(agent.id, stack.id)))
        with uow_factory() as uow:
            assert uow.agents.is_targeted(agent.id, stack.id)
            assert [(t.agent_id, t.stack_id) for t in uow.agents.list_targets(agent.id)] == [
                (agent.id, stack.id)
            ]
        assert_conflict(
            uow_factory, lambda uow: uow.agents.add_target(b.agent_target(agent.id, stack.id)), c.AGENT_TARGET
        )
        with uow_factory() as uow:
            assert uow.agents.remove_target(agent.id, stack.id)
            assert not uow.agents.remove_target(agent.id, stack.id)
            assert not uow.agents.is_targeted(agent.id, stack.id)
            uow.commit()
        assert read(uow_factory, lambda uow: uow.agents.list_targets(agent.id)) == []

    def test_target_of_unknown_stack_or_agent_is_not_found(
        self, uow_factory: UnitOfWorkFactory, clock: FakeClock
    ) -> None:
        with uow_factory() as uow:
            agent = seed_agent(uow, clock.now())
            stack = seed_stack(uow, clock.now())
            uow.commit()
        ghost_stack = b.stack(clock.now(), stack.generator_id)
        ghost_agent = b.agent(clock.now())
        assert_not_found(
            uow_factory, lambda uow: uow.agents.add_target(b.agent_target(agent.id, ghost_stack.id))
        )
        assert_not_found(
            uow_factory, lambda uow: uow.agents.add_target(b.agent_target(ghost_agent.id, stack.id))
        )


class GeneratorRepositoryContract:
    """Subclass with ``uow_factory`` and ``clock`` fixtures in scope."""

    def test_add_then_get_round_trips(self, uow_factory: UnitOfWorkFactory, clock: FakeClock) -> None:
        generator = b.generator(clock.now(), description="ci", pak_hash="g-hash", last_active_at=clock.now())
        committed(uow_factory, lambda uow: uow.generators.add(generator))
        assert read(uow_factory, lambda uow: uow.generators.get(generator.id)) == generator

    def test_duplicate_live_name_conflicts(self, uow_factory: UnitOfWorkFactory, clock: FakeClock) -> None:
        first = committed(uow_factory, lambda uow: uow.generators.add(b.generator(clock.now())))
        twin = b.generator(clock.now(), name=first.name)
        assert_conflict(uow_factory, lambda uow: uow.generators.add(twin), c.UNIQUE_GENERATOR_NAME)

    def test_name_is_reusable_after_soft_delete(
        self, uow_factory: UnitOfWorkFactory, clock: FakeClock
    ) -> None:
        first = committed(uow_factory, lambda uow: uow.generators.add(b.generator(clock.now())))
        assert committed(uow_factory, lambda uow: uow.generators.soft_delete(first.id, clock.advance()))
        again = committed(
            uow_factory, lambda uow: uow.generators.add(b.generator(clock.now(), name=first.name))
        )
        assert read(uow_factory, lambda uow: uow.generators.find_by_name(first.name)) == again

    def test_soft_delete_hides_unless_asked(self, uow_factory: UnitOfWorkFactory, clock: FakeClock) -> None:
        generator = committed(
            uow_factory, lambda uow: uow.generators.add(b.generator(clock.now(), pak_hash="p"))
        )
        at = clock.advance()
        assert committed(uow_factory, lambda uow: uow.generators.soft_delete(generator.id, at))
        assert not committed(uow_factory, lambda uow: uow.generators.soft_delete(generator.id, at))
        with uow_factory() as uow:
            assert uow.generators.get(generator.id) is None
            deleted = uow.generators.get(generator.id, include_deleted=True)
            assert deleted is not None
            assert deleted.deleted_at == at
            assert uow.generators.find_by_name(generator.name) is None
            assert uow.generators.find_by_pak_hash("p") is None
            assert generator.id not in [g.id for g in uow.generators.list()]

    def test_find_and_list(self, uow_factory: UnitOfWorkFactory, clock: FakeClock) -> None:
        first = b.generator(clock.now(), pak_hash="one")
        second = b.generator(clock.advance(), pak_hash="two")
        with uow_factory() as uow:
            uow.generators.add(second)
            uow.generators.add(first)
            uow.commit()
        with uow_factory() as uow:
            assert uow.generators.find_by_pak_hash("two") == second
            assert uow.generators.find_by_name(first.name) == first
            assert uow.generators.find_by_name("missing") is None
            ours = {first.id, second.id}
            # Only relative order: a schema may seed its own generator (the admin's).
            assert [g.id for g in uow.generators.list() if g.id in ours] == [first.id, second.id]

    def test_update(self, uow_factory: UnitOfWorkFactory, clock: FakeClock) -> None:
        generator = committed(uow_factory, lambda uow: uow.generators.add(b.generator(clock.now())))
        changed = attrs.evolve(generator, description="new", is_active=False, pak_hash="rotated")
        committed(uow_factory, lambda uow: uow.generators.update(changed))
        stored = read(uow_factory, lambda uow: uow.generators.get(generator.id))
        assert stored is not None
        assert (stored.description, stored.is_active, stored.pak_hash) == ("new", False, "rotated")
        assert_not_found(uow_factory, lambda uow: uow.generators.update(b.generator(clock.now())))


__all__ = ["AgentRepositoryContract", "GeneratorRepositoryContract"]
