"""Helpers shared by the contract suites: seeding committed rows and asserting port errors.

Every error is provoked in a unit of work of its own that is then abandoned: after a failed statement a
database transaction is unusable, so the suites never continue in it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar
from uuid import UUID

import pytest

from brokkr_domain.errors import ConflictError, NotFoundError
from brokkr_domain.model import Agent, DeploymentObject, Generator, Stack
from brokkr_domain.ports import UnitOfWork, UnitOfWorkFactory
from brokkr_domain.testing import builders as b

T = TypeVar("T")


def committed(uow_factory: UnitOfWorkFactory, action: Callable[[UnitOfWork], T]) -> T:
    """Run ``action`` in a fresh unit of work and commit it."""
    with uow_factory() as uow:
        result = action(uow)
        uow.commit()
    return result


def read(uow_factory: UnitOfWorkFactory, action: Callable[[UnitOfWork], T]) -> T:
    """Run ``action`` in a fresh unit of work that is not committed."""
    with uow_factory() as uow:
        return action(uow)


def assert_conflict(
    uow_factory: UnitOfWorkFactory, action: Callable[[UnitOfWork], object], constraint: str
) -> None:
    with uow_factory() as uow, pytest.raises(ConflictError) as info:
        action(uow)
    assert info.value.code == "unique_violation"
    assert info.value.details.get("constraint") == constraint


def assert_not_found(uow_factory: UnitOfWorkFactory, action: Callable[[UnitOfWork], object]) -> None:
    with uow_factory() as uow, pytest.raises(NotFoundError):
        action(uow)


def seed_agent(
    uow: UnitOfWork, at: datetime, *, labels: tuple[str, ...] = (), annotations: dict[str, str] | None = None
) -> Agent:
    agent = uow.agents.add(b.agent(at))
    for label in labels:
        uow.agents.add_label(b.agent_label(agent.id, label))
    for key, value in (annotations or {}).items():
        uow.agents.add_annotation(b.agent_annotation(agent.id, key, value))
    return agent


def seed_generator(uow: UnitOfWork, at: datetime) -> Generator:
    return uow.generators.add(b.generator(at))


def seed_stack(
    uow: UnitOfWork,
    at: datetime,
    *,
    generator_id: UUID | None = None,
    labels: tuple[str, ...] = (),
    annotations: dict[str, str] | None = None,
) -> Stack:
    owner = generator_id if generator_id is not None else seed_generator(uow, at).id
    stack = uow.stacks.add(b.stack(at, owner))
    for label in labels:
        uow.stacks.add_label(b.stack_label(stack.id, label))
    for key, value in (annotations or {}).items():
        uow.stacks.add_annotation(b.stack_annotation(stack.id, key, value))
    return stack


def seed_object(uow: UnitOfWork, at: datetime, stack_id: UUID | None = None) -> DeploymentObject:
    owner = stack_id if stack_id is not None else seed_stack(uow, at).id
    return uow.deployment_objects.add(b.deployment_object(at, owner))


__all__ = [
    "assert_conflict",
    "assert_not_found",
    "committed",
    "read",
    "seed_agent",
    "seed_generator",
    "seed_object",
    "seed_stack",
]
