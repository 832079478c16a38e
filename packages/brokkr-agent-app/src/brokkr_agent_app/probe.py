"""The Kubernetes reachability probe behind ``/readyz`` and ``/health``: single-flight, with a deadline.

The adapter retries an unavailable API server for minutes (that is right for an apply, wrong for a probe), and
a kubelet probes every few seconds with a one-second budget. So at most one check runs at a time, each probe
waits for it at most ``timeout`` seconds, and a check that outlives its probe keeps running and records its
result when it ends, instead of a new thread piling up per request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from brokkr_agent_app.status import AgentStatus

DEFAULT_PROBE_TIMEOUT_SECONDS = 0.9
MAX_ERROR_CHARS = 300


class KubernetesProbe:
    def __init__(
        self,
        check: Callable[[], object],
        status: AgentStatus,
        *,
        timeout: float = DEFAULT_PROBE_TIMEOUT_SECONDS,
    ) -> None:
        self._check = check
        self._status = status
        self.timeout = timeout
        self._lock = threading.Lock()
        self._in_flight: threading.Event | None = None

    def __call__(self) -> bool:
        """Check now (or join the check in flight); True when the API server answered within the deadline."""
        with self._lock:
            done = self._in_flight
            if done is None:
                done = self._in_flight = threading.Event()
                threading.Thread(target=self._run, args=(done,), name="kubernetes-probe", daemon=True).start()
        if not done.wait(self.timeout):
            self._status.kubernetes(False, f"the Kubernetes API did not answer within {self.timeout:g} s")
            return False
        return self._status.kubernetes_connected

    def _run(self, done: threading.Event) -> None:
        try:
            self._check()
        except Exception as exc:  # any failure means "not reachable"; its text is reported
            self._status.kubernetes(False, str(exc)[:MAX_ERROR_CHARS] or type(exc).__name__)
        else:
            self._status.kubernetes(True)
        finally:
            with self._lock:
                self._in_flight = None
            done.set()


__all__ = ["DEFAULT_PROBE_TIMEOUT_SECONDS", "KubernetesProbe"]
