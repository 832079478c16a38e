"""``HttpBrokerGateway`` against the real broker app on loopback: every method, and the error mapping."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest

from agentapp_support import Admin, BrokerServer
from brokkr_agent_app.gateway import HttpBrokerGateway
from brokkr_domain.errors import ConflictError, ForbiddenError, NotFoundError, UnauthorizedError
from brokkr_domain.model import (
    ActorKind,
    DeliveryOutcome,
    DiagnosticStatus,
    HealthStatus,
    HealthSummary,
    WorkOrder,
    WorkOrderLog,
)
from brokkr_domain.ports import DiagnosticReport, EventReport, HealthReport, RetryScheduled

CONFIG_MAP = """apiVersion: v1
kind: ConfigMap
metadata:
  name: {name}
data:
  key: value
"""


@pytest.fixture
def agent(admin: Admin) -> tuple[UUID, str]:
    return admin.create_agent("gw-agent")


@pytest.fixture
def gateway(broker: BrokerServer, agent: tuple[UUID, str]) -> Iterator[HttpBrokerGateway]:
    gw = HttpBrokerGateway(broker.url, agent[1], max_attempts=1)
    yield gw
    gw.close()


def test_identity_heartbeat_and_own_record(
    broker: BrokerServer, admin: Admin, agent: tuple[UUID, str], gateway: HttpBrokerGateway
) -> None:
    agent_id, _ = agent
    assert gateway.is_ready()
    actor = gateway.whoami()
    assert actor.kind is ActorKind.AGENT and actor.id == agent_id
    found = gateway.find_agent("gw-agent", "test-cluster")
    assert found.id == agent_id and found.status == "ACTIVE"
    assert found.last_heartbeat is None
    before = datetime.now(UTC)
    gateway.heartbeat(agent_id)
    record = gateway.get_agent(agent_id)
    assert record.last_heartbeat is not None and record.last_heartbeat >= before.replace(microsecond=0)
    admin_gateway = HttpBrokerGateway(broker.url, broker.admin_pak, max_attempts=1)
    assert admin_gateway.whoami().kind is ActorKind.ADMIN
    admin_gateway.close()


def test_target_state_full_and_incremental_and_events(
    admin: Admin, agent: tuple[UUID, str], gateway: HttpBrokerGateway
) -> None:
    agent_id, _ = agent
    first = admin.create_stack("gw-one", target=agent_id)
    second = admin.create_stack("gw-two", target=agent_id)
    obj1 = admin.deploy(first, CONFIG_MAP.format(name="one"))
    obj2 = admin.deploy(second, CONFIG_MAP.format(name="two"))
    full = gateway.target_state(agent_id, full=True)
    assert {o.id for o in full} == {obj1, obj2}
    assert all(not o.is_deletion_marker and o.yaml_checksum for o in full)
    event = gateway.report_event(
        agent_id, EventReport(deployment_object_id=obj1, event_type="DEPLOY", status="SUCCESS")
    )
    assert event.agent_id == agent_id and event.deployment_object_id == obj1 and event.succeeded
    assert [o.id for o in gateway.target_state(agent_id, full=False)] == [obj2]
    assert {o.id for o in gateway.target_state(agent_id, full=True)} == {obj1, obj2}
    failure = gateway.report_event(
        agent_id,
        EventReport(deployment_object_id=obj2, event_type="DEPLOY", status="FAILURE", message="boom"),
    )
    assert failure.message == "boom" and not failure.succeeded
    listed = admin.events_of(agent_id)
    assert {(e["deployment_object_id"], e["status"]) for e in listed} == {
        (str(obj1), "SUCCESS"),
        (str(obj2), "FAILURE"),
    }


def test_health_reports_reach_the_rollups(
    admin: Admin, agent: tuple[UUID, str], gateway: HttpBrokerGateway
) -> None:
    agent_id, _ = agent
    stack = admin.create_stack("gw-health", target=agent_id)
    obj = admin.deploy(stack, CONFIG_MAP.format(name="health"))
    summary = HealthSummary(pods_ready=1, pods_total=2, conditions=("CrashLoopBackOff",))
    gateway.report_health(
        agent_id,
        [
            HealthReport(
                deployment_object_id=obj,
                status=HealthStatus.DEGRADED,
                summary=summary,
                checked_at=datetime.now(UTC),
            )
        ],
    )
    view = admin.get(f"/deployment-objects/{obj}/health")
    assert view["overall_status"] == "degraded"
    [record] = view["health_records"]
    assert record["agent_id"] == str(agent_id) and record["status"] == "degraded"
    assert "CrashLoopBackOff" in record["summary"]
    stack_view = admin.get(f"/stacks/{stack}/health")
    assert stack_view["overall_status"] == "degraded"


def _order(admin: Admin, agent_id: UUID, **extra: object) -> UUID:
    body = {"work_type": "custom", "yaml_content": CONFIG_MAP.format(name="wo"), **extra}
    body.setdefault("targeting", {"agent_ids": [str(agent_id)]})
    return UUID(admin.post("/work-orders", body)["id"])


def test_work_orders_claim_complete_and_retry(
    admin: Admin, agent: tuple[UUID, str], gateway: HttpBrokerGateway
) -> None:
    agent_id, _ = agent
    done = _order(admin, agent_id)
    retried = _order(admin, agent_id, max_retries=2, backoff_seconds=1)
    pending = gateway.pending_work_orders(agent_id)
    assert [o.id for o in pending] == [done, retried]
    assert all(isinstance(o, WorkOrder) and o.work_type == "custom" for o in pending)
    assert gateway.pending_work_orders(agent_id, work_type="build") == []
    claimed = gateway.claim_work_order(done, agent_id)
    assert claimed.status == "CLAIMED" and claimed.claimed_by == agent_id
    with pytest.raises(NotFoundError):  # already claimed: the broker's claim finds no PENDING row
        gateway.claim_work_order(done, agent_id)
    log = gateway.complete_work_order(done, success=True, message="Successfully applied 1 resource(s)")
    assert isinstance(log, WorkOrderLog) and log.success and log.id == done
    gateway.claim_work_order(retried, agent_id)
    again = gateway.complete_work_order(
        retried, success=False, message="timeout talking to API", retryable=True
    )
    assert isinstance(again, RetryScheduled)
    assert admin.get(f"/work-orders/{retried}")["status"] == "RETRY_PENDING"
    with pytest.raises(NotFoundError):
        gateway.complete_work_order(uuid4(), success=True, message=None)


def test_work_order_of_another_agent_is_forbidden(
    broker: BrokerServer, admin: Admin, agent: tuple[UUID, str], gateway: HttpBrokerGateway
) -> None:
    agent_id, _ = agent
    other_id, other_pak = admin.create_agent("gw-other")
    order = _order(admin, agent_id)
    other = HttpBrokerGateway(broker.url, other_pak, max_attempts=1)
    try:
        assert other.pending_work_orders(other_id) == []
        with pytest.raises(ForbiddenError):
            other.pending_work_orders(agent_id)
        with pytest.raises(ForbiddenError):
            other.target_state(agent_id)
        with pytest.raises((ForbiddenError, NotFoundError)):
            other.claim_work_order(order, other_id)
    finally:
        other.close()


def test_diagnostics_round_trip_and_conflict(
    admin: Admin, agent: tuple[UUID, str], gateway: HttpBrokerGateway
) -> None:
    agent_id, _ = agent
    stack = admin.create_stack("gw-diag", target=agent_id)
    obj = admin.deploy(stack, CONFIG_MAP.format(name="diag"))
    request_id = UUID(
        admin.post(
            f"/deployment-objects/{obj}/diagnostics", {"agent_id": str(agent_id), "requested_by": "t"}
        )["id"]
    )
    [pending] = gateway.pending_diagnostics(agent_id)
    assert pending.id == request_id and pending.status is DiagnosticStatus.PENDING
    claimed = gateway.claim_diagnostic(request_id)
    assert claimed.status is DiagnosticStatus.CLAIMED
    with pytest.raises(ConflictError):
        gateway.claim_diagnostic(request_id)
    report = DiagnosticReport(
        pod_statuses='[{"name": "p"}]',
        events="[]",
        log_tails='{"p/c": "line"}',
        collected_at=datetime.now(UTC),
    )
    result = gateway.submit_diagnostic(request_id, report)
    assert result.request_id == request_id and result.log_tails == '{"p/c": "line"}'
    view = admin.get(f"/diagnostics/{request_id}")
    assert view["request"]["status"] == "completed"
    assert view["result"]["pod_statuses"] == '[{"name": "p"}]'
    with pytest.raises(NotFoundError):
        gateway.claim_diagnostic(uuid4())


def test_agent_webhook_deliveries_are_claimed_and_reported(
    admin: Admin, agent: tuple[UUID, str], gateway: HttpBrokerGateway
) -> None:
    agent_id, _ = agent
    admin.post(f"/agents/{agent_id}/labels", {"label": "site=edge", "agent_id": str(agent_id)})
    admin.post(
        "/webhooks",
        {
            "name": "edge",
            "url": "http://receiver.invalid/hook",
            "event_types": ["stack.*"],
            "target_labels": ["site=edge"],
            "signing_secret": "s3cret",
        },
    )
    stack = admin.create_stack("gw-hook")
    [delivery] = gateway.pending_webhooks(agent_id)
    assert delivery.event_type == "stack.created" and str(stack) in delivery.payload
    assert delivery.url == "http://receiver.invalid/hook" and delivery.signing_secret == "s3cret"
    assert gateway.pending_webhooks(agent_id) == []  # fetching claimed it
    gateway.report_webhook(delivery.id, DeliveryOutcome(success=True, status_code=200, duration_ms=3))
    [sub] = admin.get("/webhooks")
    [row] = admin.get(f"/webhooks/{sub['id']}/deliveries")
    assert row["status"] == "success"


def test_error_mapping(broker: BrokerServer, agent: tuple[UUID, str], gateway: HttpBrokerGateway) -> None:
    agent_id, _ = agent
    stranger = HttpBrokerGateway(broker.url, "brokkr_BRnotakey_notakeyatallnotakeyatall", max_attempts=1)
    try:
        with pytest.raises(UnauthorizedError) as unauthorized:
            stranger.whoami()
        assert unauthorized.value.message
        with pytest.raises(UnauthorizedError):
            stranger.heartbeat(agent_id)
    finally:
        stranger.close()
    with pytest.raises(ForbiddenError):
        gateway.heartbeat(uuid4())
    with pytest.raises(ForbiddenError):  # an agent may look up only itself
        gateway.find_agent("nobody", "nowhere")
    admin_gateway = HttpBrokerGateway(broker.url, broker.admin_pak, max_attempts=1)
    try:
        with pytest.raises(NotFoundError) as missing:
            admin_gateway.find_agent("nobody", "nowhere")
        assert missing.value.code == "not_found" or missing.value.code
    finally:
        admin_gateway.close()
