"""Contract of ``TemplateRepository``."""

from __future__ import annotations

from brokkr_domain.ports import UnitOfWorkFactory
from brokkr_domain.testing import builders as b
from brokkr_domain.testing.contracts._support import (
    assert_conflict,
    assert_not_found,
    committed,
    seed_generator,
)
from brokkr_domain.testing.fakes import FakeClock
from brokkr_domain.testing.inmemory import constraints as c


class TemplateRepositoryContract:
    """Subclass with ``uow_factory`` and ``clock`` fixtures in scope."""

    def test_add_then_get_round_trips(self, uow_factory: UnitOfWorkFactory, clock: FakeClock) -> None:
        generator = committed(uow_factory, lambda uow: seed_generator(uow, clock.now()))
        owned = b.template(clock.now(), generator.id, description="web", version=3)
        system = b.template(clock.now())
        with uow_factory() as uow:
            uow.templates.add(owned)
            uow.templates.add(system)
            uow.commit()
        with uow_factory() as uow:
            assert uow.templates.get(owned.id) == owned
            stored_system = uow.templates.get(system.id)
            assert stored_system == system
            assert stored_system is not None
            assert stored_system.is_system

    def test_unknown_generator_is_not_found(self, uow_factory: UnitOfWorkFactory, clock: FakeClock) -> None:
        ghost = b.generator(clock.now())
        assert_not_found(uow_factory, lambda uow: uow.templates.add(b.template(clock.now(), ghost.id)))

    def test_version_is_unique_per_owner_and_name(
        self, uow_factory: UnitOfWorkFactory, clock: FakeClock
    ) -> None:
        with uow_factory() as uow:
            mine = seed_generator(uow, clock.now())
            theirs = seed_generator(uow, clock.now())
            owned = uow.templates.add(b.template(clock.now(), mine.id))
            system = uow.templates.add(b.template(clock.now()))
            # the same name is free for another owner, for the system and for another version
            uow.templates.add(b.template(clock.now(), theirs.id, name=owned.name))
            uow.templates.add(b.template(clock.now(), None, name=owned.name))
            uow.templates.add(b.template(clock.now(), mine.id, name=owned.name, version=2))
            uow.commit()
        twin = b.template(clock.now(), mine.id, name=owned.name)
        assert_conflict(uow_factory, lambda uow: uow.templates.add(twin), c.UNIQUE_TEMPLATE_VERSION)
        system_twin = b.template(clock.now(), None, name=system.name)
        assert_conflict(uow_factory, lambda uow: uow.templates.add(system_twin), c.UNIQUE_TEMPLATE_VERSION)

    def test_version_is_reusable_after_soft_delete(
        self, uow_factory: UnitOfWorkFactory, clock: FakeClock
    ) -> None:
        first = committed(uow_factory, lambda uow: uow.templates.add(b.template(clock.now())))
        assert committed(uow_factory, lambda uow: uow.templates.soft_delete(first.id, clock.advance()))
        assert not committed(uow_factory, lambda uow: uow.templates.soft_delete(first.id, clock.now()))
        again = committed(
            uow_factory, lambda uow: uow.templates.add(b.template(clock.now(), name=first.name))
        )
        with uow_factory() as uow:
            assert uow.templates.get(first.id) is None
            assert uow.templates.get(again.id) == again

    def test_max_version_counts_live_versions_of_one_family(
        self, uow_factory: UnitOfWorkFactory, clock: FakeClock
    ) -> None:
        with uow_factory() as uow:
            generator = seed_generator(uow, clock.now())
            name = b.unique_name("family")
            v1 = uow.templates.add(b.template(clock.now(), generator.id, name=name, version=1))
            v2 = uow.templates.add(b.template(clock.now(), generator.id, name=name, version=2))
            uow.templates.add(b.template(clock.now(), None, name=name, version=7))
            uow.commit()
        with uow_factory() as uow:
            assert uow.templates.max_version(generator.id, name) == 2
            assert uow.templates.max_version(None, name) == 7
            assert uow.templates.max_version(generator.id, "nothing-here") == 0
            uow.templates.soft_delete(v2.id, clock.now())
            assert uow.templates.max_version(generator.id, name) == 1
            uow.templates.soft_delete(v1.id, clock.now())
            assert uow.templates.max_version(generator.id, name) == 0

    def test_list_visibility(self, uow_factory: UnitOfWorkFactory, clock: FakeClock) -> None:
        with uow_factory() as uow:
            mine = seed_generator(uow, clock.now())
            theirs = seed_generator(uow, clock.now())
            own = uow.templates.add(b.template(clock.now(), mine.id))
            other = uow.templates.add(b.template(clock.now(), theirs.id))
            system = uow.templates.add(b.template(clock.now()))
            deleted = uow.templates.add(b.template(clock.now(), mine.id))
            uow.templates.soft_delete(deleted.id, clock.now())
            uow.commit()
        ours = {own.id, other.id, system.id, deleted.id}
        with uow_factory() as uow:
            assert {t.id for t in uow.templates.list() if t.id in ours} == {own.id, other.id, system.id}
            visible = {t.id for t in uow.templates.list(visible_to_generator=mine.id) if t.id in ours}
            assert visible == {own.id, system.id}

    def test_soft_delete_for_generator(self, uow_factory: UnitOfWorkFactory, clock: FakeClock) -> None:
        with uow_factory() as uow:
            mine = seed_generator(uow, clock.now())
            doomed = [uow.templates.add(b.template(clock.now(), mine.id)) for _ in range(2)]
            system = uow.templates.add(b.template(clock.now()))
            uow.commit()
        assert (
            committed(uow_factory, lambda uow: uow.templates.soft_delete_for_generator(mine.id, clock.now()))
            == 2
        )
        with uow_factory() as uow:
            assert all(uow.templates.get(t.id) is None for t in doomed)
            assert uow.templates.get(system.id) == system

    def test_labels_and_annotations(self, uow_factory: UnitOfWorkFactory, clock: FakeClock) -> None:
        with uow_factory() as uow:
            template = uow.templates.add(b.template(clock.now()))
            uow.templates.add_label(b.template_label(clock.now(), template.id, "web"))
            uow.templates.add_label(b.template_label(clock.now(), template.id, "eu"))
            uow.templates.add_annotation(b.template_annotation(clock.now(), template.id, "tier", "gold"))
            uow.commit()
        assert_conflict(
            uow_factory,
            lambda uow: uow.templates.add_label(b.template_label(clock.now(), template.id, "web")),
            c.TEMPLATE_LABEL,
        )
        assert_conflict(
            uow_factory,
            lambda uow: uow.templates.add_annotation(
                b.template_annotation(clock.now(), template.id, "tier", "x")
            ),
            c.TEMPLATE_ANNOTATION_KEY,
        )
        ghost = b.template(clock.now())
        assert_not_found(
            uow_factory, lambda uow: uow.templates.add_label(b.template_label(clock.now(), ghost.id, "x"))
        )
        with uow_factory() as uow:
            assert sorted(label.label for label in uow.templates.list_labels(template.id)) == ["eu", "web"]
            assert [(a.key, a.value) for a in uow.templates.list_annotations(template.id)] == [
                ("tier", "gold")
            ]
            assert uow.templates.remove_label(template.id, "eu")
            assert not uow.templates.remove_label(template.id, "eu")
            assert uow.templates.remove_annotation(template.id, "tier")
            assert not uow.templates.remove_annotation(template.id, "tier")
            uow.commit()
        with uow_factory() as uow:
            assert [label.label for label in uow.templates.list_labels(template.id)] == ["web"]
            assert uow.templates.list_annotations(template.id) == []


__all__ = ["TemplateRepositoryContract"]
