"""The broker's webhook sender: leased deliveries POSTed on their own threads, within a fixed number of slots.

A tick never waits for a POST, a receiver never holds more than its share of the slots, and slow receivers
together never hold more than half of them (see ``WebhookDeliveryWorker``). What happens to a delivery (lease,
retry, dead) is decided by the domain (``usecases.webhooks``); this module decides only when and how many.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from uuid import UUID

from brokkr_broker_app.metrics import BrokerMetrics
from brokkr_broker_app.runtime import LiveSettings
from brokkr_domain.model import DeliveryOutcome, WebhookDelivery, WebhookSubscription
from brokkr_domain.ports.http_sender import TIMED_OUT, WebhookSender
from brokkr_domain.usecases import webhooks
from brokkr_domain.usecases.context import Services
from brokkr_domain.webhook_posting import post_delivery

log = logging.getLogger("brokkr.broker.webhooks")

DELIVERY_SLOTS = 16  # deliveries in flight at once per broker process
SLOW_AFTER_SECONDS = 5.0  # a POST open this long marks its subscription slow
SLOW_MEMORY_SECONDS = 600.0  # a slow subscription without deliveries for this long is forgotten


class WebhookDeliveryWorker:
    """Sends broker-routed webhook deliveries with at most ``slots`` in flight, never waiting for them in a tick.

    A tick claims no more deliveries than there are free slots (a claimed delivery is leased; one that waited in
    memory behind a slow receiver could outlive its lease and be sent twice) and starts each POST on its own
    thread. So a slow or hanging receiver holds only the slots of its own deliveries, each up to its
    subscription's timeout, and never more than ``per_subscription`` of them (its further deliveries wait in the
    database), while later ticks keep the other slots busy.

    Several hanging receivers could still share out every slot, so receivers are watched: a subscription is
    *slow* while one of its POSTs has been open for ``slow_after`` seconds or more, and after one took that
    long or timed out, until one of its POSTs answers sooner (or ``SLOW_MEMORY_SECONDS`` pass without news).
    A slow subscription gets a new delivery only when it has none in flight and the slow ones together hold
    less than half of the slots: the other half stays free for receivers that answer. The threads are
    daemons: a POST that outlives the shutdown grace is abandoned, and its lease brings the delivery back (at
    least once).
    """

    def __init__(
        self,
        services: Services,
        live: LiveSettings,
        sender: WebhookSender,
        metrics: BrokerMetrics,
        *,
        slots: int = DELIVERY_SLOTS,
        slow_after: float = SLOW_AFTER_SECONDS,
    ):
        self.services = services
        self.live = live
        self.sender = sender
        self.metrics = metrics
        self.slots = slots
        self.on_capacity: Callable[[], None] = lambda: None  # the loop's wake-up, set by ``broker_tasks``
        self.per_subscription = max(1, slots // 4)  # one receiver holds at most a quarter of the slots
        self.slow_lane = max(1, slots // 2)  # all slow receivers together: at most half
        self.slow_after = slow_after
        self._in_flight = 0  # slots taken: POSTs on their way, and slots reserved for a claim running now
        self._started: dict[UUID, tuple[UUID, float]] = {}  # delivery -> (its subscription, monotonic start)
        self._slow_since: dict[UUID, float] = {}  # subscription id -> when its last POST was found slow
        self._backlog = False  # the last claim was cut short by the free slots: more may be waiting
        self._changed = threading.Condition()

    @property
    def in_flight(self) -> int:
        with self._changed:
            return self._in_flight

    def tick(self) -> int:
        """Claim up to the free slots (and the batch size), start sending them, return how many were claimed."""
        batch_size = self.live.current.broker.webhook_delivery_batch_size
        with self._changed:
            free = self.slots - self._in_flight
            limit = min(batch_size, free)
            if limit <= 0:
                self._backlog = True
                return 0
            self._in_flight += limit  # reserved before the claim, so concurrent ticks cannot overbook
        try:
            batch = self._claim(limit)
        except BaseException:
            self._release(limit)
            raise
        with self._changed:
            self._backlog = len(batch) == limit
            started = time.monotonic()
            self._started.update((delivery.id, (sub.id, started)) for delivery, sub in batch)
        self._release(limit - len(batch))
        for delivery, sub in batch:
            context = contextvars.copy_context()  # the tick's trace continues in the POST's thread
            threading.Thread(
                target=context.run,
                args=(self._send, delivery, sub),
                name=f"webhook-{delivery.id}",
                daemon=True,
            ).start()
        return len(batch)

    def in_flight_by_subscription(self) -> dict[UUID, int]:
        with self._changed:
            return dict(self._held())

    def _held(self) -> Counter[UUID]:
        """POSTs on their way per subscription (call with the lock held)."""
        return Counter(sub_id for sub_id, _ in self._started.values())

    def slow_subscriptions(self) -> frozenset[UUID]:
        """The subscriptions now counted as slow (see the class documentation)."""
        with self._changed:
            return self._slow_now(time.monotonic())

    def _slow_now(self, now: float) -> frozenset[UUID]:
        for sub_id, since in list(self._slow_since.items()):
            if now - since >= SLOW_MEMORY_SECONDS:
                del self._slow_since[sub_id]
        hanging = {sub_id for sub_id, start in self._started.values() if now - start >= self.slow_after}
        return frozenset(hanging | self._slow_since.keys())

    def _claim(self, limit: int) -> list[tuple[WebhookDelivery, WebhookSubscription]]:
        """Lease up to ``limit`` deliveries: first for the subscriptions that answer, then, one each, for slow
        ones with nothing in flight, as long as the slow ones together stay within ``slow_lane``."""
        with self._changed:
            held = self._held()
            slow = self._slow_now(time.monotonic())
        full = frozenset(sub_id for sub_id, n in held.items() if n >= self.per_subscription)
        batch = webhooks.claim_broker_batch(
            self.services, limit, per_subscription=self.per_subscription, skip_subscriptions=full | slow
        )
        lane = min(limit - len(batch), self.slow_lane - sum(held[sub_id] for sub_id in slow))
        if slow and lane > 0:
            sending = full | frozenset(sub_id for sub_id in slow if held[sub_id] > 0)
            try:
                batch += webhooks.claim_broker_batch(
                    self.services, lane, per_subscription=1, skip_subscriptions=sending
                )
            except Exception:  # what the first claim leased is sent all the same
                log.warning("webhook delivery: claiming for slow receivers failed", exc_info=True)
        return batch

    def step(self) -> bool:
        """One tick of the loop; True when it should run again at once (a full claim and slots still free)."""
        self.tick()
        with self._changed:
            return self._backlog and self._in_flight < self.slots

    def run_batch(self) -> int:
        """One tick that returns once everything it claimed was sent and recorded (hand-run ticks)."""
        claimed = self.tick()
        self.wait_idle(timeout=None)
        return claimed

    def wait_idle(self, timeout: float | None) -> bool:
        """Wait until nothing is in flight; False when ``timeout`` seconds passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while self._in_flight > 0:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._changed.wait(remaining)
        return True

    def _release(self, count: int) -> None:
        if count <= 0:
            return
        with self._changed:
            self._in_flight -= count
            wake = self._backlog
            self._changed.notify_all()
        if wake:
            self.on_capacity()

    def _send(self, delivery: WebhookDelivery, sub: WebhookSubscription) -> None:
        outcome: DeliveryOutcome | None = None
        try:
            outcome = self._post(delivery, sub)
            webhooks.record_broker_outcome(self.services, delivery.id, outcome)
        except Exception:  # the outcome could not be recorded: the lease brings the delivery back
            log.warning("webhook delivery %s: recording the outcome failed", delivery.id, exc_info=True)
        finally:
            with self._changed:
                now = time.monotonic()
                _, started = self._started.pop(delivery.id, (sub.id, now))
                answered = outcome is not None and outcome.error != TIMED_OUT
                if not answered or now - started >= self.slow_after:
                    self._slow_since[sub.id] = now
                else:
                    self._slow_since.pop(sub.id, None)
            self._release(1)

    def _post(self, delivery: WebhookDelivery, sub: WebhookSubscription) -> DeliveryOutcome:
        """POST one delivery with its subscription's headers, signature and timeout."""
        pending = webhooks.pending_delivery(delivery, sub)
        outcome = post_delivery(self.sender, pending, self.services.clock.now())
        self.metrics.webhook_deliveries.labels(outcome="success" if outcome.success else "failure").inc()
        return outcome

    def close(self) -> None:
        """Let the deliveries in flight finish, for at most the shutdown grace; the rest come back by lease."""
        grace = float(self.live.current.broker.shutdown_grace_seconds)
        if not self.wait_idle(timeout=grace):
            log.warning(
                "%d webhook deliveries still in flight after %.0f s; they will be retried",
                self.in_flight,
                grace,
            )
