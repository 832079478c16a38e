"""Agent startup (reference §11.1, improved) and the ``check`` report.

Startup: wait for the broker's readiness (bounded retries), verify the PAK is an agent's, find the agent's own
record by name and cluster (and that it is the PAK's agent), reach Kubernetes, start the health server, run the
loops. Each failure is one clear line and a non-zero exit. SIGTERM/SIGINT stop the loops at safe points.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType

import attrs

from brokkr_agent_app.gateway import HttpBrokerGateway
from brokkr_agent_app.health_server import HealthServer, create_health_app
from brokkr_agent_app.loops import AgentLoops
from brokkr_agent_app.metrics import AgentMetrics
from brokkr_agent_app.status import AgentStatus
from brokkr_agent_app.webhook_sender import HttpxWebhookSender
from brokkr_domain.errors import BrokkrError, UnauthorizedError
from brokkr_domain.model import Agent
from brokkr_domain.ports import BrokerGateway, Cluster, SystemClock
from brokkr_domain.settings import AgentSettings

log = logging.getLogger("brokkr.agent")
ClusterFactory = Callable[[AgentSettings], Cluster]


class StartupError(Exception):
    """One clear line explaining why the agent cannot start."""


def require(settings: AgentSettings) -> tuple[str, str, str]:
    missing = [k for k in ("pak", "agent_name", "cluster_name") if not getattr(settings, k)]
    if missing:
        names = ", ".join(f"agent.{m} (BROKKR__AGENT__{m.upper()})" for m in missing)
        raise StartupError(f"missing required setting(s): {names}")
    assert settings.pak and settings.agent_name and settings.cluster_name
    return settings.pak, settings.agent_name, settings.cluster_name


def wait_for_broker(
    gateway: BrokerGateway, attempts: int, delay: float = 1.0, sleep: Callable[[float], None] = time.sleep
) -> None:
    for attempt in range(1, attempts + 1):
        if gateway.is_ready():
            return
        if attempt < attempts:
            sleep(delay)
    raise StartupError(f"broker not ready after {attempts} attempt(s)")


def identify(gateway: BrokerGateway, name: str, cluster_name: str) -> Agent:
    try:
        actor = gateway.whoami()
    except UnauthorizedError as exc:
        raise StartupError(f"the broker rejected the agent PAK: {exc.message}") from exc
    if not actor.is_agent():
        raise StartupError(f"the configured PAK belongs to the {actor.kind.value}, not to an agent")
    try:
        agent = gateway.find_agent(name, cluster_name)
    except BrokkrError as exc:
        raise StartupError(f"agent {name!r} in cluster {cluster_name!r} not found: {exc.message}") from exc
    if agent.id != actor.id:
        raise StartupError(f"agent {name!r}/{cluster_name!r} is not the agent this PAK belongs to")
    return agent


@attrs.frozen(kw_only=True)
class CheckLine:
    name: str
    ok: bool
    detail: str


def check(settings: AgentSettings, make_cluster: ClusterFactory) -> list[CheckLine]:
    """Every startup step, reported instead of raised (``brokkr-agent check``)."""
    lines: list[CheckLine] = []
    try:
        pak, name, cluster_name = require(settings)
        lines.append(
            CheckLine(name="configuration", ok=True, detail=f"agent {name!r} in cluster {cluster_name!r}")
        )
    except StartupError as exc:
        return [CheckLine(name="configuration", ok=False, detail=str(exc))]
    gateway = HttpBrokerGateway(
        settings.broker_url, pak, timeout=settings.request_timeout_seconds, max_attempts=1
    )
    try:
        ready = gateway.is_ready()
        lines.append(
            CheckLine(
                name="broker", ok=ready, detail=f"{settings.broker_url} {'ready' if ready else 'not ready'}"
            )
        )
        if ready:
            try:
                agent = identify(gateway, name, cluster_name)
                lines.append(
                    CheckLine(name="identity", ok=True, detail=f"agent id {agent.id}, status {agent.status}")
                )
            except StartupError as exc:
                lines.append(CheckLine(name="identity", ok=False, detail=str(exc)))
    finally:
        gateway.close()
    try:
        version = make_cluster(settings).server_version()
        lines.append(CheckLine(name="kubernetes", ok=True, detail=f"API server {version}"))
    except Exception as exc:  # report whatever went wrong; check never raises
        lines.append(CheckLine(name="kubernetes", ok=False, detail=str(exc)[:300]))
    return lines


def run(settings: AgentSettings, make_cluster: ClusterFactory, *, stop: threading.Event | None = None) -> int:
    pak, name, cluster_name = require(settings)
    gateway = HttpBrokerGateway(settings.broker_url, pak, timeout=settings.request_timeout_seconds)
    wait_for_broker(gateway, settings.max_retries)
    agent = identify(gateway, name, cluster_name)
    try:
        cluster = make_cluster(settings)
        version = cluster.server_version()
    except Exception as exc:  # the adapter's own errors, or configuration problems
        raise StartupError(f"cannot reach Kubernetes: {exc}") from exc
    log.info("agent %s (%s) starting; Kubernetes %s; broker %s", name, agent.id, version, settings.broker_url)
    status, metrics = AgentStatus(), AgentMetrics()
    status.kubernetes(True)
    loops = AgentLoops(
        agent_id=agent.id,
        settings=settings,
        gateway=gateway,
        cluster=cluster,
        sender=HttpxWebhookSender(),
        clock=SystemClock(),
        status=status,
        metrics=metrics,
    )
    health = HealthServer(
        create_health_app(
            status, metrics, cluster.server_version, broker_window=3 * settings.polling_interval + 5
        ),
        "0.0.0.0",  # noqa: S104 - probes come from the kubelet
        settings.health_port,
    )
    health.start()
    stop_event = stop or threading.Event()
    _install_signal_handlers(stop_event)
    loops.start()
    log.info("agent running; health server on port %d", health.port)
    stop_event.wait()
    log.info("stopping: finishing the current apply and in-flight work orders")
    loops.stop()
    health.stop()
    gateway.close()
    log.info("agent stopped cleanly")
    return 0


def _install_signal_handlers(stop: threading.Event) -> None:
    if threading.current_thread() is not threading.main_thread():
        return

    def handle(signum: int, frame: FrameType | None) -> None:
        del frame
        log.info("received %s", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
