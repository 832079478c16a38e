"""The agent's ``WebhookSender``: POSTs with the subscription's timeout; never raises for HTTP failures."""

from __future__ import annotations

import time
from collections.abc import Mapping

import httpx

from brokkr_domain.model import DeliveryOutcome
from brokkr_domain.ports.http_sender import TIMED_OUT

MAX_ERROR_BODY = 500


class HttpxWebhookSender:
    def __init__(self, client: httpx.Client | None = None) -> None:
        self._client = client or httpx.Client(follow_redirects=False)

    def post(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout_seconds: float
    ) -> DeliveryOutcome:
        start = time.perf_counter()

        def done(status: int | None = None, error: str | None = None) -> DeliveryOutcome:
            elapsed = int((time.perf_counter() - start) * 1000)
            return DeliveryOutcome(
                success=error is None, status_code=status, error=error, duration_ms=elapsed
            )

        try:
            response = self._client.post(url, content=body, headers=dict(headers), timeout=timeout_seconds)
        except httpx.TimeoutException:
            return done(error=TIMED_OUT)
        except httpx.TransportError as exc:
            return done(error=f"Connection failed: {type(exc).__name__}")
        if 200 <= response.status_code < 300:
            return done(response.status_code)
        return done(response.status_code, f"HTTP {response.status_code}: {response.text[:MAX_ERROR_BODY]}")

    def close(self) -> None:
        self._client.close()
