"""Fault injection and the request log.

Faults let a test make the next N matching requests fail with a proper ``Status`` (and
``Retry-After`` for 429) or just be slow; the log lets a test assert what actually went over the
wire (e.g. that ``force=true`` was in the query string, not silently dropped by a client).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from .errors import ApiError, reason_for


@dataclass
class Fault:
    """One rule: requests whose path matches ``pattern`` (and method, if given)."""

    pattern: re.Pattern[str]
    status: int | None
    times: int | None
    method: str | None
    latency: float
    reason: str
    message: str
    retry_after: int | None
    hits: int = 0

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.hits >= self.times

    def error(self) -> ApiError:
        assert self.status is not None
        details = {"retryAfterSeconds": self.retry_after} if self.retry_after is not None else None
        return ApiError(self.status, self.message, reason=self.reason, details=details)


class FaultInjector:
    """Thread-safe list of fault rules; the first live matching rule is consumed per request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(
        self,
        path_regex: str,
        status: int | None = 503,
        *,
        times: int | None = 1,
        method: str | None = None,
        latency: float = 0.0,
        reason: str | None = None,
        message: str | None = None,
        retry_after: int | None = None,
    ) -> Fault:
        """Fail (``status``) and/or delay (``latency`` seconds) the next ``times`` matching requests.

        ``status=None`` injects latency only; ``times=None`` never runs out. ``path_regex`` is
        searched in the URL path (no query string).
        """
        if status == 429 and retry_after is None:
            retry_after = 1
        fault = Fault(
            pattern=re.compile(path_regex),
            status=status,
            times=times,
            method=method.upper() if method else None,
            latency=latency,
            reason=reason or (reason_for(status) if status else ""),
            message=message or (f"injected fault: {reason or reason_for(status)}" if status else ""),
            retry_after=retry_after,
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def latency(
        self, path_regex: str, seconds: float, times: int | None = None, method: str | None = None
    ) -> Fault:
        return self.add(path_regex, status=None, times=times, method=method, latency=seconds)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, method: str, path: str) -> Fault | None:
        """The rule that applies to this request, counted as hit, or None."""
        with self._lock:
            for fault in self._faults:
                if fault.exhausted or (fault.method and fault.method != method.upper()):
                    continue
                if fault.pattern.search(path):
                    fault.hits += 1
                    return fault
        return None


@dataclass
class RecordedRequest:
    method: str
    path: str
    raw_query: str
    content_type: str
    body: bytes
    user_agent: str = ""
    status: int = 0
    query: dict[str, list[str]] = field(default_factory=dict)

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None


class RequestLog:
    """Every request the server received, in arrival order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[RecordedRequest] = []

    def record(
        self, method: str, path: str, *, raw_query: str, content_type: str, body: bytes, user_agent: str = ""
    ) -> RecordedRequest:
        entry = RecordedRequest(
            method=method,
            path=path,
            raw_query=raw_query,
            content_type=content_type,
            body=body,
            user_agent=user_agent,
            query=parse_qs(raw_query, keep_blank_values=True),
        )
        with self._lock:
            self._entries.append(entry)
        return entry

    @property
    def entries(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._entries)

    def matching(self, method: str | None = None, path_regex: str | None = None) -> list[RecordedRequest]:
        pattern = re.compile(path_regex) if path_regex else None
        return [
            e
            for e in self.entries
            if (method is None or e.method == method.upper()) and (pattern is None or pattern.search(e.path))
        ]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
