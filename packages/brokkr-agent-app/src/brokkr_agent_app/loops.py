"""The agent's loops: each on its own thread, level-based, never dying from one bad tick.

- heartbeat: tell the broker we are alive and re-read our own record (only an ACTIVE agent does the rest);
- control: when ACTIVE, the full target state and a reconcile. Its own loop, so an apply that waits on an
  overloaded API server (the adapter retries for minutes) never stops the heartbeats;
- work orders: polled and run on a bounded pool, off the control loop, so a 15-minute build never delays a
  heartbeat or a deployment;
- health, diagnostics and webhooks: each on its own interval.
A loop whose tick fails with a transient error backs off (jittered, capped) and tries again.
With tracing on, each tick is a root span ``agent.tick <loop>`` (marked failed when the tick fails) and each work
order a span ``agent.work_order`` under the tick that handed it to the pool.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING
from uuid import UUID

from brokkr_agent_app.metrics import AgentMetrics
from brokkr_agent_app.status import AgentStatus
from brokkr_agent_app.tracing import current_context, fail, tick_span, work_order_span
from brokkr_domain.agent import (
    Reconciler,
    WorkOrderRunner,
    deliver_pending_webhooks,
    health_tick,
    heartbeat_tick,
    process_pending_diagnostics,
    process_work_order,
)
from brokkr_domain.errors import BrokkrError, TransientError
from brokkr_domain.model import AgentStatus as RecordStatus
from brokkr_domain.model import WorkOrder
from brokkr_domain.ports import BrokerGateway, Clock, Cluster
from brokkr_domain.ports.http_sender import WebhookSender
from brokkr_domain.settings import AgentSettings

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.trace import Span, Tracer

log = logging.getLogger("brokkr.agent")
RECONCILE_BACKOFF_MAX_SECONDS = 300.0
BUILD_POLL_SECONDS = 5.0
DRIFT_CHECK_TICKS = 6


class Loop:
    """Runs ``tick`` every ``interval`` seconds until stopped; failures back off up to ``max_backoff``."""

    def __init__(
        self,
        name: str,
        interval: float,
        tick: Callable[[], object],
        *,
        max_backoff: float = 60.0,
        tracer: Tracer | None = None,
    ):
        self.name = name
        self.tracer = tracer
        self.interval = interval
        self.tick = tick
        self.max_backoff = max_backoff
        self.failures = 0
        self.ticks = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"loop-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            self._stop.wait(self._delay())

    def run_once(self) -> None:
        """One tick, never raising; with tracing on, inside its own root span (failed when the tick fails)."""
        if self.tracer is None:
            self._guarded_tick()
            return
        with tick_span(self.tracer, self.name) as span:
            error = self._guarded_tick()
            if error is not None:
                fail(span, error)

    def _guarded_tick(self) -> Exception | None:
        """Run ``tick``; a failure is logged, counted for the backoff and returned instead of raised."""
        error: Exception | None = None
        try:
            self.tick()
            self.failures = 0
        except TransientError as exc:
            error = exc
            log.warning("%s: broker or cluster unavailable (%s); backing off", self.name, exc.message)
        except BrokkrError as exc:
            error = exc
            log.warning("%s: %s", self.name, exc.message)
        except Exception as exc:  # a bug in one tick must not kill the agent
            error = exc
            log.exception("%s: unexpected error; continuing", self.name)
        if error is not None:
            self.failures += 1
        self.ticks += 1
        return error

    def _delay(self) -> float:
        if self.failures == 0:
            return self.interval
        ceiling = min(self.max_backoff, self.interval * 2 ** min(self.failures, 10))
        return random.uniform(max(self.interval, ceiling / 2), max(self.interval, ceiling))

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


class AgentLoops:
    """Builds and owns every loop of one agent process."""

    def __init__(
        self,
        *,
        agent_id: UUID,
        settings: AgentSettings,
        gateway: BrokerGateway,
        cluster: Cluster,
        sender: WebhookSender,
        clock: Clock,
        status: AgentStatus,
        metrics: AgentMetrics,
        agent_status: str | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        """``agent_status`` is the record's status read at startup, so an ACTIVE agent deploys at once.

        ``tracer`` (tracing on) puts every tick in a root span and every work order in a span under the tick
        that submitted it; ``None`` leaves the loops exactly as they are without tracing.
        """
        self.tracer = tracer
        self.agent_id = agent_id
        self.settings = settings
        self.gateway = gateway
        self.cluster = cluster
        self.sender = sender
        self.clock = clock
        self.status = status
        self.metrics = metrics
        self.active = False
        if agent_status is not None:
            self._set_record_status(agent_status)
        # A failed stack is retried on the next tick, then every 2, 4, 8 ... ticks (at most 5 minutes apart).
        # Converged stacks are checked for drift (one GET per object) every DRIFT_CHECK_TICKS ticks: doing it
        # every tick made an idle tick over 1 000 objects cost ~0.4 s of CPU and 1 000 API requests.
        # A BuildRun is followed at the polling pace, at least every 5 seconds.
        self.reconciler = Reconciler(
            cluster,
            gateway,
            clock=clock,
            sleep=time.sleep,
            backoff_initial_seconds=settings.polling_interval,
            backoff_max_seconds=max(RECONCILE_BACKOFF_MAX_SECONDS, settings.polling_interval),
            drift_check_seconds=DRIFT_CHECK_TICKS * settings.polling_interval,
        )
        self.runner = WorkOrderRunner(
            cluster,
            clock=clock,
            sleep=time.sleep,
            poll_interval_seconds=min(BUILD_POLL_SECONDS, settings.polling_interval),
        )
        self.pool = ThreadPoolExecutor(
            max_workers=settings.work_order_concurrency, thread_name_prefix="work-order"
        )
        self._in_flight: dict[UUID, Future[object]] = {}
        self._lock = threading.Lock()
        every = settings.polling_interval
        self.loops = [
            Loop("heartbeat", every, self.heartbeat_tick, tracer=tracer),
            Loop("control", every, self.control_tick, tracer=tracer),
            Loop("work-orders", every, self.work_order_tick, tracer=tracer),
            Loop("diagnostics", settings.diagnostics_interval, self.diagnostics_tick, tracer=tracer),
            Loop("webhooks", settings.webhook_interval, self.webhook_tick, tracer=tracer),
        ]
        if settings.deployment_health_enabled:
            self.loops.append(
                Loop("health", settings.deployment_health_interval, self.health_tick, tracer=tracer)
            )

    # --- ticks ----------------------------------------------------------------------------------------------
    def heartbeat_tick(self) -> None:
        try:
            record = heartbeat_tick(self.gateway, self.agent_id)
        except BrokkrError:
            self.status.broker_failed()
            self.metrics.heartbeats.labels(status="error").inc()
            raise
        self.status.broker_ok()
        self.metrics.heartbeats.labels(status="success").inc()
        self._set_record_status(record.status)

    def _set_record_status(self, record_status: str) -> None:
        self.status.agent_status = record_status
        self.active = record_status == RecordStatus.ACTIVE.value

    def control_tick(self) -> None:
        if not self.active:
            return
        start = time.perf_counter()
        try:
            target = self.gateway.target_state(self.agent_id, full=True)
        except BrokkrError:
            self.metrics.poll_requests.labels(status="error").inc()
            raise
        report = self.reconciler.reconcile(target, self.agent_id)
        self.status.polled()
        self.metrics.poll_requests.labels(status="success").inc()
        self.metrics.last_successful_poll.set(time.time())
        self.metrics.poll_duration.observe(time.perf_counter() - start)
        self.metrics.reconciles.labels(outcome="applied").inc(len(report.applied))
        self.metrics.reconciles.labels(outcome="failed").inc(len(report.failed))
        self.metrics.reconciles.labels(outcome="skipped").inc(len(report.skipped))
        self.metrics.objects.labels(operation="deleted").inc(len(report.deleted))
        self.metrics.objects.labels(operation="pruned").inc(len(report.removed))
        for stack_id, error in report.failed.items():
            log.warning("stack %s failed: %s", stack_id, error)

    def work_order_tick(self) -> None:
        if not self.active:
            return
        with self._lock:
            self._in_flight = {k: f for k, f in self._in_flight.items() if not f.done()}
            free = self.settings.work_order_concurrency - len(self._in_flight)
        if free <= 0:
            return
        for order in self.gateway.pending_work_orders(self.agent_id):
            if free <= 0:
                break
            with self._lock:
                if order.id in self._in_flight:
                    continue
                parent = current_context() if self.tracer is not None else None
                self._in_flight[order.id] = self.pool.submit(self._run_order, order, parent)
            free -= 1

    def _run_order(self, order: WorkOrder, parent: Context | None = None) -> object:
        """Run one order on a pool thread; traced as a child of the tick that submitted it (``parent``)."""
        if self.tracer is None:
            return self._process_order(order, None)
        attributes = {"brokkr.work_order.id": str(order.id), "brokkr.work_order.type": order.work_type}
        with work_order_span(self.tracer, parent, attributes) as span:
            return self._process_order(order, span)

    def _process_order(self, order: WorkOrder, span: Span | None) -> object:
        try:
            outcome = process_work_order(self.gateway, self.runner, self.agent_id, order)
        except Exception as exc:
            if span is not None:
                fail(span, exc)
            self.metrics.work_orders.labels(outcome="error").inc()
            log.exception("work order %s: could not complete", order.id)
            return None
        self.metrics.work_orders.labels(outcome="skipped" if outcome is None else "done").inc()
        return outcome

    def health_tick(self) -> None:
        if self.active:
            health_tick(
                self.gateway, self.cluster, self.agent_id, self.reconciler.deployed(), clock=self.clock
            )

    def diagnostics_tick(self) -> None:
        if self.active:
            process_pending_diagnostics(
                self.gateway, self.cluster, self.agent_id, self.reconciler.objects_of, clock=self.clock
            )

    def webhook_tick(self) -> None:
        if self.active:
            deliver_pending_webhooks(self.gateway, self.sender, self.agent_id, self.clock)

    # --- lifecycle ------------------------------------------------------------------------------------------
    def start(self) -> None:
        for loop in self.loops:
            loop.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop at safe points: the current apply and in-flight work orders finish, then threads end."""
        for loop in self.loops:
            loop.stop()
        for loop in self.loops:
            loop.join(timeout)
        self.pool.shutdown(wait=True, cancel_futures=True)
