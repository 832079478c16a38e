"""Contract of ``StackRepository``, including association of stacks with agents."""

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
    seed_generator,
    seed_stack,
)
from brokkr_domain.testing.fakes import FakeClock
from brokkr_domain.testing.inmemory import constraints as c


class StackRepositoryContract:
    """Subclass with ``uow_factory`` and ``clock`` fixtures in scope."""

    def test_add_then_get_round_trips(self, uow_factory: UnitOfWorkFactory, clock: FakeClock) -> None:
        generator = committed(uow_factory, lambda uow: seed_generator(uow, clock.now()))
        stack = b.stack(clock.now(), generator.id, description="web tier")
        committed(uow_factory, lambda uow: uow.stacks.add(stack))
        assert read(uow_factory, lambda uow: uow.stacks.get(stack.id)) == stack

    def test_unknown_generator_is_not_found(self, uow_factory: UnitOfWorkFactory, clock: FakeClock) -> None:
        ghost = b.generator(clock.now())
        assert_not_found(uow_factory, lambda uow: uow.stacks.add(b.stack(clock.now(), ghost.id)))

    def test_duplicate_live_name_conflicts_across_generators(
        self, uow_factory: UnitOfWorkFactory, clock: FakeClock
    ) -> None:
        first = committed(uow_factory, lambda uow: seed_stack(uow, clock.now()))
        other_generator = committed(uow_factory, lambda uow: seed_generator(uow, clock.now()))
        twin = b.stack(clock.now(), other_generator.id, name=first.name)
        assert_conflict(uow_factory, lambda uow: uow.stacks.add(twin), c.UNIQUE_STACK_NAME)

    def test_name_is_reusable_after_soft_delete(
        self, uow_factory: UnitOfWorkFactory, clock: FakeClock
    ) -> None:
        first = committed(uow_factory, lambda uow: seed_stack(uow, clock.now()))
        assert committed(uow_factory, lambda uow: uow.stacks.soft_delete(first.id, clock.advance()))
        again = b.stack(clock.now(), first.generator_id, name=first.name)
        committed(uow_factory, lambda uow: uow.stacks.add(again))
        assert read(uow_factory, lambda uow: uow.stacks.get(again.id)) == again

    def test_soft_delete_hides_unless_asked(self, uow_factory: UnitOfWorkFactory, clock: FakeClock) -> None:
        stack = committed(uow_factory, lambda uow: seed_stack(uow, clock.now()))
        at = clock.advance()
        assert committed(uow_factory, lambda uow: uow.stacks.soft_delete(stack.id, at))
        assert not committed(uow_factory, lambda uow: uow.stacks.soft_delete(stack.id, at))
        with uow_factory() as uow:
            assert uow.stacks.get(stack.id) is None
            deleted = uow.stacks.get(stack.id, include_deleted=True)
            assert deleted is not None
            assert deleted.deleted_at == at
            assert stack.id not in [s.id for s in uow.stacks.list()]

    def test_list_filters_by_generator(self, uow_factory: UnitOfWorkFactory, clock: FakeClock) -> None:
        with uow_factory() as uow:
            mine = seed_generator(uow, clock.now())
            theirs = seed_generator(uow, clock.now())
            first = seed_stack(uow, clock.now(), generator_id=mine.id)
            second = seed_stack(uow, clock.advance(), generator_id=mine.id)
            other = seed_stack(uow, clock.advance(), generator_id=theirs.id)
            uow.commit()
        with uow_factory() as uow:
            assert {s.id for s in uow.stacks.list(generator_id=mine.id)} == {first.id, second.id}
            assert {s.id for s in uow.stacks.list()} >= {first.id, second.id, other.id}

    def test_update(self, uow_factory: UnitOfWorkFactory, clock: FakeClock) -> None:
        stack = committed(uow_factory, lambda uow: seed_stack(uow, clock.now()))
        committed(
            uow_factory, lambda uow: uow.stacks.update(attrs.evolve(stack, name="renamed", description="d"))
        )
        stored = read(uow_factory, lambda uow: uow.stacks.get(stack.id))
        assert stored is not None
        assert (stored.name, stored.description) == ("renamed", "d")
        assert_not_found(uow_factory, lambda uow: uow.stacks.update(b.stack(clock.now(), stack.generator_id)))

    def test_labels(self, uow_factory: UnitOfWorkFactory, clock: FakeClock) -> None:
        stack = committed(uow_factory, lambda uow: seed_stack(uow, clock.now(), labels=("web", "eu")))
        assert_conflict(
            uow_factory, lambda uow: uow.stacks.add_label(b.stack_label(stack.id, "web")), c.STACK_LABEL
        )
        with uow_factory() as uow:
            assert sorted(label.label for label in uow.stacks.list_labels(stack.id)) == ["eu", "web"]
            assert uow.stacks.remove_label(stack.id, "eu")
            assert not uow.stacks.remove_label(stack.id, "eu")
            uow.commit()
        assert [label.label for label in read(uow_factory, lambda uow: uow.stacks.list_labels(stack.id))] == [
            "web"
        ]
        ghost = b.stack(clock.now(), stack.generator_id)
        assert_not_found(uow_factory, lambda uow: uow.stacks.add_label(b.stack_label(ghost.id, "x")))

    def test_annotations_hold_one_value_per_key(
        self, uow_factory: UnitOfWorkFactory, clock: FakeClock
    ) -> None:
        stack = committed(uow_factory, lambda uow: seed_stack(uow, clock.now(), annotations={"tier": "gold"}))
        assert_conflict(
            uow_factory,
            lambda uow: uow.stacks.add_annotation(b.stack_annotation(stack.id, "tier", "silver")),
            c.STACK_ANNOTATION_KEY,
        )
        with uow_factory() as uow:
            uow.stacks.add_annotation(b.stack_annotation(stack.id, "zone", "a"))
            assert sorted((a.key, a.value) for a in uow.stacks.list_annotations(stack.id)) == [
                ("tier", "gold"),
                ("zone", "a"),
            ]
            assert uow.stacks.remove_annotation(stack.id, "tier")
            assert not uow.stacks.remove_annotation(stack.id, "tier")
            uow.commit()
        remaining = read(uow_factory, lambda uow: uow.stacks.list_annotations(stack.id))
        assert [(a.key, a.value) for a in remaining] == [("zone", "a")]

    def test_association_is_target_or_label_or_annotation_pair(
        self, uow_factory: UnitOfWorkFactory, clock: FakeClock
    ) -> None:
        at = clock.now()
        with uow_factory() as uow:
            agent = seed_agent(uow, at, labels=("prod", "eu"), annotations={"tier": "gold", "zone": "a"})
            by_label = seed_stack(uow, at, labels=("eu",))
            by_pair = seed_stack(uow, at, annotations={"tier": "gold"})
            by_target = seed_stack(uow, at)
            uow.agents.add_target(b.agent_target(agent.id, by_target.id))
            seed_stack(uow, at, labels=("staging",))  # no shared label
            seed_stack(uow, at, annotations={"tier": "silver"})  # same key, other value
            seed_stack(uow, at, annotations={"gold": "tier"})  # swapped pair
            deleted = seed_stack(uow, at, labels=("prod",))
            uow.stacks.soft_delete(deleted.id, at)
            uow.commit()
        stacks = read(uow_factory, lambda uow: uow.stacks.associated_with_agent(agent.id))
        expected = sorted([by_label.id, by_pair.id, by_target.id])
        assert [s.id for s in stacks] == expected

    def test_association_follows_label_changes(
        self, uow_factory: UnitOfWorkFactory, clock: FakeClock
    ) -> None:
        at = clock.now()
        with uow_factory() as uow:
            agent = seed_agent(uow, at)
            stack = seed_stack(uow, at, labels=("late",))
            uow.commit()
        assert read(uow_factory, lambda uow: uow.stacks.associated_with_agent(agent.id)) == []
        committed(uow_factory, lambda uow: uow.agents.add_label(b.agent_label(agent.id, "late")))
        assert [s.id for s in read(uow_factory, lambda uow: uow.stacks.associated_with_agent(agent.id))] == [
            stack.id
        ]


__all__ = ["StackRepositoryContract"]
