"""FakeBrokerGateway behaves like the broker as far as the agent can tell."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from brokkr_domain.errors import ConflictError, NotFoundError, TransientError, ValidationError
from brokkr_domain.model import Actor, DiagnosticStatus
from brokkr_domain.ports.broker_gateway import DiagnosticReport, EventReport, RetryScheduled
from brokkr_domain.testing import builders as b
from brokkr_domain.testing.fake_broker import FakeBrokerGateway
from brokkr_domain.testing.fakes import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_identity_and_lookup(clock: FakeClock) -> None:
    broker = FakeBrokerGateway(clock)
    agent = broker.add_agent(name="a1", cluster_name="c1")
    broker.add_agent(name="a2")
    assert broker.whoami() == Actor.agent(agent.id)
    assert broker.find_agent("a1", "c1") == agent
    with pytest.raises(NotFoundError):
        broker.find_agent("a1", "elsewhere")
    with pytest.raises(NotFoundError):
        broker.get_agent(uuid.uuid4())


def test_target_state_full_and_incremental(clock: FakeClock) -> None:
    broker = FakeBrokerGateway(clock)
    agent = broker.add_agent()
    old = b.deployment_object(clock.now(), uuid.uuid4(), sequence_id=1)
    new = b.deployment_object(clock.now(), uuid.uuid4(), sequence_id=2)
    broker.set_target_state(agent.id, [old, new])
    assert broker.target_state(agent.id) == [new, old]
    broker.report_event(
        agent.id, EventReport(deployment_object_id=new.id, event_type="DEPLOY", status="SUCCESS")
    )
    broker.report_event(
        agent.id, EventReport(deployment_object_id=old.id, event_type="DEPLOY", status="FAILURE")
    )
    assert broker.target_state(agent.id, full=False) == [old]  # failures are not hidden
    with pytest.raises(ValidationError):
        broker.report_event(
            agent.id, EventReport(deployment_object_id=new.id, event_type="DEPLOY", status="MAYBE")
        )


def test_work_order_life_cycle_uses_the_domain_rules(clock: FakeClock) -> None:
    broker = FakeBrokerGateway(clock)
    agent = broker.add_agent()
    other = broker.add_agent()
    order = broker.add_work_order("custom", "x: 1", agent_ids=[agent.id], max_retries=1, backoff_seconds=10)
    assert broker.pending_work_orders(other.id) == []
    with pytest.raises(NotFoundError):
        broker.claim_work_order(order.id, other.id)
    broker.claim_work_order(order.id, agent.id)
    with pytest.raises(NotFoundError):
        broker.claim_work_order(order.id, agent.id)
    assert isinstance(broker.complete_work_order(order.id, success=False, message="timeout"), RetryScheduled)
    assert broker.pending_work_orders(agent.id) == []
    clock.advance(timedelta(seconds=20))
    assert [o.id for o in broker.pending_work_orders(agent.id)] == [order.id]
    broker.claim_work_order(order.id, agent.id)
    log = broker.complete_work_order(order.id, success=False, message="timeout again")
    assert not isinstance(log, RetryScheduled)
    assert not log.success
    assert broker.work_order_logs[order.id] == log


def test_diagnostics_claim_once_and_validate_results(clock: FakeClock) -> None:
    broker = FakeBrokerGateway(clock)
    agent = broker.add_agent()
    request = broker.add_diagnostic_request(agent.id, uuid.uuid4())
    assert broker.pending_diagnostics(agent.id) == [request]
    broker.claim_diagnostic(request.id)
    with pytest.raises(ConflictError):
        broker.claim_diagnostic(request.id)
    with pytest.raises(ValidationError):
        broker.submit_diagnostic(
            request.id,
            DiagnosticReport(pod_statuses="not json", events="[]", log_tails=None, collected_at=clock.now()),
        )
    broker.submit_diagnostic(
        request.id, DiagnosticReport(pod_statuses="[]", events="[]", log_tails="{}", collected_at=clock.now())
    )
    assert broker.diagnostics[request.id].status is DiagnosticStatus.COMPLETED


def test_outage_fails_every_call(clock: FakeClock) -> None:
    broker = FakeBrokerGateway(clock)
    agent = broker.add_agent()
    broker.outage = True
    assert broker.is_ready() is False
    for call in (lambda: broker.heartbeat(agent.id), lambda: broker.target_state(agent.id), broker.whoami):
        with pytest.raises(TransientError):
            call()
    broker.outage = False
    broker.heartbeat(agent.id)
