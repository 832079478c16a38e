"""Run one cluster call per object, optionally on an executor, and collect failures instead of raising.

The reconciler needs every failure of a dry run (one report naming all bad objects beats one per tick) and
the first failure of an apply; both want independent objects of one priority group applied side by side when
the agent app hands in an executor. Concurrency stays bounded: at most ``max_parallel`` calls are in flight.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import TypeVar

from brokkr_domain.errors import BrokkrError

T = TypeVar("T")
R = TypeVar("R")


def describe(exc: BaseException) -> str:
    """The text reported for an error: the domain message, or the type and text of anything unexpected."""
    if isinstance(exc, BrokkrError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"


def run_each(
    call: Callable[[T], R],
    items: Sequence[T],
    *,
    executor: Executor | None,
    max_parallel: int,
    stop_on_error: bool,
) -> list[tuple[T, Exception]]:
    """Call ``call`` on every item; return the ``(item, error)`` pairs of the calls that raised.

    Without an executor the calls run in order and, with ``stop_on_error``, stop at the first failure. With
    an executor they run in chunks of ``max_parallel``; ``stop_on_error`` then skips the chunks after a
    failing one.
    """
    failures: list[tuple[T, Exception]] = []
    if executor is None or max_parallel <= 1 or len(items) < 2:
        for item in items:
            try:
                call(item)
            except Exception as exc:  # one bad object must not hide the others' outcome
                failures.append((item, exc))
                if stop_on_error:
                    break
        return failures
    for start in range(0, len(items), max_parallel):
        chunk = items[start : start + max_parallel]
        futures = [executor.submit(call, item) for item in chunk]
        for item, future in zip(chunk, futures, strict=True):
            try:
                future.result()
            except Exception as exc:
                failures.append((item, exc))
        if failures and stop_on_error:
            break
    return failures


__all__ = ["describe", "run_each"]
