"""The hot paths (authentication, target-state polls, heartbeats) use the autocommit unit of work; other
writes never do."""

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


def test_auth_target_state_and_heartbeats_use_the_autocommit_factory() -> None:
    store = InMemoryUnitOfWorkFactory()
    reads = CountingFactory(store)
    s = Services(
        uow=store, autocommit=reads, clock=FakeClock(), ids=SequentialIds(), audit=RecordingAuditSink()
    )
    admin_key = ensure_initialized(s, preset_admin_hash=None)
    agent, _key = agents.create_agent(s, ADMIN, name="edge", cluster_name="c1")
    assert reads.opened == 0, "creating is a transaction: it never uses the autocommit factory"
    assert authenticate(s, f"Bearer {admin_key}") == Actor.admin()
    assert reads.opened == 1
    caller = Caller(actor=Actor.agent(agent.id))
    assert agents.get_target_state(s, caller, agent.id, "full") == []
    assert reads.opened == 2
    agents.heartbeat(s, caller, agent.id)
    assert reads.opened == 3


def test_without_an_autocommit_factory_the_ordinary_one_serves() -> None:
    store = CountingFactory(InMemoryUnitOfWorkFactory())
    s = Services(uow=store, clock=FakeClock(), ids=SequentialIds())
    before = store.opened
    with s.one_statement():
        pass
    assert store.opened == before + 1
