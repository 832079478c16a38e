"""Work-order use cases on the in-memory adapters: CRUD, the claim/complete cycle, retries and the log."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest

from brokkr_domain.errors import ForbiddenError, NotFoundError, ValidationError
from brokkr_domain.model import Actor, Agent, Caller, WorkOrderLog, WorkOrderStatus
from brokkr_domain.ports import RetryScheduled
from brokkr_domain.testing import FakeClock, InMemoryUnitOfWorkFactory, RecordingAuditSink, SequentialIds
from brokkr_domain.testing import builders as b
from brokkr_domain.usecases import work_orders as uc
from brokkr_domain.usecases.context import Services

MISSING = UUID(int=2**127)  # never handed out by SequentialIds or uuid4
ADMIN = Caller(actor=Actor.admin(), ip_address="10.0.0.1", user_agent="pytest")
YAML = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: job\n"


class World:
    """One broker's worth of state: services over an in-memory store, and seeding helpers."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.audit = RecordingAuditSink()
        self.uow = InMemoryUnitOfWorkFactory()
        self.s = Services(uow=self.uow, clock=self.clock, ids=SequentialIds(), audit=self.audit)

    def agent(self, labels: tuple[str, ...] = (), annotations: Mapping[str, str] | None = None) -> Agent:
        agent = b.agent(self.clock.now())
        with self.uow() as uow:
            uow.agents.add(agent)
            for label in labels:
                uow.agents.add_label(b.agent_label(agent.id, label))
            for key, value in (annotations or {}).items():
                uow.agents.add_annotation(b.agent_annotation(agent.id, key, value))
            uow.commit()
        return agent

    def subscribe_all(self) -> None:
        with self.uow() as uow:
            uow.webhooks.add(b.subscription(self.clock.now(), event_types=("workorder.*",)))
            uow.commit()

    def events(self) -> list[dict[str, Any]]:
        rows = sorted(self.uow.store.snapshot().webhook_deliveries.values(), key=lambda d: d.id)
        return [json.loads(row.payload) for row in rows]


def as_agent(agent: Agent) -> Caller:
    return Caller(actor=Actor.agent(agent.id))


@pytest.fixture
def w() -> World:
    return World()


def create(w: World, **kwargs: Any) -> Any:
    fields: dict[str, Any] = {"work_type": "build", "yaml_content": YAML}
    return uc.create_work_order(w.s, ADMIN, **(fields | kwargs))


# --- create, list, get, delete ------------------------------------------------------------------------------


def test_create_merges_legacy_agent_ids_and_emits_and_audits(w: World) -> None:
    a1, a2 = w.agent(), w.agent()
    w.subscribe_all()
    order = create(w, agent_ids=[a1.id], target_agent_ids=[a2.id], labels=["gpu"], annotations={"zone": "a"})
    assert order.status is WorkOrderStatus.PENDING
    assert order.targeting.agent_ids == {a1.id, a2.id}
    assert order.targeting.labels == {"gpu"}
    assert order.targeting.annotations == {("zone", "a")}
    assert (order.max_retries, order.backoff_seconds, order.claim_timeout_seconds) == (3, 60, 3600)
    [event] = w.events()
    assert event["event_type"] == "workorder.created"
    assert event["data"]["work_order_id"] == str(order.id)
    assert event["data"]["status"] == "PENDING"
    [entry] = w.audit.entries
    assert (entry.action, entry.resource_type, entry.resource_id) == (
        "workorder.created",
        "work_order",
        order.id,
    )
    assert (entry.actor_type, entry.ip_address, entry.user_agent) == ("admin", "10.0.0.1", "pytest")


def test_create_without_targeting_is_refused(w: World) -> None:
    with pytest.raises(ValidationError) as err:
        create(w, agent_ids=[], labels=[], annotations={})
    assert err.value.code == "no_targeting_specified"


def test_create_with_an_unknown_agent_stores_nothing(w: World) -> None:
    with pytest.raises(NotFoundError) as err:
        create(w, agent_ids=[MISSING])
    assert err.value.code == "agent_not_found"
    assert w.uow.store.snapshot().work_orders == {}
    assert w.audit.entries == []


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"labels": ["gpu"], "work_type": " "}, "work_type"),
        ({"labels": ["gpu"], "yaml_content": ""}, "yaml_content"),
        ({"labels": ["gpu"], "backoff_seconds": 0}, "backoff_seconds"),
        ({"labels": ["gpu"], "max_retries": -1}, "max_retries"),
    ],
)
def test_create_validates_fields(w: World, kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as err:
        create(w, **kwargs)
    assert err.value.code == "invalid_work_order"
    assert err.value.details["field"] == field


def test_create_refuses_invalid_labels_and_annotations(w: World) -> None:
    with pytest.raises(ValidationError) as label:
        create(w, labels=["has space"])
    assert label.value.code == "invalid_label"
    with pytest.raises(ValidationError) as annotation:
        create(w, annotations={"zone": ""})
    assert annotation.value.code == "invalid_annotation"


def test_list_filters_by_status_and_work_type(w: World) -> None:
    agent = w.agent(labels=("gpu",))
    build = create(w, labels=["gpu"])
    w.clock.advance(1)
    custom = create(w, labels=["gpu"], work_type="custom")
    uc.claim_work_order(w.s, as_agent(agent), build.id, agent_id=agent.id)
    assert [o.id for o in uc.list_work_orders(w.s, ADMIN)] == [custom.id, build.id]
    assert [o.id for o in uc.list_work_orders(w.s, ADMIN, status="CLAIMED")] == [build.id]
    assert [o.id for o in uc.list_work_orders(w.s, ADMIN, work_type="custom")] == [custom.id]
    assert uc.list_work_orders(w.s, ADMIN, status="COMPLETED") == []
    with pytest.raises(ValidationError) as err:
        uc.list_work_orders(w.s, ADMIN, status="pending")
    assert err.value.details["field"] == "status"


def test_get_reads_active_orders_then_the_log(w: World) -> None:
    agent = w.agent(labels=("gpu",))
    order = create(w, labels=["gpu"])
    assert uc.get_work_order(w.s, ADMIN, order.id) == order
    uc.claim_work_order(w.s, as_agent(agent), order.id, agent_id=agent.id)
    uc.complete_work_order(w.s, as_agent(agent), order.id, success=False, message="boom", retryable=False)
    finished = uc.get_work_order(w.s, ADMIN, order.id)
    assert finished.status is WorkOrderStatus.FAILED
    assert finished.last_error == "boom"
    with pytest.raises(NotFoundError) as err:
        uc.get_work_order(w.s, ADMIN, MISSING)
    assert err.value.code == "work_order_not_found"


def test_delete_removes_the_order_and_is_audited(w: World) -> None:
    order = create(w, labels=["gpu"])
    uc.delete_work_order(w.s, ADMIN, order.id)
    assert w.audit.actions()[-1] == "workorder.deleted"
    with pytest.raises(NotFoundError):
        uc.get_work_order(w.s, ADMIN, order.id)
    with pytest.raises(NotFoundError) as err:
        uc.delete_work_order(w.s, ADMIN, order.id)
    assert err.value.code == "work_order_not_found"


# --- pending, claim, complete -------------------------------------------------------------------------------


def test_pending_uses_or_targeting_with_exact_annotation_pairs(w: World) -> None:
    by_label = w.agent(labels=("gpu",))
    by_pair = w.agent(annotations={"zone": "a"})
    wrong_value = w.agent(annotations={"zone": "b"})
    explicit = w.agent()
    order = create(w, agent_ids=[explicit.id], labels=["gpu"], annotations={"zone": "a"})
    for agent in (by_label, by_pair, explicit):
        assert [o.id for o in uc.pending_for_agent(w.s, as_agent(agent), agent.id)] == [order.id]
    assert uc.pending_for_agent(w.s, as_agent(wrong_value), wrong_value.id) == []
    assert uc.pending_for_agent(w.s, ADMIN, by_label.id, work_type="custom") == []


def test_pending_is_for_the_agent_itself_or_the_admin(w: World) -> None:
    mine, other = w.agent(), w.agent()
    with pytest.raises(ForbiddenError) as err:
        uc.pending_for_agent(w.s, as_agent(other), mine.id)
    assert err.value.code == "agent_pak_mismatch"
    with pytest.raises(NotFoundError) as missing:
        uc.pending_for_agent(w.s, ADMIN, MISSING)
    assert missing.value.code == "agent_not_found"


def test_claim_marks_claimed_and_emits(w: World) -> None:
    agent = w.agent(labels=("gpu",))
    w.subscribe_all()
    order = create(w, labels=["gpu"])
    claimed = uc.claim_work_order(w.s, as_agent(agent), order.id, agent_id=agent.id)
    assert (claimed.status, claimed.claimed_by, claimed.claimed_at) == (
        WorkOrderStatus.CLAIMED,
        agent.id,
        w.clock.now(),
    )
    event = w.events()[-1]
    assert event["event_type"] == "workorder.claimed"
    assert event["data"]["agent_id"] == str(agent.id)
    assert w.audit.entries[-1].actor_id == agent.id


def test_claim_answers_404_for_missing_untargeted_or_taken_orders(w: World) -> None:
    gpu, cpu = w.agent(labels=("gpu",)), w.agent(labels=("cpu",))
    order = create(w, labels=["gpu"])
    for order_id, agent in ((MISSING, gpu), (order.id, cpu)):
        with pytest.raises(NotFoundError) as err:
            uc.claim_work_order(w.s, as_agent(agent), order_id, agent_id=agent.id)
        assert err.value.code == "work_order_not_claimable"
    uc.claim_work_order(w.s, ADMIN, order.id, agent_id=gpu.id)
    with pytest.raises(NotFoundError) as again:
        uc.claim_work_order(w.s, as_agent(gpu), order.id, agent_id=gpu.id)
    assert again.value.code == "work_order_not_claimable"


def test_an_agent_cannot_claim_in_another_agents_name(w: World) -> None:
    gpu, other = w.agent(labels=("gpu",)), w.agent()
    order = create(w, labels=["gpu"])
    with pytest.raises(ForbiddenError) as err:
        uc.claim_work_order(w.s, as_agent(other), order.id, agent_id=gpu.id)
    assert err.value.code == "agent_pak_mismatch"


def test_complete_success_moves_to_the_log_and_emits_completed(w: World) -> None:
    agent = w.agent(labels=("gpu",))
    w.subscribe_all()
    order = create(w, labels=["gpu"])
    uc.claim_work_order(w.s, as_agent(agent), order.id, agent_id=agent.id)
    w.clock.advance(30)
    entry = uc.complete_work_order(w.s, as_agent(agent), order.id, success=True, message="sha256:abc")
    assert isinstance(entry, WorkOrderLog)
    assert (entry.success, entry.result_message, entry.claimed_by) == (True, "sha256:abc", agent.id)
    assert entry.completed_at == w.clock.now()
    assert w.uow.store.snapshot().work_orders == {}
    event = w.events()[-1]
    assert event["event_type"] == "workorder.completed"
    assert event["data"]["success"] is True
    assert event["data"]["work_order_log_id"] == str(order.id)
    assert event["data"]["completed_at"] == w.clock.now().isoformat().replace("+00:00", "Z")
    assert w.audit.actions()[-1] == "workorder.completed"


def test_only_the_claiming_agent_or_admin_may_complete(w: World) -> None:
    agent, other = w.agent(labels=("gpu",)), w.agent(labels=("gpu",))
    order = create(w, labels=["gpu"])
    with pytest.raises(ForbiddenError) as unclaimed:
        uc.complete_work_order(w.s, as_agent(agent), order.id, success=True)
    assert unclaimed.value.code == "work_order_not_claimed_by_agent"
    uc.claim_work_order(w.s, as_agent(agent), order.id, agent_id=agent.id)
    with pytest.raises(ForbiddenError) as err:
        uc.complete_work_order(w.s, as_agent(other), order.id, success=True)
    assert err.value.code == "work_order_not_claimed_by_agent"
    assert isinstance(uc.complete_work_order(w.s, ADMIN, order.id, success=True), WorkOrderLog)
    with pytest.raises(NotFoundError) as gone:
        uc.complete_work_order(w.s, ADMIN, order.id, success=True)
    assert gone.value.code == "work_order_not_found"


def test_admin_may_complete_an_unclaimed_order(w: World) -> None:
    order = create(w, labels=["gpu"])
    entry = uc.complete_work_order(w.s, ADMIN, order.id, success=True, message="done by hand")
    assert isinstance(entry, WorkOrderLog)
    assert entry.claimed_by is None


# --- retries ------------------------------------------------------------------------------------------------


def test_retry_timeline_120_240_480_then_final_failure(w: World) -> None:
    agent = w.agent(labels=("gpu",))
    w.subscribe_all()
    order = create(w, labels=["gpu"])
    me = as_agent(agent)
    for attempt, delay in enumerate((120, 240, 480), start=1):
        uc.claim_work_order(w.s, me, order.id, agent_id=agent.id)
        result = uc.complete_work_order(w.s, me, order.id, success=False, message=f"timeout {attempt}")
        assert isinstance(result, RetryScheduled)
        waiting = uc.get_work_order(w.s, ADMIN, order.id)
        assert waiting.status is WorkOrderStatus.RETRY_PENDING
        assert (waiting.retry_count, waiting.last_error) == (attempt, f"timeout {attempt}")
        assert waiting.next_retry_after == w.clock.now() + timedelta(seconds=delay)
        assert waiting.claimed_by is None
        assert uc.pending_for_agent(w.s, me, agent.id) == []
        w.clock.advance(delay - 1)
        assert uc.run_work_order_maintenance(w.s) == (0, 0)
        w.clock.advance(1)
        assert uc.run_work_order_maintenance(w.s) == (1, 0)
        assert [o.id for o in uc.pending_for_agent(w.s, me, agent.id)] == [order.id]
    uc.claim_work_order(w.s, me, order.id, agent_id=agent.id)
    final = uc.complete_work_order(w.s, me, order.id, success=False, message="timeout 4")
    assert isinstance(final, WorkOrderLog)
    assert (final.success, final.retries_attempted, final.result_message) == (False, 3, "timeout 4")
    assert [e["event_type"] for e in w.events()].count("workorder.failed") == 1
    assert w.events()[-1]["data"]["success"] is False
    assert w.audit.actions().count("workorder.retry_scheduled") == 3
    assert w.audit.actions()[-1] == "workorder.failed"


def test_non_retryable_failure_goes_straight_to_the_log(w: World) -> None:
    agent = w.agent(labels=("gpu",))
    order = create(w, labels=["gpu"])
    uc.claim_work_order(w.s, as_agent(agent), order.id, agent_id=agent.id)
    entry = uc.complete_work_order(
        w.s, as_agent(agent), order.id, success=False, message="x", retryable=False
    )
    assert isinstance(entry, WorkOrderLog)
    assert (entry.success, entry.retries_attempted) == (False, 0)


# --- the log ------------------------------------------------------------------------------------------------


def test_log_filters_limit_and_404(w: World) -> None:
    a1, a2 = w.agent(labels=("gpu",)), w.agent(labels=("gpu",))
    done = []
    for agent, success, work_type in ((a1, True, "build"), (a2, False, "build"), (a1, True, "custom")):
        order = create(w, labels=["gpu"], work_type=work_type)
        uc.claim_work_order(w.s, as_agent(agent), order.id, agent_id=agent.id)
        uc.complete_work_order(w.s, as_agent(agent), order.id, success=success, retryable=False)
        done.append(order.id)
        w.clock.advance(10)
    assert [e.id for e in uc.list_work_order_log(w.s, ADMIN)] == done[::-1]
    assert [e.id for e in uc.list_work_order_log(w.s, ADMIN, success=False)] == [done[1]]
    assert [e.id for e in uc.list_work_order_log(w.s, ADMIN, agent_id=a1.id)] == [done[2], done[0]]
    assert [e.id for e in uc.list_work_order_log(w.s, ADMIN, work_type="custom")] == [done[2]]
    assert [e.id for e in uc.list_work_order_log(w.s, ADMIN, limit=1)] == [done[2]]
    assert uc.get_work_order_log_entry(w.s, ADMIN, done[0]).success is True
    with pytest.raises(NotFoundError) as err:
        uc.get_work_order_log_entry(w.s, ADMIN, MISSING)
    assert err.value.code == "work_order_log_entry_not_found"
    with pytest.raises(ValidationError):
        uc.list_work_order_log(w.s, ADMIN, limit=-1)
