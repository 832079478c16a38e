"""Diagnostic requests: creation, claim, completion, expiry and result validation."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from brokkr_domain.errors import ConflictError, ValidationError
from brokkr_domain.model import DiagnosticRequest, DiagnosticStatus
from brokkr_domain.rules import diagnostics as dg

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def request(retention_minutes: int | None = None, requested_by: str | None = None) -> DiagnosticRequest:
    return dg.new_diagnostic_request(
        id=uuid.UUID(int=1),
        agent_id=uuid.UUID(int=2),
        deployment_object_id=uuid.UUID(int=3),
        now=T0,
        requested_by=requested_by,
        retention_minutes=retention_minutes,
    )


def test_new_request_is_pending_and_expires_after_an_hour_by_default() -> None:
    created = request(requested_by="ops@example.com")
    assert created.status == DiagnosticStatus.PENDING
    assert created.expires_at == T0 + timedelta(minutes=60)
    assert (created.created_at, created.requested_by) == (T0, "ops@example.com")
    assert request(requested_by="  ").requested_by is None


@given(st.integers(min_value=1, max_value=1440))
def test_any_retention_in_range_sets_expiry(minutes: int) -> None:
    assert request(minutes).expires_at - T0 == timedelta(minutes=minutes)


@given(st.one_of(st.integers(max_value=0), st.integers(min_value=1441)))
def test_retention_out_of_range_is_refused(minutes: int) -> None:
    with pytest.raises(ValidationError) as caught:
        request(minutes)
    assert caught.value.code == "invalid_diagnostic_request"


def test_requested_by_is_bounded() -> None:
    with pytest.raises(ValidationError) as caught:
        request(requested_by="x" * 256)
    assert caught.value.details == {"field": "requested_by"}


def test_claim_then_complete() -> None:
    claimed = dg.claim(request(), T0 + timedelta(minutes=5))
    assert (claimed.status, claimed.claimed_at) == (DiagnosticStatus.CLAIMED, T0 + timedelta(minutes=5))
    done = dg.complete(claimed, T0 + timedelta(minutes=6))
    assert (done.status, done.completed_at) == (DiagnosticStatus.COMPLETED, T0 + timedelta(minutes=6))


def test_second_claim_and_claim_of_an_expired_request_conflict() -> None:
    claimed = dg.claim(request(), T0)
    with pytest.raises(ConflictError) as caught:
        dg.claim(claimed, T0)
    assert caught.value.code == "diagnostic_already_claimed"
    with pytest.raises(ConflictError) as caught:
        dg.claim(request(1), T0 + timedelta(minutes=1))
    assert caught.value.code == "diagnostic_already_claimed"
    assert caught.value.details == {"status": "expired"}


def test_completing_what_is_not_claimed_conflicts() -> None:
    for state in (request(), dg.complete(dg.claim(request(), T0), T0)):
        with pytest.raises(ConflictError) as caught:
            dg.complete(state, T0)
        assert caught.value.code == "diagnostic_not_claimed"


def test_expiry_applies_to_pending_requests_only() -> None:
    pending = request(10)
    assert dg.expire_if_due(pending, T0 + timedelta(minutes=9)) is None
    expired = dg.expire_if_due(pending, T0 + timedelta(minutes=10))
    assert expired is not None
    assert expired.status == DiagnosticStatus.EXPIRED
    claimed = dg.claim(pending, T0)
    assert dg.expire_if_due(claimed, T0 + timedelta(days=1)) is None


@given(
    retention=st.integers(min_value=1, max_value=1440),
    offset_minutes=st.integers(min_value=0, max_value=3000),
)
def test_a_request_is_claimable_exactly_until_it_expires(retention: int, offset_minutes: int) -> None:
    """Claim and expiry never both apply: at any moment a pending request is one or the other."""
    now = T0 + timedelta(minutes=offset_minutes)
    pending = request(retention)
    expired = dg.expire_if_due(pending, now)
    if offset_minutes < retention:
        assert expired is None
        assert dg.claim(pending, now).status == DiagnosticStatus.CLAIMED
    else:
        assert expired is not None
        with pytest.raises(ConflictError):
            dg.claim(pending, now)


def test_valid_results_pass() -> None:
    pods = json.dumps([{"name": "web-1", "phase": "Running"}])
    dg.validate_result(pods, "[]", None)
    dg.validate_result(pods, '[{"error": "forbidden"}]', '{"web-1/app": "line"}')


@pytest.mark.parametrize(
    ("pods", "events", "logs", "field"),
    [
        ("", "[]", None, "pod_statuses"),
        ("[]", "  ", None, "events"),
        ("[]", "[]", "", "log_tails"),
        ("not json", "[]", None, "pod_statuses"),
        ("[]", "[NaN]", None, "events"),
        ("[]", "[]", "{'single': 'quotes'}", "log_tails"),
        ("[\ud800]", "[]", None, "pod_statuses"),
    ],
)
def test_invalid_results_are_refused(pods: str, events: str, logs: str | None, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        dg.validate_result(pods, events, logs)
    assert caught.value.code == "invalid_diagnostic_result"
    assert caught.value.details == {"field": field}


def test_results_are_bounded_in_size() -> None:
    big = json.dumps("x" * (dg.MAX_RESULT_BYTES // 2))
    dg.validate_result(big, "[]", None)
    with pytest.raises(ValidationError) as caught:
        dg.validate_result(big, big, "{}")
    assert caught.value.details == {"field": "result"}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


@given(json_values, json_values, st.one_of(st.none(), json_values))
def test_any_json_document_is_accepted(pods: object, events: object, logs: object) -> None:
    dg.validate_result(json.dumps(pods), json.dumps(events), None if logs is None else json.dumps(logs))
