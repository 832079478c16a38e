"""One reload for every broker process: ``POST /admin/config/reload`` reaches the workers and replicas that did not
answer it.

Behind a load balancer, or with ``serve --workers N``, the request lands on one process. That process reloads,
then publishes on a PostgreSQL channel; every other process on the database reloads its own configuration
(defaults < its file < its environment) when the message arrives. Only the answering process audits the reload.
Delivery is best effort: a process that is disconnected from the database at that moment keeps its settings
until the next reload (or until its watched config file changes).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from brokkr_adapters_postgres.notifications import Notifications
from brokkr_domain.errors import BrokkrError

log = logging.getLogger("brokkr.broker")

RELOAD_CHANNEL = "brokkr_config_reload"


class ReloadBroadcast:
    """Publishes "reload" to the other processes and runs this process's reload when another one publishes."""

    def __init__(self, notifications: Notifications | None) -> None:
        self._notifications = notifications
        self.origin = uuid.uuid4().hex  # lets a process ignore its own message

    def publish(self) -> None:
        if self._notifications is None:
            return
        try:
            self._notifications.publish(RELOAD_CHANNEL, self.origin)
        except BrokkrError as exc:  # this process has reloaded; the others will on their next reload
            log.warning("could not tell the other broker processes to reload: %s", exc.message)

    def subscribe(self, reload: Callable[[], object]) -> Callable[[], None]:
        """Run ``reload`` on every other process's message; returns the function that stops it."""
        if self._notifications is None:
            return lambda: None

        def on_message(origin: str) -> None:
            if origin != self.origin:
                log.info("another broker process reloaded its configuration: reloading")
                reload()

        return self._notifications.subscribe(RELOAD_CHANNEL, on_message)


__all__ = ["RELOAD_CHANNEL", "ReloadBroadcast"]
