"""The small fakes and the hypothesis strategies shipped in ``brokkr_domain.testing``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import yaml
from hypothesis import given

from brokkr_domain.errors import ValidationError
from brokkr_domain.model import Agent
from brokkr_domain.testing import FakeClock, PlainCipher, RecordingAuditSink, SequentialIds
from brokkr_domain.testing import builders as b
from brokkr_domain.testing import strategies as bst


def test_fake_clock_moves_only_when_told() -> None:
    clock = FakeClock(datetime(2024, 5, 1, 12, tzinfo=timezone(timedelta(hours=2))))
    assert clock.now() == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert clock.now().tzinfo is UTC
    assert clock.advance(90) == datetime(2024, 5, 1, 10, 1, 30, tzinfo=UTC)
    assert clock.advance(timedelta(days=1)).day == 2
    clock.set(datetime(2030, 1, 1, tzinfo=UTC))
    assert clock.now().year == 2030
    with pytest.raises(ValueError, match="timezone-aware"):
        clock.set(datetime(2030, 1, 1))  # naive on purpose


def test_sequential_ids_are_predictable_and_seeded() -> None:
    ids = SequentialIds()
    assert [ids.new_id().int for _ in range(3)] == [1, 2, 3]
    other = SequentialIds(seed=7)
    assert other.new_id().int == (7 << 64) | 1


@given(text=bst.names() | bst.free_labels())
def test_plain_cipher_round_trips_and_is_not_the_identity(text: str) -> None:
    cipher = PlainCipher()
    sealed = cipher.encrypt(text)
    assert sealed != text.encode()
    assert cipher.decrypt(sealed) == text


def test_plain_cipher_rejects_foreign_ciphertext() -> None:
    with pytest.raises(ValidationError):
        PlainCipher().decrypt(b"\x01nonce-and-ciphertext")


def test_recording_audit_sink_keeps_entries_in_order() -> None:
    sink = RecordingAuditSink()
    at = FakeClock().now()
    sink.record(b.audit_entry(at, "agent.created"))
    sink.record(b.audit_entry(at, "stack.deleted"))
    assert sink.actions() == ["agent.created", "stack.deleted"]
    assert len(sink.entries) == 2


@given(stream=bst.yaml_documents())
def test_yaml_strategy_gives_parseable_kubernetes_documents(stream: str) -> None:
    docs = list(yaml.safe_load_all(stream))
    assert docs
    assert all(doc["apiVersion"] == "v1" and doc["metadata"]["name"] for doc in docs)


@given(label=bst.free_labels())
def test_free_labels_are_valid(label: str) -> None:
    assert 1 <= len(label) <= 64
    assert not any(ch.isspace() for ch in label)


@given(agent=bst.agents())
def test_agent_strategy_builds_valid_agents(agent: Agent) -> None:
    assert agent.name
    assert agent.cluster_name
    assert agent.created_at.tzinfo is not None
