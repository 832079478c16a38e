"""When to try a Kubernetes API call again, and how long to wait in between.

The API server sheds load with 429 and answers 500/503/504 while it (or etcd, or an aggregated API) is
restarting; those pass within seconds to minutes, so the adapter retries them with exponential backoff
before it gives up with a ``TransientError``. Everything else is a verdict on the request itself and is
reported at once. The policy is the reference agent's: 1 s, doubling, at most 60 s apart, 300 s in all.

The clock and the sleep are injected, so tests assert the exact delays without waiting for them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")

log = logging.getLogger("brokkr.k8s")

RETRYABLE_STATUSES = frozenset({429, 500, 503, 504})
RETRYABLE_REASONS = frozenset(
    {"ServiceUnavailable", "InternalError", "Timeout", "ServerTimeout", "TooManyRequests"}
)


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """Exponential backoff: ``initial``, then ×``multiplier``, each wait at most ``max_interval`` seconds.

    A failure is retried only while the time spent so far plus the next wait stays within ``max_elapsed``
    seconds; ``max_elapsed=0`` disables retries. A ``Retry-After`` header from the server lengthens a wait
    (never beyond ``max_interval``).
    """

    initial: float = 1.0
    multiplier: float = 2.0
    max_interval: float = 60.0
    max_elapsed: float = 300.0
    statuses: frozenset[int] = field(default=RETRYABLE_STATUSES)
    reasons: frozenset[str] = field(default=RETRYABLE_REASONS)

    def __post_init__(self) -> None:
        if self.initial <= 0 or self.max_interval <= 0 or self.max_elapsed < 0:
            raise ValueError("retry waits must be positive (a zero wait would hammer an overloaded server)")
        if self.multiplier < 1:
            raise ValueError("the backoff multiplier must be at least 1")

    def delays(self) -> Iterator[float]:
        """The waits between attempts, unbounded: 1, 2, 4, … 60, 60, …"""
        delay = self.initial
        while True:
            yield min(delay, self.max_interval)
            delay = min(delay * self.multiplier, self.max_interval)

    def is_retryable(self, status: int | None, reason: str | None) -> bool:
        """Whether an HTTP answer (``status`` None: no answer at all) is worth another attempt."""
        if status is None:
            return True
        return status in self.statuses or (reason is not None and reason in self.reasons)


class RetryableError(Exception):
    """Raised by an attempt that may succeed if repeated; carries what the final error should say."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after = retry_after


class RetriesExhaustedError(Exception):
    """Every attempt failed: ``last`` is the final failure, ``attempts`` how many were made."""

    def __init__(self, last: RetryableError, attempts: int, elapsed: float) -> None:
        super().__init__(last.message)
        self.last = last
        self.attempts = attempts
        self.elapsed = elapsed


@dataclass(frozen=True)
class Retrier:
    """Runs an attempt under a ``RetryPolicy`` with an injected monotonic clock and sleep."""

    policy: RetryPolicy
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep

    def run(self, attempt: Callable[[], T], what: str) -> T:
        """Call ``attempt`` until it returns; ``RetryableError`` is retried, anything else propagates.

        Raises ``RetriesExhaustedError`` when the policy's time budget does not allow another wait.
        """
        started = self.clock()
        delays = self.policy.delays()
        attempts = 0
        while True:
            attempts += 1
            try:
                return attempt()
            except RetryableError as failure:
                delay = next(delays)
                if failure.retry_after is not None:
                    delay = min(max(delay, failure.retry_after), self.policy.max_interval)
                elapsed = self.clock() - started
                if elapsed + delay > self.policy.max_elapsed:
                    raise RetriesExhaustedError(failure, attempts, elapsed) from failure
                log.warning(
                    "%s failed (%s); attempt %d, retrying in %.1f s", what, failure.message, attempts, delay
                )
                self.sleep(delay)


__all__ = [
    "RETRYABLE_REASONS",
    "RETRYABLE_STATUSES",
    "RetriesExhaustedError",
    "Retrier",
    "RetryPolicy",
    "RetryableError",
]
