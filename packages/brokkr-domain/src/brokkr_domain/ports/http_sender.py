"""Outbound HTTP for webhook delivery, as the domain needs it: one POST, one outcome."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from brokkr_domain.model import DeliveryOutcome

TIMED_OUT = "Request timed out"  # the error text of an attempt that got no answer within its timeout


class WebhookSender(Protocol):
    """POSTs a webhook body and describes what happened.

    Delivery failures are data, not exceptions: the delivery state machine needs the status code and an error
    text to decide between retry and dead, and one failing receiver must not abort a batch. So an
    implementation never raises for HTTP or transport failures; it returns ``success=False`` with ``error``
    set to one of

    - ``"HTTP <code>: <at most 500 characters of the body>"`` for a non-2xx answer (``status_code`` set),
    - ``"Request timed out"`` when ``timeout_seconds`` elapsed,
    - ``"Connection failed: <reason>"`` when no answer could be obtained at all.

    ``duration_ms`` is the wall time of the attempt when the implementation measures it.
    """

    def post(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout_seconds: float
    ) -> DeliveryOutcome: ...


__all__ = ["TIMED_OUT", "WebhookSender"]
