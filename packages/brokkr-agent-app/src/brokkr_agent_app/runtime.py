"""Agent startup (reference §11.1, improved), the running agent, and the ``check`` report.

Startup: wait for the broker's readiness (bounded retries), verify the PAK is an agent's, find the agent's own
record by name and cluster (and that it is the PAK's agent), reach Kubernetes, start the health server, run the
loops (traced when ``telemetry.agent`` enables tracing). Each failure is one clear line (``StartupError``) and a non-zero exit. SIGTERM/SIGINT stop the loops at
safe points: the current apply and the work orders in flight finish first.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING

import attrs
import httpx

from brokkr_agent_app.gateway import HttpBrokerGateway
from brokkr_agent_app.health_server import HealthServer, create_health_app
from brokkr_agent_app.loops import AgentLoops
from brokkr_agent_app.metrics import AgentMetrics
from brokkr_agent_app.status import AgentStatus
from brokkr_agent_app.traced_cluster import TracedCluster
from brokkr_agent_app.tracing import AgentTracing, build_tracing
from brokkr_agent_app.webhook_sender import HttpxWebhookSender
from brokkr_domain.errors import BrokkrError, ForbiddenError, NotFoundError, UnauthorizedError
from brokkr_domain.model import Agent
from brokkr_domain.ports import BrokerGateway, Cluster, SystemClock
from brokkr_domain.settings import AgentSettings, Telemetry

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

log = logging.getLogger("brokkr.agent")
ClusterFactory = Callable[[AgentSettings], Cluster]
HEALTH_HOST = "0.0.0.0"  # noqa: S104 - probes come from the kubelet, not from loopback


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
    gateway: BrokerGateway, attempts: int, delay: float = 1.0, stop: threading.Event | None = None
) -> None:
    """Poll the broker's readiness up to ``attempts`` times; a set ``stop`` event ends the wait early."""
    stopping = stop or threading.Event()
    for attempt in range(1, attempts + 1):
        if gateway.is_ready():
            return
        if attempt < attempts and stopping.wait(delay):
            raise StartupError("stopped while waiting for the broker")
    raise StartupError(f"broker not ready after {attempts} attempt(s)")


def identify(gateway: BrokerGateway, name: str, cluster_name: str) -> Agent:
    """The agent's own record, checked to belong to the PAK; every refusal says what is wrong."""
    try:
        actor = gateway.whoami()
    except UnauthorizedError as exc:
        raise StartupError(f"the broker rejected the agent PAK: {exc.message}") from exc
    if not actor.is_agent():
        raise StartupError(f"the configured PAK belongs to the {actor.kind.value}, not to an agent")
    try:
        agent = gateway.find_agent(name, cluster_name)
    except (ForbiddenError, NotFoundError) as exc:
        # An agent's PAK may only look itself up: a 403 means the name or cluster names another agent.
        raise StartupError(
            f"agent {name!r} in cluster {cluster_name!r} is unknown to the broker or is not the agent "
            f"{actor.id} this PAK belongs to (check agent.agent_name and agent.cluster_name)"
        ) from exc
    if agent.id != actor.id:
        raise StartupError(f"agent {name!r}/{cluster_name!r} is not the agent this PAK belongs to")
    return agent


class RunningAgent:
    """A started agent: loops and health server running until ``stop``."""

    def __init__(
        self,
        agent: Agent,
        gateway: HttpBrokerGateway,
        loops: AgentLoops,
        health: HealthServer,
        sender: HttpxWebhookSender,
        *,
        tracing: AgentTracing | None = None,
    ) -> None:
        self.agent = agent
        self.tracing = tracing
        self.gateway = gateway
        self.loops = loops
        self.health = health
        self.sender = sender

    @property
    def health_port(self) -> int:
        return self.health.port

    @property
    def status(self) -> AgentStatus:
        return self.loops.status

    def stop(self, timeout: float = 30.0) -> None:
        """Drain: loops end at safe points, in-flight work orders finish, then the servers close."""
        log.info("stopping: finishing the current apply and in-flight work orders")
        self.loops.stop(timeout)
        self.health.stop()
        self.gateway.close()
        self.sender.close()
        if self.tracing is not None:
            self.tracing.shutdown()  # export the last spans before the process ends
        log.info("agent stopped cleanly")


def start(
    settings: AgentSettings,
    make_cluster: ClusterFactory,
    *,
    stop: threading.Event | None = None,
    telemetry: Telemetry | None = None,
    span_exporter: SpanExporter | None = None,
    broker_transport: httpx.BaseTransport | None = None,
) -> RunningAgent:
    """Every startup step in order; raises ``StartupError`` with one clear line when one fails.

    ``telemetry`` (``telemetry.*`` for the agent; ``None`` means off) turns tracing on; ``span_exporter``
    replaces its OTLP exporter and ``broker_transport`` the broker client's transport (seams for tests).
    """
    pak, name, cluster_name = require(settings)
    tracing = None if telemetry is None else build_tracing(telemetry, exporter=span_exporter)
    tracer = None if tracing is None else tracing.tracer
    gateway = HttpBrokerGateway(
        settings.broker_url,
        pak,
        timeout=settings.request_timeout_seconds,
        transport=broker_transport,
        tracer=tracer,
    )
    try:
        wait_for_broker(gateway, settings.max_retries, stop=stop)
        agent = identify(gateway, name, cluster_name)
        try:
            raw_cluster = make_cluster(settings)
            version = raw_cluster.server_version()
        except Exception as exc:  # the adapter's own errors, or configuration problems
            raise StartupError(f"cannot reach Kubernetes: {exc}") from exc
        # The loops' calls are traced; the health probes' version checks (every few seconds) are not.
        cluster: Cluster = raw_cluster if tracer is None else TracedCluster(raw_cluster, tracer)
    except BaseException:
        gateway.close()
        if tracing is not None:
            tracing.shutdown()
        raise
    log.info("agent %s (%s) starting; Kubernetes %s; broker %s", name, agent.id, version, settings.broker_url)
    status, metrics = AgentStatus(), AgentMetrics()
    status.kubernetes(True)
    sender = HttpxWebhookSender()
    loops = AgentLoops(
        agent_id=agent.id,
        settings=settings,
        gateway=gateway,
        cluster=cluster,
        sender=sender,
        clock=SystemClock(),
        status=status,
        metrics=metrics,
        agent_status=agent.status,
        tracer=tracer,
    )
    health = HealthServer(
        create_health_app(
            status, metrics, raw_cluster.server_version, broker_window=3 * settings.polling_interval + 5
        ),
        HEALTH_HOST,
        settings.health_port,
    )
    try:
        health.start()
    except OSError as exc:
        gateway.close()
        sender.close()
        if tracing is not None:
            tracing.shutdown()
        raise StartupError(f"{exc} (agent.health_port, BROKKR__AGENT__HEALTH_PORT)") from exc
    loops.start()
    log.info("agent running; health server on port %d; tracing %s", health.port, "on" if tracer else "off")
    return RunningAgent(agent, gateway, loops, health, sender, tracing=tracing)


def run(
    settings: AgentSettings,
    make_cluster: ClusterFactory,
    *,
    stop: threading.Event | None = None,
    telemetry: Telemetry | None = None,
    span_exporter: SpanExporter | None = None,
) -> int:
    """Start, serve until ``stop`` is set (or SIGTERM/SIGINT arrive), drain, return the exit status 0."""
    stop_event = stop or threading.Event()
    _install_signal_handlers(stop_event)
    running = start(settings, make_cluster, stop=stop_event, telemetry=telemetry, span_exporter=span_exporter)
    stop_event.wait()
    running.stop()
    return 0


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
        problem = gateway.readiness_problem()
        detail = f"{settings.broker_url} ready" if problem is None else f"{settings.broker_url}: {problem}"
        lines.append(CheckLine(name="broker", ok=problem is None, detail=detail))
        if problem is None:
            try:
                agent = identify(gateway, name, cluster_name)
                lines.append(
                    CheckLine(name="identity", ok=True, detail=f"agent id {agent.id}, status {agent.status}")
                )
            except (StartupError, BrokkrError) as exc:
                text = exc.message if isinstance(exc, BrokkrError) else str(exc)
                lines.append(CheckLine(name="identity", ok=False, detail=text))
    finally:
        gateway.close()
    try:
        version = make_cluster(settings).server_version()
        lines.append(CheckLine(name="kubernetes", ok=True, detail=f"API server {version}"))
    except Exception as exc:  # report whatever went wrong; check never raises
        lines.append(CheckLine(name="kubernetes", ok=False, detail=str(exc)[:300] or type(exc).__name__))
    return lines


def _install_signal_handlers(stop: threading.Event) -> None:
    if threading.current_thread() is not threading.main_thread():
        return

    def handle(signum: int, frame: FrameType | None) -> None:
        del frame
        log.info("received %s", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
