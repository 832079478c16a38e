"""The work-order state machine: pure transitions over the frozen ``WorkOrder``, each taking ``now``.

Lifecycle::

    PENDING --claim--> CLAIMED --complete_success--> log (success)
                          |--complete_failure, retries left--> RETRY_PENDING --release_due_retry--> PENDING
                          |--complete_failure, final---------> log (failed)
                          '--release_stale_claim-------------> PENDING (retry_count+1) | log (failed)

Terminal states exist only as ``WorkOrderLog`` rows; :func:`synthesize_from_log` turns one back into a
``WorkOrder`` (status COMPLETED/FAILED) for readers of a single order.

Counting: ``retry_count`` is the number of executions that failed so far. Every execution ends in
exactly one of success, failure or a timed-out claim, and the two latter raise ``retry_count`` by one (or
end the order), so an order is claimed at most ``max_retries + 1`` times. Unlike v0.4.0 a timed-out claim
counts as an attempt (contract decision 11): otherwise an order that kills its agent would be handed out
forever. ``retries_attempted`` in the log is ``retry_count`` at the end, i.e. executions minus one.

Who may call what is the use cases' business (an agent completes only what it claimed, an admin
anything); these functions only guard against transitions that make no sense for the order's status.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from uuid import UUID

import attrs

from brokkr_domain.errors import ConflictError, NotFoundError, ValidationError
from brokkr_domain.labels import validate_annotation, validate_label
from brokkr_domain.model import WorkOrder, WorkOrderLog, WorkOrderStatus, WorkOrderTargeting

DEFAULT_MAX_RETRIES = 3
DEFAULT_BACKOFF_SECONDS = 60
DEFAULT_CLAIM_TIMEOUT_SECONDS = 3600
MAX_MAX_RETRIES = 100
MAX_BACKOFF_SECONDS = 86_400  # one day
MAX_CLAIM_TIMEOUT_SECONDS = 7 * 86_400
MAX_RETRY_DELAY_SECONDS = 7 * 86_400  # 2**n grows fast: the delay is capped so that it stays representable
MAX_WORK_TYPE_LENGTH = 50  # the column is VARCHAR(50)

CLAIM_TIMED_OUT = "claim timed out"

_ACTIVE = frozenset({WorkOrderStatus.PENDING, WorkOrderStatus.CLAIMED, WorkOrderStatus.RETRY_PENDING})


def _invalid(message: str, field: str) -> ValidationError:
    return ValidationError(message, code="invalid_work_order", details={"field": field})


def _check_range(value: int, low: int, high: int, field: str) -> None:
    if isinstance(value, bool) or not low <= value <= high:
        raise _invalid(f"{field} must be between {low} and {high}, got {value!r}", field)


def make_targeting(
    *,
    agent_ids: Iterable[UUID] = (),
    labels: Iterable[str] = (),
    annotations: Mapping[str, str] | Iterable[tuple[str, str]] = (),
    legacy_target_agent_ids: Iterable[UUID] = (),
) -> WorkOrderTargeting:
    """Build targeting from the request's parts; ``target_agent_ids`` (legacy) is merged into ``agent_ids``.

    Invalid labels and annotations raise ``ValidationError`` with the codes of ``brokkr_domain.labels``
    (``invalid_label``, ``invalid_annotation``): v0.4.0 dropped them silently, which could turn a mistyped
    label into an order no agent ever sees. Emptiness is checked by :func:`new_work_order`.
    """
    label_set = frozenset(labels)
    pairs = frozenset(annotations.items() if isinstance(annotations, Mapping) else annotations)
    for label in label_set:
        validate_label(label)
    for key, value in pairs:
        validate_annotation(key, value)
    return WorkOrderTargeting(
        agent_ids=frozenset(agent_ids) | frozenset(legacy_target_agent_ids),
        labels=label_set,
        annotations=pairs,
    )


def new_work_order(
    *,
    id: UUID,
    work_type: str,
    yaml_content: str,
    targeting: WorkOrderTargeting,
    now: datetime,
    max_retries: int | None = None,
    backoff_seconds: int | None = None,
    claim_timeout_seconds: int | None = None,
) -> WorkOrder:
    """A validated PENDING order; ``None`` for a tunable means its default (the wire fields are nullable).

    Raises ``ValidationError`` with code ``invalid_work_order`` (``details.field`` names the culprit),
    ``no_targeting_specified`` when no agent, label or annotation is given, or the label codes of
    :func:`make_targeting`.
    """
    if not work_type.strip():
        raise _invalid("work_type must not be blank", "work_type")
    if len(work_type) > MAX_WORK_TYPE_LENGTH:
        raise _invalid(f"work_type must be at most {MAX_WORK_TYPE_LENGTH} characters", "work_type")
    if not yaml_content.strip():
        raise _invalid("yaml_content must not be blank", "yaml_content")
    for field, text in (("work_type", work_type), ("yaml_content", yaml_content)):
        if "\x00" in text:  # text columns cannot hold NUL
            raise _invalid(f"{field} must not contain NUL characters", field)
    retries = DEFAULT_MAX_RETRIES if max_retries is None else max_retries
    backoff = DEFAULT_BACKOFF_SECONDS if backoff_seconds is None else backoff_seconds
    timeout = DEFAULT_CLAIM_TIMEOUT_SECONDS if claim_timeout_seconds is None else claim_timeout_seconds
    _check_range(retries, 0, MAX_MAX_RETRIES, "max_retries")
    _check_range(backoff, 1, MAX_BACKOFF_SECONDS, "backoff_seconds")
    _check_range(timeout, 1, MAX_CLAIM_TIMEOUT_SECONDS, "claim_timeout_seconds")
    # Targeting may have been built by hand rather than by make_targeting: check its labels here too.
    make_targeting(labels=targeting.labels, annotations=targeting.annotations)
    if targeting.is_empty:
        raise ValidationError(
            "a work order needs at least one target agent, label or annotation", code="no_targeting_specified"
        )
    return WorkOrder(
        id=id,
        work_type=work_type,
        yaml_content=yaml_content,
        status=WorkOrderStatus.PENDING,
        max_retries=retries,
        backoff_seconds=backoff,
        claim_timeout_seconds=timeout,
        targeting=targeting,
        created_at=now,
        updated_at=now,
    )


def claim(order: WorkOrder, agent_id: UUID, now: datetime) -> WorkOrder:
    """PENDING → CLAIMED by ``agent_id``.

    Any other status raises ``NotFoundError`` with code ``work_order_not_claimable``: the wire contract
    answers a claim of an order that is missing, not targeted at the agent or not pending with one 404, and
    the same error here lets the use case map all three alike. Eligibility (targeting) is checked by the
    repository's claim.
    """
    if order.status != WorkOrderStatus.PENDING:
        raise NotFoundError(
            f"work order {order.id} is {order.status}, not PENDING, and cannot be claimed",
            code="work_order_not_claimable",
            details={"status": str(order.status)},
        )
    return attrs.evolve(
        order, status=WorkOrderStatus.CLAIMED, claimed_by=agent_id, claimed_at=now, updated_at=now
    )


def _ensure_active(order: WorkOrder) -> None:
    if order.status not in _ACTIVE:
        raise ConflictError(
            f"work order {order.id} has already finished ({order.status})",
            code="work_order_not_active",
            details={"status": str(order.status)},
        )


def _to_log(order: WorkOrder, *, success: bool, message: str | None, now: datetime) -> WorkOrderLog:
    return WorkOrderLog(
        id=order.id,
        work_type=order.work_type,
        created_at=order.created_at,
        claimed_at=order.claimed_at,
        completed_at=now,
        claimed_by=order.claimed_by,
        success=success,
        retries_attempted=order.retry_count,
        result_message=message,
        yaml_content=order.yaml_content,
    )


def complete_success(order: WorkOrder, message: str | None, now: datetime) -> WorkOrderLog:
    """The order succeeded: its log entry (the caller moves the order to the log).

    Not restricted to CLAIMED: an admin may complete any active order (v0.4.0 allows it), and an agent whose
    claim timed out but which finished anyway reports real work that should not be thrown away.
    """
    _ensure_active(order)
    return _to_log(order, success=True, message=message, now=now)


def retry_delay_seconds(backoff_seconds: int, attempt: int) -> int:
    """Delay before retry number ``attempt``: ``backoff_seconds · 2^attempt`` (60 → 120, 240, 480), capped."""
    return min(backoff_seconds << max(attempt, 0), MAX_RETRY_DELAY_SECONDS)


def complete_failure(
    order: WorkOrder, message: str | None, retryable: bool, now: datetime
) -> WorkOrderLog | WorkOrder:
    """The execution failed: a failed log entry when this was the last try, else the order in RETRY_PENDING.

    ``n = retry_count + 1`` failures have happened; the order is final when the error is not retryable or
    ``n > max_retries``, so ``max_retries`` really counts retries (``max_retries + 1`` executions in total).
    """
    _ensure_active(order)
    failures = order.retry_count + 1
    if not retryable or failures > order.max_retries:
        return _to_log(order, success=False, message=message, now=now)
    return attrs.evolve(
        order,
        status=WorkOrderStatus.RETRY_PENDING,
        retry_count=failures,
        next_retry_after=now + timedelta(seconds=retry_delay_seconds(order.backoff_seconds, failures)),
        claimed_by=None,
        claimed_at=None,
        last_error=message,
        last_error_at=now,
        updated_at=now,
    )


def release_due_retry(order: WorkOrder, now: datetime) -> WorkOrder | None:
    """RETRY_PENDING whose ``next_retry_after`` has come (≤ now) → PENDING; ``None`` if nothing to do."""
    if order.status != WorkOrderStatus.RETRY_PENDING:
        return None
    if order.next_retry_after is not None and order.next_retry_after > now:
        return None
    return attrs.evolve(order, status=WorkOrderStatus.PENDING, next_retry_after=None, updated_at=now)


def is_claim_stale(order: WorkOrder, now: datetime) -> bool:
    """A claim is stale once ``claimed_at + claim_timeout_seconds`` lies strictly before ``now``."""
    if order.status != WorkOrderStatus.CLAIMED or order.claimed_at is None:
        return False
    return order.claimed_at + timedelta(seconds=order.claim_timeout_seconds) < now


def release_stale_claim(order: WorkOrder, now: datetime) -> WorkOrder | WorkOrderLog | None:
    """A timed-out claim counts as a failed attempt (contract decision 11).

    Back to PENDING at once (no backoff: the time-out itself was the wait) with ``retry_count + 1`` and
    ``last_error`` "claim timed out"; or, when that exceeds ``max_retries``, a failed log entry. ``None``
    when the claim is not stale.
    """
    if not is_claim_stale(order, now):
        return None
    failures = order.retry_count + 1
    if failures > order.max_retries:
        return _to_log(order, success=False, message=CLAIM_TIMED_OUT, now=now)
    return attrs.evolve(
        order,
        status=WorkOrderStatus.PENDING,
        retry_count=failures,
        claimed_by=None,
        claimed_at=None,
        next_retry_after=None,
        last_error=CLAIM_TIMED_OUT,
        last_error_at=now,
        updated_at=now,
    )


def synthesize_from_log(log: WorkOrderLog) -> WorkOrder:
    """The ``WorkOrder`` view of a finished order, so GET /work-orders/{id} answers after the move to the log.

    Status COMPLETED or FAILED, ``retry_count = retries_attempted``, the tunables 0 (they no longer apply),
    and the result message as ``last_error`` on failure. The log has no targeting or ``updated_at``:
    targeting is empty and ``updated_at`` is the completion time.
    """
    failed = not log.success
    return WorkOrder(
        id=log.id,
        work_type=log.work_type,
        yaml_content=log.yaml_content,
        status=WorkOrderStatus.FAILED if failed else WorkOrderStatus.COMPLETED,
        claimed_by=log.claimed_by,
        claimed_at=log.claimed_at,
        claim_timeout_seconds=0,
        max_retries=0,
        retry_count=log.retries_attempted,
        backoff_seconds=0,
        last_error=log.result_message if failed else None,
        last_error_at=log.completed_at if failed else None,
        created_at=log.created_at,
        updated_at=log.completed_at,
    )


# Checked in this order: an error that says both "invalid" and "timeout" is not worth retrying.
NON_RETRYABLE_PATTERNS = (
    "notfound",
    "not found",
    "forbidden",
    "unauthorized",
    "badrequest",
    "bad request",
    "invalid",
    "unprocessable",
    "conflict",
    "alreadyexists",
    "already exists",
)
RETRYABLE_PATTERNS = (
    "timeout",
    "unavailable",
    "connection",
    "network",
    "internal",
    "too many requests",
    "throttl",
)


def classify_error_retryable(text: str) -> bool:
    """Whether an agent should report a failed execution as retryable, judged from the error text.

    Case-insensitive substring patterns: anything that names a client-side mistake is final; anything that
    names a passing condition (time-outs, unavailability, throttling) is retryable; unknown errors are final,
    since retrying a deterministic failure only delays the report.
    """
    lowered = text.lower()
    if any(pattern in lowered for pattern in NON_RETRYABLE_PATTERNS):
        return False
    return any(pattern in lowered for pattern in RETRYABLE_PATTERNS)


__all__ = [
    "CLAIM_TIMED_OUT",
    "DEFAULT_BACKOFF_SECONDS",
    "DEFAULT_CLAIM_TIMEOUT_SECONDS",
    "DEFAULT_MAX_RETRIES",
    "MAX_BACKOFF_SECONDS",
    "MAX_CLAIM_TIMEOUT_SECONDS",
    "MAX_MAX_RETRIES",
    "MAX_RETRY_DELAY_SECONDS",
    "NON_RETRYABLE_PATTERNS",
    "RETRYABLE_PATTERNS",
    "claim",
    "classify_error_retryable",
    "complete_failure",
    "complete_success",
    "is_claim_stale",
    "make_targeting",
    "new_work_order",
    "release_due_retry",
    "release_stale_claim",
    "retry_delay_seconds",
    "synthesize_from_log",
]
