"""The audit log: the real actor of every mutation, failed authentications, the query API, durability.

Contract decision 9: entries name the admin, agent or generator (with its id), the client address and user
agent, and are flushed on shutdown. ``BatchedAuditWriter`` is also tested alone with a unit of work that blocks,
to pin down its behaviour under concurrent flushes and buffer overflow.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from uuid import uuid4

from brokerapp_support import CLIENT_IP, USER_AGENT, Broker, serving
from brokkr_adapters_postgres.database import Database
from brokkr_broker_app.audit_writer import BatchedAuditWriter
from brokkr_broker_app.webhook_sender import HttpxWebhookSender
from brokkr_domain.model import Actor, ActorType, AuditEntry, Caller
from brokkr_domain.ports import AuditQuery
from brokkr_domain.settings import Settings
from brokkr_domain.usecases import audit


def test_entries_name_the_real_actor_its_address_and_user_agent(broker: Broker) -> None:
    agent, agent_pak = broker.create_agent()
    generator, gen_pak = broker.create_generator()
    broker.ok("PUT", f"/agents/{agent['id']}", agent_pak, json={"status": "ACTIVE"})
    stack = broker.create_stack(generator["id"], gen_pak)
    logs = broker.audit()["logs"]
    by_action = {entry["action"]: entry for entry in logs}
    created = by_action["agent.created"]
    assert (created["actor_type"], created.get("actor_id"), created["resource_id"]) == (
        "admin",
        None,
        agent["id"],
    )
    updated = by_action["agent.updated"]
    assert (updated["actor_type"], updated["actor_id"], updated["details"]["status"]) == (
        "agent",
        agent["id"],
        "ACTIVE",
    )
    made = by_action["stack.created"]
    assert (made["actor_type"], made["actor_id"], made["resource_id"]) == (
        "generator",
        generator["id"],
        stack["id"],
    )
    for entry in (created, updated, made):
        assert (entry["ip_address"], entry["user_agent"]) == (CLIENT_IP, USER_AGENT)


def test_failed_authentication_is_audited_without_the_key(broker: Broker) -> None:
    key = "brokkr_BRnotreal_Ks9HjW2dPq4XcR7tYb3nMfLa6EuGzVv"
    assert broker.request("GET", "/agents", key).status_code == 401
    assert broker.request("GET", "/stacks").status_code == 401
    page = broker.audit(action="auth.failed")
    assert page["total"] == 2
    newest, oldest = page["logs"]
    assert (newest["actor_type"], newest["resource_type"], newest["ip_address"]) == (
        "system",
        "pak",
        CLIENT_IP,
    )
    assert newest["user_agent"] == USER_AGENT
    assert oldest["details"]["path"] == "/api/v1/agents" and newest["details"]["path"] == "/api/v1/stacks"
    assert key not in str(page) and key.split("_")[2] not in str(page)


def test_the_audit_query_filters_and_pages(broker: Broker) -> None:
    agents = [broker.create_agent()[0] for _ in range(3)]
    broker.create_generator()
    broker.ok("DELETE", f"/agents/{agents[0]['id']}", status=204)
    page = broker.audit(action="agent.*", limit=2, offset=1)
    assert (page["total"], page["count"], page["limit"], page["offset"]) == (4, 2, 2, 1)
    assert all(e["action"].startswith("agent.") for e in page["logs"])
    everything = broker.audit(action="agent.*")["logs"]
    assert [e["id"] for e in everything[1:3]] == [e["id"] for e in page["logs"]]
    timestamps = [e["timestamp"] for e in everything]
    assert timestamps == sorted(timestamps, reverse=True)
    assert broker.audit(action="agent.deleted")["total"] == 1
    assert broker.audit(resource_id=agents[1]["id"])["total"] == 1
    assert broker.audit(resource_type="generator")["total"] == 1
    assert broker.audit(actor_type="admin")["total"] >= 5
    assert broker.audit(actor_type="generator")["total"] == 0
    middle = everything[1]["timestamp"]
    after = broker.audit(action="agent.*", **{"from": middle})
    assert after["total"] == 2  # from is inclusive
    before = broker.audit(action="agent.*", to=middle)
    assert before["total"] == 2  # to is exclusive
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert broker.audit(**{"from": future})["total"] == 0
    assert broker.audit()["limit"] == 100
    bad = broker.request("GET", "/admin/audit-logs", broker.admin, params={"actor_type": "robot"})
    assert bad.status_code == 400 and bad.json()["details"]["field"] == "actor_type"


def test_entries_are_flushed_on_shutdown(
    database: Database, settings_for: Callable[..., Settings], webhook_sender: HttpxWebhookSender
) -> None:
    with serving(database, settings_for(), webhook_sender) as broker:
        broker.app.state.audit_writer.flush_interval = 3600.0  # nothing is written until shutdown
        agent, _ = broker.create_agent()
    page = audit.query_audit_logs(
        broker.services, Caller(actor=Actor.admin()), AuditQuery(action="agent.created")
    )
    assert page.total == 1 and str(page.logs[0].resource_id) == agent["id"]


# --- the writer alone ----------------------------------------------------------------------------------------


class BlockingAudit:
    """``uow.audit`` that records what is written and can hold the first write until released."""

    def __init__(self) -> None:
        self.written: list[AuditEntry] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.release.set()

    def add_many(self, entries: list[AuditEntry]) -> None:
        self.entered.set()
        assert self.release.wait(5)
        self.written.extend(entries)


class FakeUow:
    def __init__(self, audit_repo: BlockingAudit) -> None:
        self.audit = audit_repo

    def commit(self) -> None:
        pass


def uow_factory(repo: BlockingAudit) -> Callable[[], Any]:
    @contextmanager
    def factory() -> Iterator[FakeUow]:
        yield FakeUow(repo)

    return factory


def entry(n: int) -> AuditEntry:
    now = datetime.now(UTC)
    return AuditEntry(
        id=uuid4(),
        timestamp=now,
        actor_type=ActorType.SYSTEM,
        action=f"test.{n}",
        resource_type="test",
        created_at=now,
    )


def _flush_in_background(writer: BatchedAuditWriter) -> threading.Thread:
    thread = threading.Thread(target=writer.flush)
    thread.start()
    return thread


def test_concurrent_flushes_write_each_entry_once() -> None:
    repo = BlockingAudit()
    writer = BatchedAuditWriter(uow_factory(repo))
    entries = [entry(n) for n in range(3)]
    for e in entries:
        writer.record(e)
    repo.release.clear()
    first = _flush_in_background(writer)
    assert repo.entered.wait(5)
    second = _flush_in_background(writer)  # e.g. shutdown while the writer thread is mid-batch
    repo.release.set()
    first.join(5)
    second.join(5)
    assert [e.action for e in repo.written] == [e.action for e in entries]
    assert writer.pending == 0


def test_an_overflow_during_a_flush_never_loses_an_entry_that_was_not_dropped() -> None:
    repo = BlockingAudit()
    writer = BatchedAuditWriter(uow_factory(repo), max_buffer=3)
    for n in range(3):
        writer.record(entry(n))
    repo.release.clear()
    flushing = _flush_in_background(writer)
    assert repo.entered.wait(5)
    writer.record(entry(3))  # the buffer is full: the oldest (already being written) is dropped
    writer.record(entry(4))
    repo.release.set()
    flushing.join(5)
    writer.flush()
    assert sorted(e.action for e in repo.written) == [f"test.{n}" for n in range(5)]
    assert writer.dropped == 2 and writer.pending == 0


def test_a_failed_flush_keeps_the_entries_for_the_next_one() -> None:
    calls = {"n": 0}
    repo = BlockingAudit()

    @contextmanager
    def flaky() -> Iterator[FakeUow]:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("database down")
        yield FakeUow(repo)

    writer = BatchedAuditWriter(cast(Any, flaky))
    writer.record(entry(1))
    assert writer.flush() == 0 and writer.pending == 1
    assert writer.flush() == 1 and [e.action for e in repo.written] == ["test.1"]
