"""First start and admin rotation: no well-known key, a preset hash, the admin-generator kept in step."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest

from brokkr_domain.errors import ValidationError
from brokkr_domain.model import ActorType, AdminRole, Caller, Generator
from brokkr_domain.model.generators import ADMIN_GENERATOR_NAME
from brokkr_domain.pak import hash_pak
from brokkr_domain.testing import FakeClock, InMemoryUnitOfWorkFactory, RecordingAuditSink, SequentialIds
from brokkr_domain.testing.inmemory.store import unique_violation
from brokkr_domain.usecases.auth import authenticate
from brokkr_domain.usecases.bootstrap import ADMIN_GENERATOR_DESCRIPTION, ensure_initialized, rotate_admin
from brokkr_domain.usecases.context import Services

PRESET = hashlib.sha256(b"GK3QN7CDUzYc6iKgMkJ98M2WSimM5t6U8").hexdigest()
PRESET_KEY = "brokkr_BR3rVsDa_GK3QN7CDUzYc6iKgMkJ98M2WSimM5t6U8"


@pytest.fixture
def audit() -> RecordingAuditSink:
    return RecordingAuditSink()


@pytest.fixture
def s(audit: RecordingAuditSink) -> Services:
    return Services(
        uow=InMemoryUnitOfWorkFactory(), clock=FakeClock(), ids=SequentialIds(seed=1), audit=audit
    )


def hashes(s: Services) -> tuple[str | None, str | None]:
    """(admin role hash, admin-generator hash)."""
    with s.uow() as uow:
        role = uow.admin.get()
        generator = uow.generators.find_by_name(ADMIN_GENERATOR_NAME)
        return (role.pak_hash if role else None, generator.pak_hash if generator else None)


def test_first_start_generates_a_key_once(s: Services, audit: RecordingAuditSink) -> None:
    key = ensure_initialized(s, preset_admin_hash=None)
    assert key is not None
    assert authenticate(s, f"Bearer {key}").is_admin
    assert hashes(s) == (hash_pak(key), hash_pak(key))
    with s.uow() as uow:
        generator = uow.generators.find_by_name(ADMIN_GENERATOR_NAME)
        assert generator is not None and generator.description == ADMIN_GENERATOR_DESCRIPTION
        assert uow.admin.is_initialized()
    assert audit.actions() == ["pak.created"]
    assert audit.entries[0].actor_type is ActorType.SYSTEM

    assert ensure_initialized(s, preset_admin_hash=None) is None
    assert hashes(s) == (hash_pak(key), hash_pak(key))
    assert audit.actions() == ["pak.created"]


def test_two_first_starts_yield_different_keys() -> None:
    keys = {
        ensure_initialized(Services(uow=InMemoryUnitOfWorkFactory()), preset_admin_hash=None)
        for _ in range(3)
    }
    assert len(keys) == 3


def test_a_preset_hash_is_used_and_nothing_is_returned(s: Services) -> None:
    assert ensure_initialized(s, preset_admin_hash=PRESET.upper()) is None
    assert hashes(s) == (PRESET, PRESET)
    assert authenticate(s, PRESET_KEY).is_admin


def test_a_changed_preset_is_applied_on_a_later_start(s: Services, audit: RecordingAuditSink) -> None:
    key = ensure_initialized(s, preset_admin_hash=None)
    assert key is not None
    assert ensure_initialized(s, preset_admin_hash=PRESET) is None
    assert hashes(s) == (PRESET, PRESET)
    assert audit.actions() == ["pak.created", "pak.rotated"]
    assert ensure_initialized(s, preset_admin_hash=PRESET) is None
    assert audit.actions() == ["pak.created", "pak.rotated"]


@pytest.mark.parametrize("bad", ["abc", "g" * 64, PRESET + "0", " " * 64])
def test_an_invalid_preset_is_rejected_before_anything_is_written(s: Services, bad: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ensure_initialized(s, preset_admin_hash=bad)
    assert caught.value.code == "invalid_pak_hash"
    assert caught.value.details["field"] == "broker.pak_hash"
    assert hashes(s) == (None, None)


class LosingUnitOfWork:
    """Wraps one unit of work whose commit loses a race: another replica initialised the tenant first."""

    def __init__(self, inner: Any, winner_hash: str) -> None:
        self._inner = inner
        self._winner_hash = winner_hash

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __enter__(self) -> LosingUnitOfWork:
        self._inner.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._inner.__exit__(*exc)

    def commit(self) -> None:
        inner = self._inner
        inner.rollback()
        now = datetime(2024, 1, 1, tzinfo=UTC)
        inner.admin.upsert(AdminRole(id=uuid4(), pak_hash=self._winner_hash, created_at=now, updated_at=now))
        inner.generators.add(
            Generator(
                id=uuid4(),
                name=ADMIN_GENERATOR_NAME,
                pak_hash=self._winner_hash,
                created_at=now,
                updated_at=now,
            )
        )
        inner.admin.mark_initialized(now)
        inner.commit()
        raise unique_violation("unique_generator_name")


def test_a_replica_that_loses_the_first_start_race_returns_no_key(audit: RecordingAuditSink) -> None:
    factory = InMemoryUnitOfWorkFactory()
    calls = 0

    def racing_factory() -> Any:
        nonlocal calls
        calls += 1
        return LosingUnitOfWork(factory(), PRESET) if calls == 1 else factory()

    s = Services(uow=racing_factory, clock=FakeClock(), ids=SequentialIds(seed=1), audit=audit)
    assert ensure_initialized(s, preset_admin_hash=None) is None
    assert calls == 2
    assert hashes(s) == (PRESET, PRESET)
    assert audit.entries == []


def test_rotate_admin_replaces_both_hashes(s: Services, audit: RecordingAuditSink) -> None:
    ensure_initialized(s, preset_admin_hash=PRESET)
    new_key = rotate_admin(s, caller=Caller.system())
    assert hashes(s) == (hash_pak(new_key), hash_pak(new_key))
    assert authenticate(s, new_key).is_admin
    assert audit.actions()[-1] == "pak.rotated"
    assert audit.entries[-1].resource_type == "admin"


def test_rotate_admin_on_an_empty_database_initialises_it(s: Services) -> None:
    key = rotate_admin(s)
    assert authenticate(s, key).is_admin
    assert ensure_initialized(s, preset_admin_hash=None) is None
