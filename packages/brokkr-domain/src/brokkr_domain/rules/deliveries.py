"""The webhook-delivery state machine: pure transitions over the frozen ``WebhookDelivery``.

Lifecycle::

    pending --acquire--> acquired --mark_success--> success
       ^                    |--mark_failure, retries left--> failed --requeue_if_due--> pending
       |                    '--mark_failure, final---------> dead
       '----release_expired-'  (the deliverer vanished: its lease ran out)

Delivery is at least once: a deliverer holds a lease (``acquired_until``) rather than a lock, and a lease
that runs out puts the delivery back in the queue, so a crashed deliverer costs a duplicate, never a lost
event. Receivers deduplicate on the event id of the payload, which is stable across attempts.

A lease is sized per delivery from its subscription's timeout (:func:`attempt_lease`): longer than the POST
can take, so no other deliverer picks the delivery up while it may still be in flight (a fixed lease shorter
than a 300 s timeout would send it twice), yet short enough that a broker killed mid-delivery gives it back
within its timeout plus :data:`LEASE_MARGIN`. Agents, which report over the network, hold at least
:data:`DEFAULT_LEASE`.

``max_retries`` of a subscription counts *attempts* (as in v0.4.0): after that many failed attempts the
delivery is dead; 0 or less means the first failure is final. Unlike v0.4.0, a permanent client error
(a 4xx other than 408, 425 and 429) is dead at once: sending the same request again cannot fix it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

import attrs

from brokkr_domain.errors import ConflictError
from brokkr_domain.model import DeliveryStatus, WebhookDelivery

DEFAULT_LEASE = timedelta(seconds=60)
# Beyond the subscription's timeout: the time to record the outcome, and clock skew between replicas.
LEASE_MARGIN = timedelta(seconds=10)
MAX_RETRY_DELAY_SECONDS = 3600  # 2**attempts grows fast; an hour between attempts is patient enough
MAX_ERROR_LENGTH = 2000  # what is kept of an error text (the receiver's body may be large)

# 4xx answers that describe a passing condition rather than a bad request.
RETRYABLE_CLIENT_ERRORS = frozenset({408, 425, 429})  # Request Timeout, Too Early, Too Many Requests

_FINISHED = frozenset({DeliveryStatus.SUCCESS, DeliveryStatus.DEAD})


def is_permanent_http_failure(status_code: int | None) -> bool:
    """Whether an HTTP answer means "never retry": any 4xx except 408, 425 and 429."""
    return (
        status_code is not None and 400 <= status_code <= 499 and status_code not in RETRYABLE_CLIENT_ERRORS
    )


def retry_delay_seconds(attempts: int) -> int:
    """Wait after the ``attempts``-th failure: 2, 4, 8, 16 … seconds, capped at an hour."""
    return min(1 << max(attempts, 0), MAX_RETRY_DELAY_SECONDS)


def acquire(
    delivery: WebhookDelivery, by_agent: UUID | None, now: datetime, ttl: timedelta = DEFAULT_LEASE
) -> WebhookDelivery:
    """pending → acquired by an agent (or by the broker when ``by_agent`` is None) until ``now + ttl``.

    Anything but pending raises ``ConflictError`` (code ``delivery_not_pending``): failed deliveries come
    back through :func:`requeue_if_due` first, so that their backoff is respected.
    """
    if delivery.status != DeliveryStatus.PENDING:
        raise ConflictError(
            f"webhook delivery {delivery.id} is {delivery.status}, not pending",
            code="delivery_not_pending",
            details={"status": str(delivery.status)},
        )
    return attrs.evolve(
        delivery, status=DeliveryStatus.ACQUIRED, acquired_by=by_agent, acquired_until=now + ttl
    )


def attempt_lease(timeout_seconds: int, minimum: timedelta = timedelta(0)) -> timedelta:
    """How long a deliverer holds a delivery whose subscription allows ``timeout_seconds`` per attempt
    (``minimum`` at least).

    The attempt's POST ends within the timeout (at least 1 s: a bad value never makes a lease that expires
    before the POST has even started), then the margin covers recording the outcome.
    """
    return max(timedelta(seconds=max(timeout_seconds, 1)) + LEASE_MARGIN, minimum)


def renew_lease(delivery: WebhookDelivery, until: datetime) -> WebhookDelivery:
    """Move the lease of a delivery its deliverer holds (acquired) to ``until``.

    Anything but acquired raises ``ConflictError`` (code ``delivery_not_acquired``): a lease that already
    ran out may have been taken by another deliverer, whose claim must not be stretched.
    """
    if delivery.status != DeliveryStatus.ACQUIRED:
        raise ConflictError(
            f"webhook delivery {delivery.id} is {delivery.status}, not acquired",
            code="delivery_not_acquired",
            details={"status": str(delivery.status)},
        )
    return attrs.evolve(delivery, acquired_until=until)


def _ensure_unfinished(delivery: WebhookDelivery) -> None:
    """Results are accepted until the delivery is final.

    Not only from ``acquired``: a deliverer whose lease ran out may still report, and its attempt did
    happen, so it is counted. Success and dead are terminal, so a late or repeated report is a conflict.
    """
    if delivery.status in _FINISHED:
        raise ConflictError(
            f"webhook delivery {delivery.id} has already finished ({delivery.status})",
            code="delivery_already_finished",
            details={"status": str(delivery.status)},
        )


def mark_success(delivery: WebhookDelivery, now: datetime) -> WebhookDelivery:
    """The receiver accepted it: success (terminal), one more attempt, errors and schedule cleared.

    ``acquired_by`` is kept as the record of who delivered it.
    """
    _ensure_unfinished(delivery)
    return attrs.evolve(
        delivery,
        status=DeliveryStatus.SUCCESS,
        attempts=delivery.attempts + 1,
        last_attempt_at=now,
        completed_at=now,
        acquired_until=None,
        next_retry_at=None,
        last_error=None,
    )


def describe_failure(error: str | None, status_code: int | None) -> str:
    """The error text kept on the delivery: the deliverer's own words, else the HTTP status, bounded."""
    text = error or (f"HTTP {status_code}" if status_code is not None else "delivery failed")
    return text if len(text) <= MAX_ERROR_LENGTH else text[: MAX_ERROR_LENGTH - 1] + "…"


def mark_failure(
    delivery: WebhookDelivery,
    *,
    error: str | None,
    status_code: int | None,
    max_retries: int,
    now: datetime,
) -> WebhookDelivery:
    """One more failed attempt: dead when permanent or out of attempts, else failed with a backoff.

    The lease is dropped in both cases, so that any eligible deliverer may take the retry.
    """
    _ensure_unfinished(delivery)
    attempts = delivery.attempts + 1
    failed = attrs.evolve(
        delivery,
        attempts=attempts,
        last_attempt_at=now,
        last_error=describe_failure(error, status_code),
        acquired_by=None,
        acquired_until=None,
    )
    if is_permanent_http_failure(status_code) or attempts >= max_retries:
        return attrs.evolve(failed, status=DeliveryStatus.DEAD, completed_at=now, next_retry_at=None)
    return attrs.evolve(
        failed,
        status=DeliveryStatus.FAILED,
        next_retry_at=now + timedelta(seconds=retry_delay_seconds(attempts)),
    )


def release_expired(delivery: WebhookDelivery, now: datetime) -> WebhookDelivery | None:
    """An acquisition whose lease lies strictly before ``now`` goes back to pending; ``None`` otherwise."""
    if delivery.status != DeliveryStatus.ACQUIRED:
        return None
    if delivery.acquired_until is not None and delivery.acquired_until >= now:
        return None
    return attrs.evolve(delivery, status=DeliveryStatus.PENDING, acquired_by=None, acquired_until=None)


def requeue_if_due(delivery: WebhookDelivery, now: datetime) -> WebhookDelivery | None:
    """A failed delivery whose ``next_retry_at`` has come (≤ now) goes back to pending; ``None`` otherwise.

    ``next_retry_at`` is kept, as a record of when the retry became due.
    """
    if delivery.status != DeliveryStatus.FAILED:
        return None
    if delivery.next_retry_at is not None and delivery.next_retry_at > now:
        return None
    return attrs.evolve(delivery, status=DeliveryStatus.PENDING, acquired_by=None, acquired_until=None)


__all__ = [
    "DEFAULT_LEASE",
    "LEASE_MARGIN",
    "MAX_ERROR_LENGTH",
    "MAX_RETRY_DELAY_SECONDS",
    "RETRYABLE_CLIENT_ERRORS",
    "acquire",
    "attempt_lease",
    "describe_failure",
    "is_permanent_http_failure",
    "mark_failure",
    "mark_success",
    "release_expired",
    "renew_lease",
    "requeue_if_due",
    "retry_delay_seconds",
]
