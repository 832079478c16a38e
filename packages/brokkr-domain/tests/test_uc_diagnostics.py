"""Diagnostics use cases against the in-memory adapters: request, pending, claim, result, read."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest

from brokkr_domain.errors import ConflictError, ForbiddenError, NotFoundError, ValidationError
from brokkr_domain.model import Actor, Agent, Caller, DeploymentObject, DiagnosticStatus
from brokkr_domain.testing import FakeClock, InMemoryUnitOfWorkFactory, RecordingAuditSink, SequentialIds
from brokkr_domain.testing import builders as b
from brokkr_domain.usecases import diagnostics as uc
from brokkr_domain.usecases.context import Services

MISSING = UUID(int=2**127)  # never handed out by SequentialIds or uuid4
ADMIN = Caller(actor=Actor.admin())


class World:
    def __init__(self) -> None:
        self.clock = FakeClock()
        self.audit = RecordingAuditSink()
        self.uow = InMemoryUnitOfWorkFactory()
        self.s = Services(uow=self.uow, clock=self.clock, ids=SequentialIds(), audit=self.audit)
        now = self.clock.now()
        self.generator = b.generator(now)
        stack = b.stack(now, self.generator.id)
        self.obj: DeploymentObject = b.deployment_object(now, stack.id)
        with self.uow() as uow:
            uow.generators.add(self.generator)
            uow.stacks.add(stack)
            self.obj = uow.deployment_objects.add(self.obj)
            uow.commit()

    def agent(self) -> Agent:
        agent = b.agent(self.clock.now())
        with self.uow() as uow:
            uow.agents.add(agent)
            uow.commit()
        return agent


def me(agent: Agent) -> Caller:
    return Caller(actor=Actor.agent(agent.id))


@pytest.fixture
def w() -> World:
    return World()


def submit(w: World, caller: Caller, request_id: UUID, **kwargs: Any) -> Any:
    fields: dict[str, Any] = {
        "pod_statuses": '[{"name": "web-0"}]',
        "events": "[]",
        "log_tails": '{"web-0/app": "ok"}',
        "collected_at": w.clock.now(),
    }
    return uc.submit_diagnostic_result(w.s, caller, request_id, **(fields | kwargs))


def test_full_flow_request_pending_claim_submit_read(w: World) -> None:
    agent = w.agent()
    request = uc.request_diagnostic(w.s, ADMIN, w.obj.id, agent_id=agent.id, requested_by="ops")
    assert request.status is DiagnosticStatus.PENDING
    assert request.expires_at == w.clock.now() + timedelta(minutes=60)
    assert [r.id for r in uc.pending_diagnostics(w.s, me(agent), agent.id)] == [request.id]
    w.clock.advance(5)
    claimed = uc.claim_diagnostic(w.s, me(agent), request.id)
    assert (claimed.status, claimed.claimed_at) == (DiagnosticStatus.CLAIMED, w.clock.now())
    assert uc.pending_diagnostics(w.s, me(agent), agent.id) == []
    result = submit(w, me(agent), request.id)
    view = uc.get_diagnostic(w.s, ADMIN, request.id)
    assert view.request.status is DiagnosticStatus.COMPLETED
    assert view.result == result
    assert uc.get_diagnostic(w.s, me(agent), request.id) == view
    assert w.audit.actions() == ["diagnostic.requested", "diagnostic.claimed", "diagnostic.completed"]
    assert [e.actor_type for e in w.audit.entries] == ["admin", "agent", "agent"]


def test_request_checks_object_agent_and_retention(w: World) -> None:
    agent = w.agent()
    with pytest.raises(NotFoundError) as no_object:
        uc.request_diagnostic(w.s, ADMIN, MISSING, agent_id=agent.id)
    assert no_object.value.code == "deployment_object_not_found"
    with pytest.raises(NotFoundError) as no_agent:
        uc.request_diagnostic(w.s, ADMIN, w.obj.id, agent_id=MISSING)
    assert no_agent.value.code == "agent_not_found"
    for minutes in (0, 1441):
        with pytest.raises(ValidationError) as bad:
            uc.request_diagnostic(w.s, ADMIN, w.obj.id, agent_id=agent.id, retention_minutes=minutes)
        assert bad.value.code == "invalid_diagnostic_request"
    longest = uc.request_diagnostic(w.s, ADMIN, w.obj.id, agent_id=agent.id, retention_minutes=1440)
    assert longest.expires_at - longest.created_at == timedelta(days=1)


def test_second_claim_is_409_and_expired_requests_cannot_be_claimed(w: World) -> None:
    agent = w.agent()
    request = uc.request_diagnostic(w.s, ADMIN, w.obj.id, agent_id=agent.id, retention_minutes=1)
    uc.claim_diagnostic(w.s, me(agent), request.id)
    with pytest.raises(ConflictError) as again:
        uc.claim_diagnostic(w.s, ADMIN, request.id)
    assert again.value.code == "diagnostic_already_claimed"
    late = uc.request_diagnostic(w.s, ADMIN, w.obj.id, agent_id=agent.id, retention_minutes=1)
    w.clock.advance(60)
    assert uc.pending_diagnostics(w.s, me(agent), agent.id) == []
    with pytest.raises(ConflictError) as expired:
        uc.claim_diagnostic(w.s, me(agent), late.id)
    assert expired.value.code == "diagnostic_already_claimed"


def test_result_requires_a_claim_and_valid_json(w: World) -> None:
    agent = w.agent()
    request = uc.request_diagnostic(w.s, ADMIN, w.obj.id, agent_id=agent.id)
    with pytest.raises(ConflictError) as unclaimed:
        submit(w, me(agent), request.id)
    assert unclaimed.value.code == "diagnostic_not_claimed"
    uc.claim_diagnostic(w.s, me(agent), request.id)
    for bad in ({"pod_statuses": ""}, {"events": "{not json"}, {"log_tails": "NaN"}):
        with pytest.raises(ValidationError) as err:
            submit(w, me(agent), request.id, **bad)
        assert err.value.code == "invalid_diagnostic_result"
    submit(w, me(agent), request.id, log_tails=None)
    with pytest.raises(ConflictError) as twice:
        submit(w, me(agent), request.id)
    assert twice.value.code == "diagnostic_not_claimed"


def test_only_the_owning_agent_submits(w: World) -> None:
    agent, other = w.agent(), w.agent()
    request = uc.request_diagnostic(w.s, ADMIN, w.obj.id, agent_id=agent.id)
    uc.claim_diagnostic(w.s, ADMIN, request.id)
    for caller in (ADMIN, me(other), Caller(actor=Actor.generator(w.generator.id))):
        with pytest.raises(ForbiddenError) as err:
            submit(w, caller, request.id)
        assert err.value.code == "diagnostic_not_owned"


def test_other_agents_neither_claim_nor_read(w: World) -> None:
    agent, other = w.agent(), w.agent()
    request = uc.request_diagnostic(w.s, ADMIN, w.obj.id, agent_id=agent.id)
    with pytest.raises(ForbiddenError) as claim:
        uc.claim_diagnostic(w.s, me(other), request.id)
    assert claim.value.code == "diagnostic_not_owned"
    with pytest.raises(ForbiddenError) as read:
        uc.get_diagnostic(w.s, me(other), request.id)
    assert read.value.code == "diagnostic_not_owned"
    with pytest.raises(ForbiddenError) as pending:
        uc.pending_diagnostics(w.s, me(other), agent.id)
    assert pending.value.code == "agent_pak_mismatch"
    with pytest.raises(NotFoundError) as missing:
        uc.get_diagnostic(w.s, ADMIN, MISSING)
    assert missing.value.code == "diagnostic_not_found"


def test_naive_collected_at_is_refused(w: World) -> None:
    agent = w.agent()
    request = uc.request_diagnostic(w.s, ADMIN, w.obj.id, agent_id=agent.id)
    uc.claim_diagnostic(w.s, me(agent), request.id)
    with pytest.raises(ValidationError) as err:
        submit(w, me(agent), request.id, collected_at=w.clock.now().replace(tzinfo=None))
    assert err.value.details["field"] == "collected_at"
