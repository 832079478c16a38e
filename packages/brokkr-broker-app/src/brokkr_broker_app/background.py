"""Background tasks of the broker, each on its own thread with its interval read live from settings.

Everything that must happen once across replicas is claimed in the database (skip-locked claims, conditional
updates), never in memory, so running several brokers on one PostgreSQL is safe. A task that fails logs and tries
again on its next tick; ``stop`` waits for each task to reach a safe point (between ticks).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from brokkr_broker_app.metrics import BrokerMetrics
from brokkr_broker_app.runtime import LiveSettings
from brokkr_broker_app.webhook_sender import HttpxWebhookSender
from brokkr_domain.model import DeliveryOutcome, WebhookDelivery, WebhookSubscription
from brokkr_domain.rules.webhooks import delivery_headers
from brokkr_domain.settings import BrokerSettings
from brokkr_domain.usecases import audit, diagnostics, webhooks, work_orders
from brokkr_domain.usecases.context import Services

log = logging.getLogger("brokkr.broker.tasks")


class PeriodicTask:
    def __init__(
        self, name: str, interval: Callable[[], float], run: Callable[[], object], metrics: BrokerMetrics
    ):
        self.name = name
        self.interval = interval
        self.run = run
        self.metrics = metrics
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.runs = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=f"task-{self.name}", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run()
                self.metrics.background_runs.labels(task=self.name, outcome="ok").inc()
            except Exception:  # one bad tick never kills the task
                self.metrics.background_runs.labels(task=self.name, outcome="error").inc()
                log.warning("background task %s failed; retrying next tick", self.name, exc_info=True)
            self.runs += 1
            self._stop.wait(max(0.05, self.interval()))

    def signal_stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)


class WebhookDeliveryWorker:
    """Claims a batch of broker-routed deliveries and POSTs them in parallel (a slow receiver holds only its own
    slot, bounded by its subscription's timeout)."""

    def __init__(
        self, services: Services, live: LiveSettings, sender: HttpxWebhookSender, metrics: BrokerMetrics
    ):
        self.services = services
        self.live = live
        self.sender = sender
        self.metrics = metrics
        self.pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="webhook")

    def tick(self) -> int:
        batch = webhooks.claim_broker_batch(
            self.services, self.live.current.broker.webhook_delivery_batch_size
        )
        futures = [self.pool.submit(self._deliver, delivery, sub) for delivery, sub in batch]
        for future in futures:
            future.result()
        return len(batch)

    def _deliver(self, delivery: WebhookDelivery, sub: WebhookSubscription) -> None:
        headers = delivery_headers(
            event_type=delivery.event_type,
            delivery_id=delivery.id,
            auth_header=sub.auth_header,
            signing_secret=sub.signing_secret,
            payload=delivery.payload,
            timestamp=self.services.clock.now(),
        )
        outcome: DeliveryOutcome = self.sender.post(
            sub.url, delivery.payload.encode("utf-8"), headers, float(sub.timeout_seconds)
        )
        self.metrics.webhook_deliveries.labels(outcome="success" if outcome.success else "failure").inc()
        webhooks.record_broker_outcome(self.services, delivery.id, outcome)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=False)


def broker_tasks(
    services: Services, live: LiveSettings, sender: HttpxWebhookSender, metrics: BrokerMetrics
) -> tuple[list[PeriodicTask], WebhookDeliveryWorker]:
    def b() -> BrokerSettings:  # read live on every tick
        return live.current.broker

    worker = WebhookDeliveryWorker(services, live, sender, metrics)
    tasks = [
        PeriodicTask(
            "work_order_maintenance",
            lambda: b().work_order_maintenance_interval_seconds,
            lambda: work_orders.run_work_order_maintenance(services),
            metrics,
        ),
        PeriodicTask("webhook_delivery", lambda: b().webhook_delivery_interval_seconds, worker.tick, metrics),
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
    return tasks, worker
