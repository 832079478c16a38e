"""The webhook-delivery state machine: leases, backoff, dead letters and terminal success."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brokkr_domain.errors import ConflictError
from brokkr_domain.model import DeliveryStatus, WebhookDelivery
from brokkr_domain.rules import deliveries as dl

T0 = datetime(2024, 1, 1, tzinfo=UTC)
AGENT = uuid.UUID(int=9)


def delivery(**overrides: object) -> WebhookDelivery:
    fields: dict[str, object] = {
        "id": uuid.UUID(int=1),
        "subscription_id": uuid.UUID(int=2),
        "event_type": "stack.created",
        "event_id": uuid.UUID(int=3),
        "payload": "{}",
        "created_at": T0,
    }
    fields.update(overrides)
    return WebhookDelivery(**fields)  # type: ignore[arg-type]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def fail(
    d: WebhookDelivery, now: datetime, status: int | None = 500, max_retries: int = 5
) -> WebhookDelivery:
    return dl.mark_failure(d, error=None, status_code=status, max_retries=max_retries, now=now)


def test_acquire_takes_a_lease_for_an_agent_or_the_broker() -> None:
    leased = dl.acquire(delivery(), AGENT, T0, timedelta(seconds=60))
    assert (leased.status, leased.acquired_by, leased.acquired_until) == (
        DeliveryStatus.ACQUIRED,
        AGENT,
        at(60),
    )
    assert dl.acquire(delivery(), None, T0).acquired_by is None
    with pytest.raises(ConflictError) as caught:
        dl.acquire(leased, AGENT, T0)
    assert caught.value.code == "delivery_not_pending"


def test_success_is_terminal_and_clears_errors() -> None:
    leased = dl.acquire(delivery(attempts=2, last_error="HTTP 500", next_retry_at=at(4)), AGENT, T0)
    done = dl.mark_success(leased, at(1))
    assert done.status == DeliveryStatus.SUCCESS
    assert (done.attempts, done.completed_at, done.last_attempt_at) == (3, at(1), at(1))
    assert (done.last_error, done.next_retry_at, done.acquired_until) == (None, None, None)
    assert done.acquired_by == AGENT  # who delivered it
    with pytest.raises(ConflictError) as caught:
        dl.mark_success(done, at(2))
    assert caught.value.code == "delivery_already_finished"
    with pytest.raises(ConflictError):
        fail(done, at(2))


def test_failure_backs_off_2_4_8_16_and_then_dies() -> None:
    current = delivery()
    now = T0
    delays = []
    while current.status != DeliveryStatus.DEAD:
        current = fail(dl.acquire(current, None, now), now, max_retries=5)
        assert (current.acquired_by, current.acquired_until) == (None, None)
        if current.status == DeliveryStatus.FAILED:
            assert current.next_retry_at is not None
            delays.append((current.next_retry_at - now).total_seconds())
            assert dl.requeue_if_due(current, current.next_retry_at - timedelta(microseconds=1)) is None
            now = current.next_retry_at
            requeued = dl.requeue_if_due(current, now)
            assert requeued is not None
            current = requeued
    assert delays == [2, 4, 8, 16]
    assert (current.attempts, current.completed_at, current.last_error) == (5, now, "HTTP 500")


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422, 499])
def test_a_permanent_client_error_is_dead_at_once(status: int) -> None:
    dead = fail(dl.acquire(delivery(), None, T0), at(1), status=status)
    assert (dead.status, dead.attempts, dead.completed_at) == (DeliveryStatus.DEAD, 1, at(1))
    assert dl.is_permanent_http_failure(status)


@pytest.mark.parametrize("status", [None, 200, 301, 408, 425, 429, 500, 502, 503, 504])
def test_other_failures_are_retried(status: int | None) -> None:
    assert not dl.is_permanent_http_failure(status)
    assert fail(dl.acquire(delivery(), None, T0), at(1), status=status).status == DeliveryStatus.FAILED


def test_max_retries_zero_or_less_kills_on_the_first_failure() -> None:
    for limit in (0, -3, 1):
        assert fail(delivery(), T0, max_retries=limit).status == DeliveryStatus.DEAD


def test_error_text_is_kept_bounded_and_derived_when_missing() -> None:
    long = dl.mark_failure(delivery(), error="x" * 10_000, status_code=None, max_retries=5, now=T0)
    assert long.last_error is not None
    assert len(long.last_error) == dl.MAX_ERROR_LENGTH
    assert dl.describe_failure(None, None) == "delivery failed"
    assert dl.describe_failure("Connection failed", 502) == "Connection failed"


def test_expired_leases_are_released_and_live_ones_kept() -> None:
    leased = dl.acquire(delivery(), AGENT, T0, timedelta(seconds=60))
    assert dl.release_expired(leased, at(60)) is None
    released = dl.release_expired(leased, at(61))
    assert released is not None
    assert (released.status, released.acquired_by, released.acquired_until) == (
        DeliveryStatus.PENDING,
        None,
        None,
    )
    assert dl.release_expired(delivery(), at(1000)) is None
    assert dl.requeue_if_due(delivery(), at(1000)) is None


def test_a_late_report_after_the_lease_ran_out_still_counts() -> None:
    released = dl.release_expired(dl.acquire(delivery(), AGENT, T0), at(120))
    assert released is not None
    assert dl.mark_success(released, at(121)).status == DeliveryStatus.SUCCESS


transient_status = st.sampled_from([None, 408, 425, 429, 500, 502, 503])  # None: no HTTP answer at all


@settings(max_examples=200)
@given(max_retries=st.integers(min_value=-1, max_value=12), transient=st.lists(transient_status, max_size=30))
def test_transient_failures_die_within_max_retries_attempts_with_growing_backoff(
    max_retries: int, transient: list[int | None]
) -> None:
    current = delivery()
    now = T0
    last_delay = 0.0
    for status in transient + [500] * 20:
        current = dl.mark_failure(current, error="nope", status_code=status, max_retries=max_retries, now=now)
        assert current.attempts <= max(max_retries, 1)
        if current.status == DeliveryStatus.DEAD:
            break
        assert current.status == DeliveryStatus.FAILED
        assert current.next_retry_at is not None
        delay = (current.next_retry_at - now).total_seconds()
        assert delay == min(2**current.attempts, dl.MAX_RETRY_DELAY_SECONDS)
        assert delay > last_delay or delay == dl.MAX_RETRY_DELAY_SECONDS
        last_delay = delay
        now = current.next_retry_at
        requeued = dl.requeue_if_due(current, now)
        assert requeued is not None
        current = requeued
    assert current.status == DeliveryStatus.DEAD
    assert current.attempts == max(max_retries, 1)
    assert current.completed_at == now


@given(
    attempts=st.integers(min_value=0, max_value=50),
    status=st.integers(min_value=400, max_value=499).filter(lambda s: s not in {408, 425, 429}),
)
def test_any_permanent_4xx_is_dead_whatever_the_attempts(attempts: int, status: int) -> None:
    dead = dl.mark_failure(
        delivery(attempts=attempts), error=None, status_code=status, max_retries=100, now=T0
    )
    assert dead.status == DeliveryStatus.DEAD
    assert dead.last_error == f"HTTP {status}"


@given(st.lists(st.sampled_from(["success", "fail", "expire", "requeue", "acquire"]), max_size=25))
def test_success_is_terminal_in_any_history(steps: list[str]) -> None:
    current = delivery()
    now = T0
    succeeded = False
    for step in steps:
        now += timedelta(seconds=30)
        if succeeded:
            assert current.status == DeliveryStatus.SUCCESS
        if current.status in {DeliveryStatus.SUCCESS, DeliveryStatus.DEAD}:
            with pytest.raises(ConflictError):
                dl.mark_success(current, now)
            assert dl.release_expired(current, now) is None
            assert dl.requeue_if_due(current, now) is None
            continue
        if step == "success":
            current = dl.mark_success(current, now)
            succeeded = True
        elif step == "fail":
            current = dl.mark_failure(current, error="x", status_code=503, max_retries=5, now=now)
        elif step == "expire":
            current = dl.release_expired(current, now + timedelta(hours=1)) or current
        elif step == "requeue":
            current = dl.requeue_if_due(current, now + timedelta(hours=1)) or current
        elif current.status == DeliveryStatus.PENDING:
            current = dl.acquire(current, AGENT, now)
        assert current.attempts <= 5
