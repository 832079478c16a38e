"""Contract of ``UnitOfWork``: commit persists, anything else rolls back."""

from __future__ import annotations

import pytest

from brokkr_domain.ports import UnitOfWorkFactory
from brokkr_domain.testing import builders as b
from brokkr_domain.testing.contracts._support import read
from brokkr_domain.testing.fakes import FakeClock


class _BoomError(Exception):
    pass


class UnitOfWorkContract:
    """Subclass with ``uow_factory`` and ``clock`` fixtures in scope."""

    def test_commit_persists(self, uow_factory: UnitOfWorkFactory, clock: FakeClock) -> None:
        agent = b.agent(clock.now())
        with uow_factory() as uow:
            uow.agents.add(agent)
            assert uow.agents.get(agent.id) == agent  # a unit of work sees its own writes
            uow.commit()
        assert read(uow_factory, lambda uow: uow.agents.get(agent.id)) == agent

    def test_leaving_without_commit_rolls_back(
        self, uow_factory: UnitOfWorkFactory, clock: FakeClock
    ) -> None:
        agent = b.agent(clock.now())
        with uow_factory() as uow:
            uow.agents.add(agent)
        assert read(uow_factory, lambda uow: uow.agents.get(agent.id)) is None

    def test_exception_rolls_back_and_propagates(
        self, uow_factory: UnitOfWorkFactory, clock: FakeClock
    ) -> None:
        agent = b.agent(clock.now())
        with pytest.raises(_BoomError), uow_factory() as uow:
            uow.agents.add(agent)
            raise _BoomError
        assert read(uow_factory, lambda uow: uow.agents.get(agent.id)) is None

    def test_rollback_discards_changes_since_last_commit(
        self, uow_factory: UnitOfWorkFactory, clock: FakeClock
    ) -> None:
        kept, dropped, after = b.agent(clock.now()), b.agent(clock.now()), b.agent(clock.now())
        with uow_factory() as uow:
            uow.agents.add(kept)
            uow.commit()
            uow.agents.add(dropped)
            uow.rollback()
            assert uow.agents.get(dropped.id) is None
            uow.agents.add(after)
            uow.commit()
        with uow_factory() as uow:
            assert uow.agents.get(kept.id) == kept
            assert uow.agents.get(dropped.id) is None
            assert uow.agents.get(after.id) == after

    def test_one_unit_spans_every_repository(self, uow_factory: UnitOfWorkFactory, clock: FakeClock) -> None:
        generator = b.generator(clock.now())
        stack = b.stack(clock.now(), generator.id)
        obj = b.deployment_object(clock.now(), stack.id)
        with uow_factory() as uow:
            uow.generators.add(generator)
            uow.stacks.add(stack)
            uow.deployment_objects.add(obj)
        with uow_factory() as uow:
            assert uow.generators.get(generator.id) is None
            assert uow.stacks.get(stack.id) is None
            assert uow.deployment_objects.get(obj.id) is None

    def test_sequence_keeps_increasing_across_rollbacks(
        self, uow_factory: UnitOfWorkFactory, clock: FakeClock
    ) -> None:
        generator = b.generator(clock.now())
        stack = b.stack(clock.now(), generator.id)
        with uow_factory() as uow:
            uow.generators.add(generator)
            uow.stacks.add(stack)
            uow.commit()
        with uow_factory() as uow:
            first = uow.deployment_objects.add(b.deployment_object(clock.now(), stack.id)).sequence_id
        with uow_factory() as uow:
            second = uow.deployment_objects.add(b.deployment_object(clock.now(), stack.id)).sequence_id
            uow.commit()
        assert second > first > 0  # like a database sequence: never reused, even after a rollback


__all__ = ["UnitOfWorkContract"]
