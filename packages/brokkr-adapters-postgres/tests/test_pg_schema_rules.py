"""What the schema itself guarantees, and how database errors reach the domain."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from sqlalchemy import text

from brokkr_adapters_postgres.errors import translated
from brokkr_adapters_postgres.uow import SqlUnitOfWorkFactory
from brokkr_domain.errors import (
    BrokkrError,
    ConflictError,
    NotFoundError,
    UnprocessableError,
    ValidationError,
)
from brokkr_domain.model import AdminRole, HealthStatus, HealthSummary, ResourceHealth, WebhookFilters
from brokkr_domain.ports import AuditQuery
from brokkr_domain.testing import builders as b
from brokkr_domain.testing.contracts._support import seed_agent, seed_object, seed_stack
from brokkr_domain.testing.fakes import FakeClock


def test_deployment_objects_only_allow_a_soft_delete(
    uow_factory: SqlUnitOfWorkFactory, clock: FakeClock
) -> None:
    with uow_factory() as uow:
        obj = seed_object(uow, clock.now())
        uow.commit()
    with uow_factory() as uow, pytest.raises(ConflictError) as info, translated():
        uow.connection.execute(
            text("UPDATE deployment_objects SET yaml_content = 'x' WHERE id = :id"), {"id": obj.id}
        )
    assert info.value.code == "immutable"
    with uow_factory() as uow:
        assert uow.deployment_objects.soft_delete_for_stack(obj.stack_id, clock.advance()) == 1
        uow.commit()
    with uow_factory() as uow, pytest.raises(ConflictError), translated():
        uow.connection.execute(
            text("UPDATE deployment_objects SET deleted_at = now() WHERE id = :id"), {"id": obj.id}
        )


def test_hard_deletes_cascade_through_immutable_objects(
    uow_factory: SqlUnitOfWorkFactory, clock: FakeClock
) -> None:
    with uow_factory() as uow:
        agent = seed_agent(uow, clock.now())
        obj = seed_object(uow, clock.now())
        uow.agent_events.add(b.agent_event(clock.now(), agent.id, obj.id))
        stack = uow.stacks.get(obj.stack_id)
        assert stack is not None
        uow.commit()
    with uow_factory() as uow:
        uow.connection.execute(text("DELETE FROM generators WHERE id = :id"), {"id": stack.generator_id})
        assert uow.deployment_objects.get(obj.id, include_deleted=True) is None
        assert uow.agent_events.list(agent_id=agent.id) == []
        uow.commit()


def test_the_admin_role_cannot_be_deleted(uow_factory: SqlUnitOfWorkFactory, clock: FakeClock) -> None:
    with uow_factory() as uow:
        uow.admin.upsert(
            AdminRole(id=uuid.uuid4(), pak_hash="h", created_at=clock.now(), updated_at=clock.now())
        )
        uow.commit()
    with uow_factory() as uow, pytest.raises(ConflictError) as info, translated():
        uow.connection.execute(text("DELETE FROM admin_role"))
    assert info.value.code == "undeletable"


def test_missing_reference_is_not_found_naming_the_kind(
    uow_factory: SqlUnitOfWorkFactory, clock: FakeClock
) -> None:
    ghost = b.agent(clock.now())
    with uow_factory() as uow, pytest.raises(NotFoundError) as info:
        uow.agents.add_label(b.agent_label(ghost.id, "x"))
    assert info.value.code == "agent_not_found"
    assert info.value.details == {"constraint": "agent_labels_agent_id_fkey", "id": str(ghost.id)}


def test_duplicate_is_a_conflict_naming_the_constraint(
    uow_factory: SqlUnitOfWorkFactory, clock: FakeClock
) -> None:
    with uow_factory() as uow:
        stack = seed_stack(uow, clock.now())
        uow.commit()
    with uow_factory() as uow, pytest.raises(ConflictError) as info:
        uow.stacks.add(b.stack(clock.now(), stack.generator_id, name=stack.name))
    assert (info.value.code, info.value.details) == ("unique_violation", {"constraint": "unique_stack_name"})


def test_check_and_length_violations_are_client_errors(
    uow_factory: SqlUnitOfWorkFactory, clock: FakeClock
) -> None:
    with uow_factory() as uow, pytest.raises(UnprocessableError) as info:
        uow.work_orders.add(b.work_order(clock.now(), backoff_seconds=0))
    assert info.value.code == "check_violation"
    assert info.value.details == {"constraint": "work_orders_backoff_seconds_check"}
    with uow_factory() as uow, pytest.raises(ValidationError) as too_long:
        uow.agents.add(b.agent(clock.now(), name="n" * 300))
    assert too_long.value.code == "value_too_long"


def test_webhook_secrets_are_stored_encrypted(uow_factory: SqlUnitOfWorkFactory, clock: FakeClock) -> None:
    sub = b.subscription(
        clock.now(),
        url="https://hooks.example/secret-path",
        auth_header="Bearer token-123",
        signing_secret="hmac-key",
        filters=WebhookFilters(agent_id=b.agent(clock.now()).id, labels={"env": "prod"}),
        target_labels=("edge",),
    )
    with uow_factory() as uow:
        uow.webhooks.add(sub)
        uow.commit()
    with uow_factory() as uow:
        raw = uow.connection.execute(
            text(
                "SELECT url_encrypted, auth_header_encrypted, signing_secret_encrypted"
                " FROM webhook_subscriptions"
            )
        ).one()
        assert all(isinstance(value, bytes) for value in raw)
        assert b"secret-path" not in raw[0] and b"token-123" not in raw[1] and b"hmac-key" not in raw[2]
        assert uow.webhooks.get(sub.id) == sub


def test_structured_values_round_trip(uow_factory: SqlUnitOfWorkFactory, clock: FakeClock) -> None:
    summary = HealthSummary(
        pods_ready=1,
        pods_total=2,
        conditions=("ImagePullBackOff",),
        resources=(ResourceHealth(kind="Pod", name="p", namespace="ns", ready=False, message="waiting"),),
    )
    with uow_factory() as uow:
        agent = seed_agent(uow, clock.now())
        obj = seed_object(uow, clock.now())
        stored = uow.health.upsert(
            b.health(clock.now(), agent.id, obj.id, status=HealthStatus.DEGRADED, summary=summary)
        )
        entry = b.audit_entry(clock.now(), details={"nested": {"list": [1, "two", None]}, "flag": True})
        uow.audit.add_many([entry])
        uow.commit()
    with uow_factory() as uow:
        assert uow.health.list_for_object(obj.id) == [stored]
        assert uow.audit.query(AuditQuery())[0] == [entry]


def test_using_a_failed_unit_of_work_says_to_roll_back(
    uow_factory: SqlUnitOfWorkFactory, clock: FakeClock
) -> None:
    ghost = b.agent(clock.now())
    with uow_factory() as uow:
        with pytest.raises(NotFoundError):
            uow.agents.add_label(b.agent_label(ghost.id, "x"))
        with pytest.raises(BrokkrError) as info:
            uow.agents.list()
        assert info.value.code == "transaction_aborted"
        uow.rollback()
        assert uow.agents.list() == []


def test_autocommit_unit_of_work_reads_committed_data(
    uow_factory: SqlUnitOfWorkFactory, clock: FakeClock
) -> None:
    with uow_factory() as uow:
        agent = seed_agent(uow, clock.now())
        uow.commit()
    with uow_factory.autocommit() as uow:
        assert uow.agents.get(agent.id) == agent
        # Autocommit: no BEGIN was sent, the server-side session is idle between statements.
        dbapi = uow.connection.connection.dbapi_connection
        assert dbapi is not None
        assert dbapi.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        assert uow.agents.touch_heartbeats({agent.id: clock.advance()}) == {agent.id}  # commits alone
    with uow_factory() as uow:
        stored = uow.agents.get(agent.id)
        assert stored is not None and stored.last_heartbeat == clock.now()
