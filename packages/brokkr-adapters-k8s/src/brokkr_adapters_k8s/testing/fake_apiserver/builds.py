"""Optional Shipwright build simulation (off by default): every BuildRun succeeds after a fixed time.

Tests script BuildRun outcomes through ``state.on_create`` and ``state.schedule``; a fake API server running
as its own process (``brokkr-fake-apiserver``) cannot be scripted that way, so a benchmark that drives a
real agent process through a build needs the server itself to play the Shipwright controller.

When enabled, a created ``shipwright.io`` BuildRun gets a running status at once (``Succeeded`` Unknown,
``startTime``) and, ``seconds`` later, ``Succeeded`` True with an image digest and ``completionTime``. The
two times carry microseconds (still RFC 3339) so that a benchmark can read when the build started and ended.
A BuildRun deleted before its time is simply forgotten.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from .builders import condition
from .errors import ApiError, JsonDict
from .state import ClusterState

GROUP = "shipwright.io"
KIND = "BuildRun"


def precise_timestamp(moment: datetime) -> str:
    """RFC 3339 with microseconds, UTC (Kubernetes clients parse fractional seconds)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def digest_for(namespace: str, name: str) -> str:
    """A stable, well-formed image digest per BuildRun (so results differ between builds)."""
    return "sha256:" + hashlib.sha256(f"{namespace}/{name}".encode()).hexdigest()


class BuildRunSimulator:
    """The ``on_create`` hook: marks the BuildRun running and schedules its success."""

    def __init__(self, state: ClusterState, seconds: float):
        if seconds < 0:
            raise ValueError("a simulated build cannot take a negative time")
        self.state = state
        self.seconds = seconds

    def __call__(self, state: ClusterState, obj: JsonDict) -> None:
        meta = obj["metadata"]
        name, namespace = str(meta["name"]), str(meta.get("namespace") or "default")
        started = precise_timestamp(state.clock())
        running = {"conditions": [condition("Succeeded", "Unknown", "Running")], "startTime": started}
        state.set_status(GROUP, KIND, name, running, namespace=namespace)
        state.schedule(self.seconds, lambda: self.finish(name, namespace, started))

    def finish(self, name: str, namespace: str, started: str) -> None:
        status = {
            "conditions": [condition("Succeeded", True, "Succeeded", "All Steps have completed executing")],
            "output": {"digest": digest_for(namespace, name)},
            "startTime": started,
            "completionTime": precise_timestamp(self.state.clock()),
        }
        try:
            self.state.set_status(GROUP, KIND, name, status, namespace=namespace)
        except (ApiError, LookupError):  # deleted (or its CRD removed) while "building": nothing to finish
            return


def attach_build_simulation(state: ClusterState, seconds: float) -> BuildRunSimulator:
    simulator = BuildRunSimulator(state, seconds)
    state.on_create(GROUP, KIND, simulator)
    return simulator


__all__ = ["BuildRunSimulator", "attach_build_simulation", "digest_for", "precise_timestamp"]
