"""One HTTP call to the API server, made with the official client's ``ApiClient`` and retried by policy.

Why not the typed ``CoreV1Api`` or the ``DynamicClient``: the agent applies arbitrary kinds, wants the
objects in the API's own JSON shape (camelCase, exactly as served), and must control the query string of
server-side apply (``fieldManager``, ``force=true``, ``dryRun=All``) rather than trust a client that drops
some spellings of ``force``. ``ApiClient.param_serialize`` still does what the client is good at (auth
headers, token refresh, TLS and proxies from the kubeconfig); the response is read as raw bytes.

No exception of the ``kubernetes`` or ``urllib3`` packages leaves this module: each attempt either returns
the body, raises ``RetryableError`` (retried by the ``Retrier``), or raises a domain error.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import urllib3
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException, OpenApiException
from kubernetes.config.config_exception import ConfigException

from brokkr_adapters_k8s.errors import StatusReport, domain_error
from brokkr_adapters_k8s.retry import Retrier, RetriesExhaustedError, RetryableError
from brokkr_domain.errors import ForbiddenError, TransientError, ValidationError

JSON = "application/json"
APPLY_PATCH = "application/apply-patch+yaml"
Query = Sequence[tuple[str, str]]


@dataclass(frozen=True)
class _Request:
    method: str
    path: str
    what: str
    query: tuple[tuple[str, str], ...]
    headers: dict[str, str]
    body: Any


class Transport:
    """Sends requests through an ``ApiClient``; ``timeout`` is (connect, read) seconds per attempt."""

    def __init__(
        self, api_client: ApiClient, retrier: Retrier, *, timeout: tuple[float, float] = (10.0, 60.0)
    ) -> None:
        self.api_client = api_client
        self.retrier = retrier
        self.timeout = timeout

    @property
    def host(self) -> str:
        return str(self.api_client.configuration.host)

    def with_retrier(self, retrier: Retrier) -> Transport:
        """The same connection pool under another retry policy (discovery uses a shorter one)."""
        return Transport(self.api_client, retrier, timeout=self.timeout)

    def json(
        self,
        method: str,
        path: str,
        what: str,
        *,
        query: Query = (),
        body: Any = None,
        content_type: str | None = None,
    ) -> Any:
        """Send and decode a JSON answer; ``what`` names the operation in error messages."""
        data = self.raw(method, path, what, query=query, body=body, content_type=content_type)
        try:
            return json.loads(data) if data else None
        except ValueError as exc:
            raise TransientError(f"{what}: the Kubernetes API server sent invalid JSON: {exc}") from None

    def raw(
        self,
        method: str,
        path: str,
        what: str,
        *,
        query: Query = (),
        body: Any = None,
        content_type: str | None = None,
        accept: str = JSON,
    ) -> bytes:
        """Send with retries; returns the body of a 2xx answer or raises a domain error."""
        headers = {"Accept": accept}
        if content_type is not None:
            headers["Content-Type"] = content_type
        if content_type == APPLY_PATCH and body is not None and not isinstance(body, str):
            # JSON is YAML; encoding once here spares the client a sanitising walk over the body per attempt.
            body = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
        request = _Request(method, path, what, tuple(query), headers, body)
        try:
            return self.retrier.run(lambda: self._attempt(request), what)
        except RetriesExhaustedError as exhausted:
            last = exhausted.last
            raise TransientError(
                f"{what}: the Kubernetes API server at {self.host} is unavailable "
                f"({exhausted.attempts} attempts in {exhausted.elapsed:.0f} s): {last.message}",
                details={"status": last.status, "attempts": exhausted.attempts, "operation": what},
            ) from None

    def _attempt(self, request: _Request) -> bytes:
        try:
            verb, url, header_params, payload, _ = self.api_client.param_serialize(
                method=request.method,
                resource_path=request.path,
                query_params=list(request.query) or None,
                header_params=dict(request.headers),
                body=request.body,
                auth_settings=["BearerToken"],
            )
            response: Any = self.api_client.call_api(
                verb, url, header_params=header_params, body=payload, _request_timeout=self.timeout
            )
            data = response.read()
            status, http_reason, response_headers = response.status, response.reason, response.headers
        except ApiException as exc:  # raised by the REST layer for TLS failures (status 0)
            raise RetryableError(f"cannot reach {self.host}: {exc.reason or exc}") from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise RetryableError(f"cannot reach {self.host}: {exc}") from None
        except ConfigException as exc:  # e.g. an exec credential plugin failed while refreshing a token
            raise ForbiddenError(
                f"{request.what}: cannot get credentials for the Kubernetes API: {exc}"
            ) from None
        except OpenApiException as exc:
            raise ValidationError(f"{request.what}: the request could not be built: {exc}") from None
        if 200 <= status < 300:
            return bytes(data or b"")
        report = StatusReport.parse(status, bytes(data or b""), http_reason)
        if self.retrier.policy.is_retryable(status, report.reason):
            raise RetryableError(
                f"HTTP {status} {report.reason or ''}: {report.message}".replace("  ", " "),
                status=status,
                retry_after=_retry_after(response_headers, report),
            )
        raise domain_error(report, request.what)


def _retry_after(headers: Any, report: StatusReport) -> float | None:
    value = headers.get("Retry-After") if headers is not None else None
    if value is None:
        value = report.details.get("retryAfterSeconds")
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


__all__ = ["APPLY_PATCH", "JSON", "Transport"]
