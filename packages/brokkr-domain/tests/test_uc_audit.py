"""Audit use cases: the admin's query (filters, paging, bounds) and retention."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

import pytest

from brokkr_domain.errors import ForbiddenError, ValidationError
from brokkr_domain.model import Actor, ActorType, Caller
from brokkr_domain.ports import AuditQuery
from brokkr_domain.testing import FakeClock, InMemoryUnitOfWorkFactory, RecordingAuditSink, SequentialIds
from brokkr_domain.testing import builders as b
from brokkr_domain.usecases import audit as uc
from brokkr_domain.usecases import webhooks
from brokkr_domain.usecases.context import Services

ADMIN = Caller(actor=Actor.admin(), ip_address="192.0.2.7", user_agent="cli/1.0")


@pytest.fixture
def s() -> Services:
    return Services(
        uow=InMemoryUnitOfWorkFactory(), clock=FakeClock(), ids=SequentialIds(), audit=RecordingAuditSink()
    )


def seed(s: Services, *actions: str) -> None:
    """Entries one second apart, oldest first."""
    with s.uow() as uow:
        start = s.clock.now()
        uow.audit.add_many(
            [b.audit_entry(start + timedelta(seconds=i), action) for i, action in enumerate(actions)]
        )
        uow.commit()


@pytest.mark.parametrize(
    "caller", [Caller(actor=Actor.agent(UUID(int=1))), Caller(actor=Actor.generator(UUID(int=2)))]
)
def test_only_the_admin_reads_the_log(s: Services, caller: Caller) -> None:
    with pytest.raises(ForbiddenError) as err:
        uc.query_audit_logs(s, caller, AuditQuery())
    assert err.value.code == "admin_required"


def test_pages_newest_first_with_total_and_count(s: Services) -> None:
    seed(s, "agent.created", "agent.updated", "stack.created", "agent.deleted")
    page = uc.query_audit_logs(s, ADMIN, AuditQuery(limit=2, offset=1))
    assert [e.action for e in page.logs] == ["stack.created", "agent.updated"]
    assert (page.total, page.count, page.limit, page.offset) == (4, 2, 2, 1)
    default = uc.query_audit_logs(s, ADMIN, AuditQuery())
    assert (default.limit, default.offset, default.count) == (100, 0, 4)


def test_action_prefix_and_exact_filters(s: Services) -> None:
    seed(s, "agent.created", "agent.updated", "stack.created", "agentx.odd")
    assert uc.query_audit_logs(s, ADMIN, AuditQuery(action="agent.*")).total == 2
    assert uc.query_audit_logs(s, ADMIN, AuditQuery(action="agent.created")).total == 1
    assert uc.query_audit_logs(s, ADMIN, AuditQuery(actor_type="admin")).total == 4
    assert uc.query_audit_logs(s, ADMIN, AuditQuery(actor_type="agent")).total == 0


def test_limit_is_clamped_and_bad_bounds_are_refused(s: Services) -> None:
    assert uc.query_audit_logs(s, ADMIN, AuditQuery(limit=5000)).limit == 1000
    for query, field in (
        (AuditQuery(limit=-1), "limit"),
        (AuditQuery(offset=-5), "offset"),
        (AuditQuery(actor_type="robot"), "actor_type"),
    ):
        with pytest.raises(ValidationError) as err:
            uc.query_audit_logs(s, ADMIN, query)
        assert err.value.details["field"] == field


def test_entries_written_by_use_cases_name_the_real_actor(s: Services) -> None:
    """What the broker's audit writer stores can be found again by actor and resource."""
    sub = webhooks.create_webhook(s, ADMIN, name="n", url="https://x.test/", event_types=["*"])
    sink = s.audit
    assert isinstance(sink, RecordingAuditSink)
    with s.uow() as uow:
        uow.audit.add_many(sink.entries)
        uow.commit()
    page = uc.query_audit_logs(s, ADMIN, AuditQuery(resource_type="webhook_subscription", resource_id=sub.id))
    [entry] = page.logs
    assert (entry.actor_type, entry.actor_id) == (ActorType.ADMIN, None)
    assert (entry.ip_address, entry.user_agent) == ("192.0.2.7", "cli/1.0")


def test_retention_deletes_entries_older_than_the_period(s: Services) -> None:
    seed(s, "old.one", "old.two")
    clock = s.clock
    assert isinstance(clock, FakeClock)
    clock.advance(timedelta(days=30))
    seed(s, "new.one")
    clock.advance(timedelta(days=61))
    assert uc.run_audit_retention(s, 90) == 2
    assert [e.action for e in uc.query_audit_logs(s, ADMIN, AuditQuery()).logs] == ["new.one"]
    with pytest.raises(ValidationError):
        uc.run_audit_retention(s, 0)
