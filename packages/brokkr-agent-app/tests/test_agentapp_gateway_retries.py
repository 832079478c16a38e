"""The gateway's retry policy, scripted with ``httpx.MockTransport`` and an injected sleep (no real waiting)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from uuid import uuid4

import httpx
import pytest

from brokkr_agent_app.gateway import HttpBrokerGateway
from brokkr_domain.errors import (
    BrokkrError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    TransientError,
    UnauthorizedError,
    UnprocessableError,
    ValidationError,
)
from brokkr_domain.model import DeliveryOutcome

Step = httpx.Response | Exception


class Script:
    """Answers requests with the scripted steps in order (the last one repeats), recording each request."""

    def __init__(self, *steps: Step) -> None:
        self.steps = list(steps)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]
        if isinstance(step, Exception):
            raise step
        return step


def error(
    status: int, code: str = "some_code", message: str = "it went wrong", **headers: str
) -> httpx.Response:
    return httpx.Response(status, json={"code": code, "message": message}, headers=headers)


OK = httpx.Response(204)


@pytest.fixture
def make() -> Iterator[Callable[..., tuple[HttpBrokerGateway, Script, list[float]]]]:
    made: list[HttpBrokerGateway] = []

    def build(*steps: Step, max_attempts: int = 4) -> tuple[HttpBrokerGateway, Script, list[float]]:
        script, slept = Script(*steps), list[float]()
        gateway = HttpBrokerGateway(
            "http://broker.test",
            "pak",
            transport=httpx.MockTransport(script),
            sleep=slept.append,
            max_attempts=max_attempts,
            backoff_initial=0.5,
            backoff_max=10.0,
        )
        made.append(gateway)
        return gateway, script, slept

    yield build
    for gateway in made:
        gateway.close()


def test_5xx_are_retried_with_growing_jittered_backoff(
    make: Callable[..., tuple[HttpBrokerGateway, Script, list[float]]],
) -> None:
    gateway, script, slept = make(error(503), error(502), error(500), OK)
    gateway.heartbeat(uuid4())
    assert len(script.requests) == 4
    assert len(slept) == 3
    for attempt, delay in enumerate(slept, start=1):
        ceiling = 0.5 * 2 ** (attempt - 1)
        assert ceiling / 2 <= delay <= ceiling
    assert script.requests[0].headers["Authorization"] == "Bearer pak"


def test_429_honours_retry_after_capped_by_the_maximum(
    make: Callable[..., tuple[HttpBrokerGateway, Script, list[float]]],
) -> None:
    gateway, _, slept = make(error(429, **{"Retry-After": "3"}), error(429, **{"Retry-After": "120"}), OK)
    gateway.heartbeat(uuid4())
    assert slept == [3.0, 10.0]


def test_connection_errors_are_retried(
    make: Callable[..., tuple[HttpBrokerGateway, Script, list[float]]],
) -> None:
    gateway, script, slept = make(
        httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.Response(200, json=[])
    )
    assert gateway.pending_diagnostics(uuid4()) == []
    assert len(script.requests) == 3 and len(slept) == 2


def test_exhausted_retries_become_transient_errors(
    make: Callable[..., tuple[HttpBrokerGateway, Script, list[float]]],
) -> None:
    gateway, script, slept = make(error(503, code="database_unavailable", message="db down"), max_attempts=3)
    with pytest.raises(TransientError) as raised:
        gateway.heartbeat(uuid4())
    assert raised.value.code == "database_unavailable" and "db down" in raised.value.message
    assert len(script.requests) == 3 and len(slept) == 2

    gateway, script, slept = make(httpx.ConnectError("refused"), max_attempts=2)
    with pytest.raises(TransientError) as unreachable:
        gateway.heartbeat(uuid4())
    assert "unreachable" in unreachable.value.message and len(script.requests) == 2


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, ValidationError),
        (401, UnauthorizedError),
        (403, ForbiddenError),
        (404, NotFoundError),
        (409, ConflictError),
        (422, UnprocessableError),
    ],
)
def test_other_4xx_are_never_retried(
    make: Callable[..., tuple[HttpBrokerGateway, Script, list[float]]], status: int, expected: type[Exception]
) -> None:
    gateway, script, slept = make(error(status, code="the_code", message="the message"), OK)
    with pytest.raises(expected) as raised:
        gateway.heartbeat(uuid4())
    assert len(script.requests) == 1 and slept == []
    assert getattr(raised.value, "code", None) == "the_code"
    assert getattr(raised.value, "message", None) == "the message"


def test_an_error_without_a_json_body_still_says_what_happened(
    make: Callable[..., tuple[HttpBrokerGateway, Script, list[float]]],
) -> None:
    gateway, _, _ = make(httpx.Response(404, text="<html>nope</html>"))
    with pytest.raises(NotFoundError) as raised:
        gateway.heartbeat(uuid4())
    assert "404" in raised.value.message


def test_readiness_probe_is_not_retried_and_never_raises(
    make: Callable[..., tuple[HttpBrokerGateway, Script, list[float]]],
) -> None:
    gateway, script, slept = make(httpx.ConnectError("refused"))
    assert gateway.is_ready() is False
    assert len(script.requests) == 1 and slept == []
    gateway, script, _ = make(httpx.Response(200, text="Ready"))
    assert gateway.is_ready() is True
    assert script.requests[0].url.path == "/readyz"


def test_a_response_of_the_wrong_shape_is_a_domain_error(
    make: Callable[..., tuple[HttpBrokerGateway, Script, list[float]]],
) -> None:
    gateway, _, _ = make(httpx.Response(200, json=[{"id": "not-a-uuid", "payload": "{}"}]))
    with pytest.raises(BrokkrError) as raised:
        gateway.pending_webhooks(uuid4())
    assert raised.value.code == "unexpected_response"
    assert "PendingWebhookDelivery" in raised.value.message
    gateway, _, _ = make(httpx.Response(200, json={"not": "a list"}))
    with pytest.raises(BrokkrError):
        gateway.pending_diagnostics(uuid4())


def test_calls_with_side_effects_are_not_repeated_when_the_first_may_have_worked(
    make: Callable[..., tuple[HttpBrokerGateway, Script, list[float]]],
) -> None:
    """A claim whose answer was lost may have succeeded: repeating it would be refused and strand the order."""
    gateway, script, _ = make(httpx.ReadTimeout("answer lost"), httpx.Response(200, json={}))
    with pytest.raises(TransientError):
        gateway.claim_work_order(uuid4(), uuid4())
    assert len(script.requests) == 1
    gateway, script, _ = make(error(502), OK)
    with pytest.raises(TransientError):
        gateway.claim_diagnostic(uuid4())
    assert len(script.requests) == 1
    # ... but a refused or unsent request is safe to send again
    gateway, script, slept = make(httpx.ConnectError("refused"), error(503), error(429), OK)
    gateway.report_webhook(uuid4(), DeliveryOutcome(success=True))
    assert len(script.requests) == 4 and len(slept) == 3
