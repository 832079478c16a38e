"""POSTs webhook payloads with httpx (the broker's ``WebhookSender``).

Never raises for HTTP or transport failures: every attempt becomes a ``DeliveryOutcome`` whose error text says what
happened, so one bad receiver cannot break a delivery batch. Each request carries its subscription's own timeout.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import httpx

from brokkr_domain.model import DeliveryOutcome
from brokkr_domain.ports.http_sender import TIMED_OUT

MAX_ERROR_BODY = 500


class HttpxWebhookSender:
    def __init__(self, client: httpx.Client | None = None) -> None:
        self._client = client or httpx.Client(
            follow_redirects=False, limits=httpx.Limits(max_connections=64, max_keepalive_connections=16)
        )

    def post(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout_seconds: float
    ) -> DeliveryOutcome:
        start = time.perf_counter()
        try:
            response = self._client.post(url, content=body, headers=dict(headers), timeout=timeout_seconds)
        except httpx.TimeoutException:
            return self._outcome(start, error=TIMED_OUT)
        except httpx.TransportError as exc:
            return self._outcome(start, error=f"Connection failed: {type(exc).__name__}")
        except httpx.HTTPError as exc:
            return self._outcome(start, error=f"Request error: {type(exc).__name__}")
        if 200 <= response.status_code < 300:
            return self._outcome(start, status=response.status_code, success=True)
        text = response.text[:MAX_ERROR_BODY]
        return self._outcome(start, status=response.status_code, error=f"HTTP {response.status_code}: {text}")

    @staticmethod
    def _outcome(
        start: float, *, status: int | None = None, error: str | None = None, success: bool = False
    ) -> DeliveryOutcome:
        elapsed = int((time.perf_counter() - start) * 1000)
        return DeliveryOutcome(success=success, status_code=status, error=error, duration_ms=elapsed)

    def close(self) -> None:
        self._client.close()
