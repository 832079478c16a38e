"""The agent's health server on its own port: /healthz, /readyz, /health and /metrics."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from brokkr_agent_app.metrics import CONTENT_TYPE, AgentMetrics
from brokkr_agent_app.probe import DEFAULT_PROBE_TIMEOUT_SECONDS, KubernetesProbe
from brokkr_agent_app.status import AgentStatus


def _version() -> str:
    try:
        return version("brokkr-agent-app")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0.0.0"


def create_health_app(
    status: AgentStatus,
    metrics: AgentMetrics,
    check_kubernetes: Callable[[], object],
    broker_window: float,
    *,
    probe_timeout: float = DEFAULT_PROBE_TIMEOUT_SECONDS,
) -> Starlette:
    """``check_kubernetes`` raises when the API server cannot be reached (it is run by a ``KubernetesProbe``
    that answers within ``probe_timeout``); ``broker_window`` is how recent the last successful heartbeat must
    be for readiness (a few polling intervals)."""
    probe_kubernetes = KubernetesProbe(check_kubernetes, status, timeout=probe_timeout)

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("OK")

    async def readyz(request: Request) -> Response:
        await run_in_threadpool(probe_kubernetes)
        if not status.kubernetes_connected:
            return PlainTextResponse("Kubernetes API unavailable", status_code=503)
        if not status.broker_recent(broker_window):
            return PlainTextResponse("Broker not reached recently", status_code=503)
        return PlainTextResponse("Ready")

    async def health(request: Request) -> Response:
        await run_in_threadpool(probe_kubernetes)
        healthy = status.kubernetes_connected and status.broker_connected
        body: dict[str, Any] = {
            "status": "healthy" if healthy else "unhealthy",
            "kubernetes": {"connected": status.kubernetes_connected},
            "broker": {"connected": status.broker_connected},
            "uptime_seconds": int(status.uptime),
            "version": _version(),
            "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        }
        if status.kubernetes_error:
            body["kubernetes"]["error"] = status.kubernetes_error
        if status.last_heartbeat is not None:
            body["broker"]["last_heartbeat"] = status.last_heartbeat.isoformat().replace("+00:00", "Z")
        return JSONResponse(body, status_code=200 if healthy else 503)

    async def metrics_endpoint(request: Request) -> Response:
        if status.last_poll is not None:
            metrics.poll_age.set(time.monotonic() - status.last_poll)
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/health", health),
            Route("/metrics", metrics_endpoint),
        ]
    )


class HealthServer:
    """uvicorn on a background thread (signals stay with the main thread, which owns shutdown)."""

    def __init__(self, app: Starlette, host: str, port: int) -> None:
        self.server = uvicorn.Server(
            uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False)
        )
        self.thread = threading.Thread(target=self._serve, name="health-server", daemon=True)

    def _serve(self) -> None:
        # uvicorn exits its thread when it cannot bind; ``start`` reports that as an error.
        with contextlib.suppress(SystemExit):
            self.server.run()

    def start(self, timeout: float = 10.0) -> None:
        """Return once the socket listens; ``OSError`` if it cannot (port taken, no permission).

        uvicorn reports a failed bind by ending its thread, which would leave the agent running without the
        probes its kubelet relies on; so a server that did not come up is an error here.
        """
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started and self.thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        if not self.server.started:
            self.stop()
            config = self.server.config
            raise OSError(f"the health server could not listen on {config.host}:{config.port}")

    @property
    def port(self) -> int:
        for server in self.server.servers:
            for sock in server.sockets:
                return int(sock.getsockname()[1])
        return self.server.config.port

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
