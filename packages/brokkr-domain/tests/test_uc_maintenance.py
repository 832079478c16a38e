"""The broker's maintenance use cases: work-order retries and stale claims, diagnostics, webhook retention."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from brokkr_domain.errors import ForbiddenError, ValidationError
from brokkr_domain.model import (
    Actor,
    Agent,
    Caller,
    DeliveryStatus,
    DiagnosticStatus,
    WorkOrder,
    WorkOrderLog,
    WorkOrderStatus,
)
from brokkr_domain.ports import RetryScheduled
from brokkr_domain.rules.work_orders import CLAIM_TIMED_OUT
from brokkr_domain.testing import FakeClock, InMemoryUnitOfWorkFactory, RecordingAuditSink, SequentialIds
from brokkr_domain.testing import builders as b
from brokkr_domain.usecases import diagnostics, webhooks, work_orders
from brokkr_domain.usecases.context import Services

ADMIN = Caller(actor=Actor.admin())
YAML = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: job\n"


class World:
    def __init__(self) -> None:
        self.clock = FakeClock()
        self.audit = RecordingAuditSink()
        self.uow = InMemoryUnitOfWorkFactory()
        self.s = Services(uow=self.uow, clock=self.clock, ids=SequentialIds(), audit=self.audit)
        self.agent: Agent = b.agent(self.clock.now())
        with self.uow() as uow:
            uow.agents.add(self.agent)
            uow.webhooks.add(b.subscription(self.clock.now(), event_types=("workorder.failed",)))
            uow.commit()
        self.me = Caller(actor=Actor.agent(self.agent.id))

    def claimed_order(self, **kwargs: Any) -> WorkOrder:
        order = work_orders.create_work_order(
            self.s, ADMIN, work_type="build", yaml_content=YAML, agent_ids=[self.agent.id], **kwargs
        )
        return work_orders.claim_work_order(self.s, self.me, order.id, agent_id=self.agent.id)

    def failed_events(self) -> list[dict[str, Any]]:
        rows = self.uow.store.snapshot().webhook_deliveries.values()
        return [json.loads(row.payload) for row in rows]


@pytest.fixture
def w() -> World:
    return World()


# --- work orders --------------------------------------------------------------------------------------------


def test_a_timed_out_claim_counts_as_an_attempt(w: World) -> None:
    order = w.claimed_order(claim_timeout_seconds=100)
    w.clock.advance(100)
    assert work_orders.run_work_order_maintenance(w.s) == (0, 0)  # not stale until strictly past the timeout
    w.clock.advance(1)
    assert work_orders.run_work_order_maintenance(w.s) == (0, 1)
    released = work_orders.get_work_order(w.s, ADMIN, order.id)
    assert (released.status, released.retry_count, released.claimed_by) == (WorkOrderStatus.PENDING, 1, None)
    assert released.last_error == CLAIM_TIMED_OUT
    with pytest.raises(ForbiddenError) as late:  # the agent that lost the claim can no longer complete
        work_orders.complete_work_order(w.s, w.me, order.id, success=True)
    assert late.value.code == "work_order_not_claimed_by_agent"
    entry = w.audit.entries[-1]
    assert (entry.action, entry.actor_type, entry.resource_id) == (
        "workorder.claim_timed_out",
        "system",
        order.id,
    )


def test_a_stale_claim_without_retries_left_fails_into_the_log(w: World) -> None:
    order = w.claimed_order(claim_timeout_seconds=10, max_retries=0)
    w.clock.advance(11)
    assert work_orders.run_work_order_maintenance(w.s) == (0, 1)
    entry = work_orders.get_work_order_log_entry(w.s, ADMIN, order.id)
    assert (entry.success, entry.result_message, entry.claimed_by) == (False, CLAIM_TIMED_OUT, w.agent.id)
    [event] = w.failed_events()
    assert (event["event_type"], event["data"]["success"]) == ("workorder.failed", False)
    assert w.audit.entries[-1].action == "workorder.failed"


def test_retries_and_timeouts_share_one_budget(w: World) -> None:
    order = w.claimed_order(claim_timeout_seconds=10, max_retries=1, backoff_seconds=5)
    failed = work_orders.complete_work_order(w.s, w.me, order.id, success=False, message="connection reset")
    assert isinstance(failed, RetryScheduled)
    w.clock.advance(10)  # backoff 5 · 2^1
    assert work_orders.run_work_order_maintenance(w.s) == (1, 0)
    work_orders.claim_work_order(w.s, w.me, order.id, agent_id=w.agent.id)
    w.clock.advance(11)
    assert work_orders.run_work_order_maintenance(w.s) == (0, 1)
    entry = work_orders.get_work_order_log_entry(w.s, ADMIN, order.id)
    assert isinstance(entry, WorkOrderLog)
    assert (entry.success, entry.retries_attempted) == (False, 1)


def test_maintenance_works_in_batches(w: World) -> None:
    for _ in range(3):
        order = w.claimed_order()
        work_orders.complete_work_order(w.s, w.me, order.id, success=False, message="timeout")
    w.clock.advance(120)
    assert work_orders.run_work_order_maintenance(w.s, batch=2) == (2, 0)
    assert work_orders.run_work_order_maintenance(w.s, batch=2) == (1, 0)
    assert len(work_orders.list_work_orders(w.s, ADMIN, status="PENDING")) == 3


# --- diagnostics --------------------------------------------------------------------------------------------


def test_diagnostic_maintenance_expires_and_deletes(w: World) -> None:
    now = w.clock.now()
    generator = b.generator(now)
    stack = b.stack(now, generator.id)
    obj = b.deployment_object(now, stack.id)
    with w.uow() as uow:
        uow.generators.add(generator)
        uow.stacks.add(stack)
        uow.deployment_objects.add(obj)
        uow.commit()

    def request(minutes: int) -> Any:
        return diagnostics.request_diagnostic(
            w.s, ADMIN, obj.id, agent_id=w.agent.id, retention_minutes=minutes
        )

    stale, _fresh, claimed, done = request(1), request(30), request(30), request(30)
    diagnostics.claim_diagnostic(w.s, w.me, claimed.id)
    diagnostics.claim_diagnostic(w.s, w.me, done.id)
    diagnostics.submit_diagnostic_result(
        w.s, w.me, done.id, pod_statuses="[]", events="[]", collected_at=w.clock.now()
    )
    w.clock.advance(timedelta(minutes=2))
    assert diagnostics.run_diagnostic_maintenance(w.s, timedelta(hours=1)) == (1, 0)
    assert diagnostics.get_diagnostic(w.s, ADMIN, stale.id).request.status is DiagnosticStatus.EXPIRED
    w.clock.advance(timedelta(hours=1))
    # "fresh" expires and, created more than an hour ago, goes in the same pass with "stale" and "done".
    assert diagnostics.run_diagnostic_maintenance(w.s, timedelta(hours=1)) == (1, 3)
    remaining = w.uow.store.snapshot()
    assert set(remaining.diagnostic_requests) == {claimed.id}  # claimed requests are left alone
    assert remaining.diagnostic_results == {}
    with pytest.raises(ValidationError):
        diagnostics.run_diagnostic_maintenance(w.s, timedelta(0))


# --- webhooks -----------------------------------------------------------------------------------------------


def test_webhook_retention_keeps_what_is_still_to_be_sent(w: World) -> None:
    sub = b.subscription(w.clock.now())
    start = w.clock.now()
    rows = {
        status: b.delivery(start, sub.id, status=status)
        for status in (
            DeliveryStatus.SUCCESS,
            DeliveryStatus.DEAD,
            DeliveryStatus.FAILED,
            DeliveryStatus.PENDING,
        )
    }
    recent = b.delivery(start + timedelta(days=6), sub.id, status=DeliveryStatus.SUCCESS)
    with w.uow() as uow:
        uow.webhooks.add(sub)
        for row in [*rows.values(), recent]:
            uow.deliveries.add(row)
        uow.commit()
    w.clock.advance(timedelta(days=8))
    assert webhooks.run_webhook_retention(w.s, 7) == 2
    kept = set(w.uow.store.snapshot().webhook_deliveries)
    assert kept == {rows[DeliveryStatus.FAILED].id, rows[DeliveryStatus.PENDING].id, recent.id}
    with pytest.raises(ValidationError):
        webhooks.run_webhook_retention(w.s, 0)
