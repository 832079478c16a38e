"""The work-order state machine: examples of each transition and properties over random histories."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brokkr_domain.errors import ConflictError, NotFoundError, ValidationError
from brokkr_domain.model import WorkOrder, WorkOrderLog, WorkOrderStatus, WorkOrderTargeting
from brokkr_domain.rules import work_orders as wo

T0 = datetime(2024, 1, 1, tzinfo=UTC)
AGENT = uuid.UUID(int=7)
TARGET = WorkOrderTargeting(agent_ids=frozenset({AGENT}))


def order(**overrides: object) -> WorkOrder:
    fields: dict[str, object] = {
        "id": uuid.UUID(int=1),
        "work_type": "build",
        "yaml_content": "kind: Build\n",
        "targeting": TARGET,
        "now": T0,
    }
    fields.update(overrides)
    return wo.new_work_order(**fields)  # type: ignore[arg-type]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# ------------------------------------------------------------------------------------------ creation


def test_new_work_order_has_the_documented_defaults() -> None:
    created = order()
    assert created.status == WorkOrderStatus.PENDING
    assert (created.max_retries, created.backoff_seconds, created.claim_timeout_seconds) == (3, 60, 3600)
    assert created.retry_count == 0
    assert created.created_at == created.updated_at == T0


def test_new_work_order_keeps_explicit_tunables() -> None:
    created = order(max_retries=0, backoff_seconds=5, claim_timeout_seconds=30)
    assert (created.max_retries, created.backoff_seconds, created.claim_timeout_seconds) == (0, 5, 30)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"work_type": "  "}, "work_type"),
        ({"work_type": "x" * 51}, "work_type"),
        ({"yaml_content": "\n\t"}, "yaml_content"),
        ({"yaml_content": "a: \x00"}, "yaml_content"),
        ({"max_retries": -1}, "max_retries"),
        ({"max_retries": 101}, "max_retries"),
        ({"max_retries": True}, "max_retries"),
        ({"backoff_seconds": 0}, "backoff_seconds"),
        ({"backoff_seconds": 86_401}, "backoff_seconds"),
        ({"claim_timeout_seconds": 0}, "claim_timeout_seconds"),
        ({"claim_timeout_seconds": 8 * 86_400}, "claim_timeout_seconds"),
    ],
)
def test_new_work_order_rejects_bad_fields(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        order(**overrides)
    assert caught.value.code == "invalid_work_order"
    assert caught.value.details["field"] == field


def test_new_work_order_without_targeting_is_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        order(targeting=WorkOrderTargeting())
    assert caught.value.code == "no_targeting_specified"


def test_make_targeting_merges_legacy_agent_ids_and_annotation_maps() -> None:
    other = uuid.UUID(int=8)
    targeting = wo.make_targeting(
        agent_ids=[AGENT], labels=["env=prod"], annotations={"tier": "web"}, legacy_target_agent_ids=[other]
    )
    assert targeting.agent_ids == {AGENT, other}
    assert targeting.labels == {"env=prod"}
    assert targeting.annotations == {("tier", "web")}


@pytest.mark.parametrize(
    ("labels", "annotations", "code"),
    [
        (["has space"], {}, "invalid_label"),
        ([""], {}, "invalid_label"),
        (["x" * 65], {}, "invalid_label"),
        ([], {"k": "v v"}, "invalid_annotation"),
        ([], {"": "v"}, "invalid_annotation"),
        ([], {"k": ""}, "invalid_annotation"),
    ],
)
def test_invalid_labels_and_annotations_are_rejected_not_dropped(
    labels: list[str], annotations: dict[str, str], code: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        wo.make_targeting(labels=labels, annotations=annotations)
    assert caught.value.code == code
    # Targeting built by hand is checked again on creation.
    raw = WorkOrderTargeting(
        agent_ids=frozenset({AGENT}), labels=frozenset(labels), annotations=frozenset(annotations.items())
    )
    with pytest.raises(ValidationError):
        order(targeting=raw)


def test_a_64_byte_label_is_fine_but_multibyte_characters_count_as_bytes() -> None:
    assert wo.make_targeting(labels=["x" * 64]).labels == {"x" * 64}
    with pytest.raises(ValidationError):
        wo.make_targeting(labels=["é" * 33])  # 66 bytes


# --------------------------------------------------------------------------------------- transitions


def test_claim_moves_pending_to_claimed_and_refuses_anything_else() -> None:
    claimed = wo.claim(order(), AGENT, at(5))
    assert claimed.status == WorkOrderStatus.CLAIMED
    assert (claimed.claimed_by, claimed.claimed_at, claimed.updated_at) == (AGENT, at(5), at(5))
    with pytest.raises(NotFoundError) as caught:
        wo.claim(claimed, AGENT, at(6))
    assert caught.value.code == "work_order_not_claimable"


def test_success_goes_to_the_log_with_the_retry_count() -> None:
    claimed = wo.claim(attrs.evolve(order(), retry_count=2), AGENT, at(1))
    log = wo.complete_success(claimed, "sha256:abc", at(9))
    assert log == WorkOrderLog(
        id=claimed.id,
        work_type="build",
        created_at=T0,
        claimed_at=at(1),
        completed_at=at(9),
        claimed_by=AGENT,
        success=True,
        retries_attempted=2,
        result_message="sha256:abc",
        yaml_content="kind: Build\n",
    )


def test_backoff_timeline_with_base_60_is_120_240_480_then_the_log() -> None:
    current = order()
    now = T0
    delays = []
    for _ in range(3):
        current = wo.claim(current, AGENT, now)
        failed = wo.complete_failure(current, "connection refused", True, now)
        assert isinstance(failed, WorkOrder)
        assert failed.status == WorkOrderStatus.RETRY_PENDING
        assert (failed.claimed_by, failed.claimed_at) == (None, None)
        assert (failed.last_error, failed.last_error_at) == ("connection refused", now)
        assert failed.next_retry_after is not None
        delays.append((failed.next_retry_after - now).total_seconds())
        assert wo.release_due_retry(failed, failed.next_retry_after - timedelta(seconds=1)) is None
        now = failed.next_retry_after
        released = wo.release_due_retry(failed, now)
        assert released is not None
        assert (released.status, released.next_retry_after) == (WorkOrderStatus.PENDING, None)
        current = released
    assert delays == [120, 240, 480]
    final = wo.complete_failure(wo.claim(current, AGENT, now), "still broken", True, now)
    assert isinstance(final, WorkOrderLog)
    assert (final.success, final.retries_attempted, final.result_message) == (False, 3, "still broken")


def test_a_non_retryable_failure_is_final_at_once() -> None:
    final = wo.complete_failure(wo.claim(order(), AGENT, at(1)), "Unknown work type: x", False, at(2))
    assert isinstance(final, WorkOrderLog)
    assert (final.success, final.retries_attempted) == (False, 0)


def test_zero_retries_means_one_execution() -> None:
    final = wo.complete_failure(wo.claim(order(max_retries=0), AGENT, at(1)), "timeout", True, at(2))
    assert isinstance(final, WorkOrderLog)


def test_retry_delay_is_capped() -> None:
    assert wo.retry_delay_seconds(86_400, 100) == wo.MAX_RETRY_DELAY_SECONDS


def test_stale_claim_counts_as_an_attempt() -> None:
    claimed = wo.claim(order(claim_timeout_seconds=30), AGENT, at(0))
    assert not wo.is_claim_stale(claimed, at(30))  # exactly at the deadline: still valid
    assert wo.release_stale_claim(claimed, at(30)) is None
    assert wo.is_claim_stale(claimed, at(30.001))
    released = wo.release_stale_claim(claimed, at(31))
    assert isinstance(released, WorkOrder)
    assert released.status == WorkOrderStatus.PENDING
    assert released.retry_count == 1
    assert (released.claimed_by, released.claimed_at) == (None, None)
    assert (released.last_error, released.last_error_at) == (wo.CLAIM_TIMED_OUT, at(31))


def test_stale_claim_after_the_last_retry_fails_the_order() -> None:
    claimed = wo.claim(attrs.evolve(order(claim_timeout_seconds=30), retry_count=3), AGENT, at(0))
    final = wo.release_stale_claim(claimed, at(100))
    assert isinstance(final, WorkOrderLog)
    assert (final.success, final.result_message, final.retries_attempted) == (False, wo.CLAIM_TIMED_OUT, 3)


def test_maintenance_leaves_other_statuses_alone() -> None:
    pending = order()
    assert wo.release_due_retry(pending, at(10**6)) is None
    assert wo.release_stale_claim(pending, at(10**6)) is None
    assert not wo.is_claim_stale(pending, at(10**6))


def test_completion_is_refused_for_finished_orders() -> None:
    log = wo.complete_success(order(), None, at(1))  # an admin may complete an unclaimed order
    finished = wo.synthesize_from_log(log)
    with pytest.raises(ConflictError):
        wo.complete_success(finished, None, at(2))
    with pytest.raises(ConflictError):
        wo.complete_failure(finished, "x", True, at(2))


def test_synthesized_order_of_a_failure_and_of_a_success() -> None:
    claimed = wo.claim(attrs.evolve(order(), retry_count=1), AGENT, at(1))
    failed_log = wo.complete_failure(claimed, "boom", False, at(2))
    assert isinstance(failed_log, WorkOrderLog)
    failed = wo.synthesize_from_log(failed_log)
    assert failed.status == WorkOrderStatus.FAILED
    assert (failed.retry_count, failed.max_retries, failed.backoff_seconds, failed.claim_timeout_seconds) == (
        1,
        0,
        0,
        0,
    )
    assert (failed.last_error, failed.claimed_by, failed.created_at) == ("boom", AGENT, T0)
    done = wo.synthesize_from_log(wo.complete_success(claimed, "ok", at(2)))
    assert (done.status, done.last_error) == (WorkOrderStatus.COMPLETED, None)


# ------------------------------------------------------------------------------------ classification


@pytest.mark.parametrize(
    ("text", "retryable"),
    [
        ("Unknown work type: x", False),
        ('buildruns.shipwright.io "b-1" already exists', False),
        ("AlreadyExists", False),
        ("NotFound: no such build", False),
        ("request timed out: Timeout", True),
        ("503 Service Unavailable", True),
        ("connection reset by peer", True),
        ("Too Many Requests", True),
        ("request was throttled", True),
        ("Internal error occurred", True),
        ("invalid value; then a timeout", False),
        ("", False),
    ],
)
def test_error_classification_examples(text: str, retryable: bool) -> None:
    assert wo.classify_error_retryable(text) is retryable


@given(
    st.text(max_size=20),
    st.sampled_from(wo.NON_RETRYABLE_PATTERNS),
    st.sampled_from(wo.RETRYABLE_PATTERNS),
    st.text(max_size=20),
    st.booleans(),
)
def test_non_retryable_patterns_win_in_any_case(
    before: str, final: str, passing: str, after: str, upper: bool
) -> None:
    text = before + passing + final + after
    assert wo.classify_error_retryable(text.upper() if upper else text) is False


# ---------------------------------------------------------------------------- random histories

action = st.one_of(
    st.just(("claim",)),
    st.tuples(st.just("fail"), st.booleans()),
    st.just(("succeed",)),
    st.tuples(st.just("wait"), st.integers(min_value=0, max_value=20_000)),
    st.just(("maintain",)),
    st.just(("admin_fail",)),
)


def check_invariants(current: WorkOrder) -> None:
    """The CHECK constraints of the work_orders table, plus the status-specific shape."""
    assert 0 <= current.retry_count <= current.max_retries
    assert current.status in {WorkOrderStatus.PENDING, WorkOrderStatus.CLAIMED, WorkOrderStatus.RETRY_PENDING}
    if current.status == WorkOrderStatus.CLAIMED:
        assert current.claimed_by is not None
        assert current.claimed_at is not None
    else:
        assert current.claimed_by is None
        assert current.claimed_at is None
    if current.status == WorkOrderStatus.RETRY_PENDING:
        assert current.next_retry_after is not None


@settings(max_examples=300)
@given(
    max_retries=st.integers(min_value=0, max_value=5),
    backoff=st.integers(min_value=1, max_value=600),
    timeout=st.integers(min_value=1, max_value=7200),
    actions=st.lists(action, max_size=60),
)
def test_random_histories_stay_valid_and_run_at_most_max_retries_plus_one_times(
    max_retries: int, backoff: int, timeout: int, actions: list[tuple[object, ...]]
) -> None:
    current: WorkOrder | WorkOrderLog = order(
        max_retries=max_retries, backoff_seconds=backoff, claim_timeout_seconds=timeout
    )
    now = T0
    claims = 0
    for step in actions:
        if isinstance(current, WorkOrderLog):
            break
        kind = step[0]
        if kind == "wait":
            now += timedelta(seconds=int(step[1]))  # type: ignore[call-overload]
        elif kind == "claim" and current.status == WorkOrderStatus.PENDING:
            current = wo.claim(current, AGENT, now)
            claims += 1
        elif kind == "fail" and current.status == WorkOrderStatus.CLAIMED:
            current = wo.complete_failure(current, "boom", bool(step[1]), now)
        elif kind == "admin_fail":
            current = wo.complete_failure(current, "stopped by admin", True, now)
        elif kind == "succeed" and current.status == WorkOrderStatus.CLAIMED:
            current = wo.complete_success(current, "done", now)
        elif kind == "maintain":
            current = wo.release_due_retry(current, now) or wo.release_stale_claim(current, now) or current
        if isinstance(current, WorkOrder):
            check_invariants(current)
        assert claims <= max_retries + 1
    if isinstance(current, WorkOrderLog):
        assert 0 <= current.retries_attempted <= max_retries
        assert current.completed_at == now


@settings(max_examples=100)
@given(max_retries=st.integers(min_value=0, max_value=6), use_timeouts=st.lists(st.booleans(), max_size=10))
def test_an_agent_that_always_fails_is_given_exactly_max_retries_plus_one_runs(
    max_retries: int, use_timeouts: list[bool]
) -> None:
    """Failures and timed-out claims are interchangeable attempts: the order ends after max_retries + 1."""
    current: WorkOrder | WorkOrderLog = order(max_retries=max_retries, claim_timeout_seconds=10)
    now = T0
    runs = 0
    while isinstance(current, WorkOrder):
        current = wo.claim(current, AGENT, now)
        runs += 1
        timed_out = use_timeouts[runs % len(use_timeouts)] if use_timeouts else False
        if timed_out:
            now += timedelta(seconds=11)
            stale = wo.release_stale_claim(current, now)
            assert stale is not None
            current = stale
        else:
            current = wo.complete_failure(current, "unavailable", True, now)
        if isinstance(current, WorkOrder) and current.status == WorkOrderStatus.RETRY_PENDING:
            assert current.next_retry_after is not None
            now = current.next_retry_after
            released = wo.release_due_retry(current, now)
            assert released is not None
            current = released
    assert runs == max_retries + 1
    assert (current.success, current.retries_attempted) == (False, max_retries)


@given(
    backoff=st.integers(min_value=1, max_value=wo.MAX_BACKOFF_SECONDS),
    attempt=st.integers(min_value=1, max_value=wo.MAX_MAX_RETRIES),
)
def test_retry_delays_double_until_the_cap(backoff: int, attempt: int) -> None:
    delay = wo.retry_delay_seconds(backoff, attempt)
    assert delay == min(backoff * 2**attempt, wo.MAX_RETRY_DELAY_SECONDS)
    assert wo.retry_delay_seconds(backoff, attempt + 1) >= delay
