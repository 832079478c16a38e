"""Background tasks of the broker, each on its own thread with its interval read live from settings.

Everything that must happen once across replicas is claimed in the database (skip-locked claims, conditional
updates), never in memory, so running several brokers on one PostgreSQL is safe. A task that fails logs and tries
again on its next tick; ``stop`` waits for each task to reach a safe point (between ticks).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import timedelta

from brokkr_broker_app.metrics import BrokerMetrics
from brokkr_broker_app.runtime import LiveSettings
from brokkr_broker_app.webhook_worker import WebhookDeliveryWorker
from brokkr_domain.ports.http_sender import WebhookSender
from brokkr_domain.settings import BrokerSettings
from brokkr_domain.usecases import audit, diagnostics, webhooks, work_orders
from brokkr_domain.usecases.context import Services

log = logging.getLogger("brokkr.broker.tasks")


class PeriodicTask:
    """Runs ``step`` on its own thread every ``interval()`` seconds.

    ``run`` is one complete tick, for callers outside the loop (tests, one-shot tools) that want its work done
    when it returns. The loop calls ``step`` instead (``run`` when none is given): a step may leave work running
    and answers whether more is waiting, in which case the next step starts at once instead of after the
    interval. ``wake`` cuts the current wait short (a delivery slot came free while work was waiting).
    """

    def __init__(
        self,
        name: str,
        interval: Callable[[], float],
        run: Callable[[], object],
        metrics: BrokerMetrics,
        *,
        step: Callable[[], bool] | None = None,
    ):
        self.name = name
        self.interval = interval
        self.run = run
        self.metrics = metrics
        self._step = step
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.runs = 0
        self.traced: Callable[[str], AbstractContextManager[None]] | None = None  # a span per loop tick

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=f"task-{self.name}", daemon=True)
        self._thread.start()

    def _once(self) -> bool:
        if self._step is not None:
            return self._step()
        self.run()
        return False

    def _loop(self) -> None:
        while not self._stop.is_set():
            again = False
            try:
                with self.traced(self.name) if self.traced is not None else nullcontext():
                    again = self._once()
                self.metrics.background_runs.labels(task=self.name, outcome="ok").inc()
            except Exception:  # one bad tick never kills the task
                self.metrics.background_runs.labels(task=self.name, outcome="error").inc()
                log.warning("background task %s failed; retrying next tick", self.name, exc_info=True)
            self.runs += 1
            if not again:
                self._wake.wait(max(0.05, self.interval()))
            self._wake.clear()

    def wake(self) -> None:
        self._wake.set()

    def signal_stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)


def broker_tasks(
    services: Services,
    live: LiveSettings,
    sender: WebhookSender,
    metrics: BrokerMetrics,
    traced: Callable[[str], AbstractContextManager[None]] | None = None,
) -> tuple[list[PeriodicTask], WebhookDeliveryWorker]:
    """The broker's background tasks and its delivery worker; ``traced`` opens a span around each loop tick."""

    def b() -> BrokerSettings:  # read live on every tick
        return live.current.broker

    worker = WebhookDeliveryWorker(services, live, sender, metrics)
    delivery = PeriodicTask(
        "webhook_delivery",
        lambda: b().webhook_delivery_interval_seconds,
        worker.run_batch,
        metrics,
        step=worker.step,
    )
    worker.on_capacity = delivery.wake
    tasks = [
        PeriodicTask(
            "work_order_maintenance",
            lambda: b().work_order_maintenance_interval_seconds,
            lambda: work_orders.run_work_order_maintenance(services),
            metrics,
        ),
        delivery,
        PeriodicTask(
            "webhook_retention",
            lambda: 3600.0,
            lambda: webhooks.run_webhook_retention(services, b().webhook_cleanup_retention_days),
            metrics,
        ),
        PeriodicTask(
            "diagnostic_maintenance",
            lambda: b().diagnostic_cleanup_interval_seconds,
            lambda: diagnostics.run_diagnostic_maintenance(
                services, timedelta(hours=b().diagnostic_max_age_hours)
            ),
            metrics,
        ),
        PeriodicTask(
            "audit_retention",
            lambda: 86_400.0,
            lambda: audit.run_audit_retention(services, b().audit_log_retention_days),
            metrics,
        ),
    ]
    for task in tasks:
        task.traced = traced
    return tasks, worker
