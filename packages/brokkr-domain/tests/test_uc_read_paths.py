"""The hot reads (authentication, target-state polls) use the read-only unit of work; writes never do."""

from __future__ import annotations

import attrs

from brokkr_domain.model import Actor, Caller
from brokkr_domain.ports import UnitOfWork
from brokkr_domain.testing import FakeClock, InMemoryUnitOfWorkFactory, RecordingAuditSink, SequentialIds
from brokkr_domain.usecases import agents
from brokkr_domain.usecases.auth import authenticate
from brokkr_domain.usecases.bootstrap import ensure_initialized
from brokkr_domain.usecases.context import Services

ADMIN = Caller(actor=Actor.admin())


@attrs.define
class CountingFactory:
    """Opens units of work on a shared in-memory store and counts how many it opened."""

    inner: InMemoryUnitOfWorkFactory
    opened: int = 0

    def __call__(self) -> UnitOfWork:
        self.opened += 1
        return self.inner()


def test_auth_and_target_state_read_through_the_read_factory() -> None:
    store = InMemoryUnitOfWorkFactory()
    reads = CountingFactory(store)
    s = Services(uow=store, reads=reads, clock=FakeClock(), ids=SequentialIds(), audit=RecordingAuditSink())
    admin_key = ensure_initialized(s, preset_admin_hash=None)
    agent, _key = agents.create_agent(s, ADMIN, name="edge", cluster_name="c1")
    assert reads.opened == 0, "creating is a write: it never uses the read-only factory"
    assert authenticate(s, f"Bearer {admin_key}") == Actor.admin()
    assert reads.opened == 1
    caller = Caller(actor=Actor.agent(agent.id))
    assert agents.get_target_state(s, caller, agent.id, "full") == []
    assert reads.opened == 2


def test_without_a_read_factory_reads_use_the_ordinary_one() -> None:
    store = CountingFactory(InMemoryUnitOfWorkFactory())
    s = Services(uow=store, clock=FakeClock(), ids=SequentialIds())
    before = store.opened
    with s.read():
        pass
    assert store.opened == before + 1
