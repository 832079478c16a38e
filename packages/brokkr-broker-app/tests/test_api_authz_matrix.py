"""The authorization matrix over HTTP: every operation of the contract, five identities, allow or 403.

The expectations live in ``brokerapp_ops.OPERATIONS`` (one row per operation of the spec: the reference's "Who"
column plus our contract decisions). "Allowed" means anything but 401/403 (a 404 or 409 after an earlier identity
changed the world is fine); "denied" means 403 with the JSON error body and a specific code, and a denied request
leaves no audit entry. Every operation is also refused with 401 for a missing, unknown or malformed key.

One world serves the whole module (built once, ~0.2 s): the operations run in the table's order, which keeps
deletions last, and within an operation the denied identities go first, so they always face the live resource.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from starlette.routing import Mount, Route

from brokerapp_ops import BY_KEY, IDENTITIES, OPERATIONS, Operation, World, spec_operations
from brokerapp_support import serving
from brokkr_adapters_postgres.database import Database
from brokkr_broker_app.webhook_sender import HttpxWebhookSender
from brokkr_domain.settings import Settings

IDS = [f"{o.method} {o.path}" for o in OPERATIONS]


@pytest.fixture(scope="module")
def world(
    database: Database, settings_for: Callable[..., Settings], webhook_sender: HttpxWebhookSender
) -> Iterator[World]:
    with serving(database, settings_for(), webhook_sender) as broker:
        yield World(broker)


def test_the_table_and_the_app_cover_every_operation_of_the_spec(world: World) -> None:
    operations = spec_operations()
    assert len(operations) == 85
    assert set(BY_KEY) == operations, "the expectations table must have one row per operation of the spec"
    served: set[tuple[str, str]] = set()
    for route in world.b.app.routes:
        if isinstance(route, Mount) and route.path == "/api/v1":
            for child in route.routes:
                assert isinstance(child, Route)
                served |= {(m, child.path) for m in child.methods or () if m != "HEAD"}
    assert operations <= served, f"operations without a route: {sorted(operations - served)}"


def send(world: World, operation: Operation, identity: str) -> httpx.Response:
    response = world.b.request(
        operation.method,
        operation.url(world),
        world.key(identity),
        json=operation.body(world) if operation.body else None,
        params=operation.params(world) if operation.params else None,
    )
    world.observe(operation, identity, response)
    return response


def _allowed_order(operation: Operation) -> list[str]:
    """The admin last, so that e.g. an agent rotating its own key is not preceded by the admin rotating it."""
    allowed = [i for i in IDENTITIES if operation.allows(i)]
    return sorted(allowed, key=lambda i: i == "admin")


@pytest.mark.parametrize("operation", OPERATIONS, ids=IDS)
def test_authorization(world: World, operation: Operation) -> None:
    audited = world.b.audit(limit=1)["total"]
    for identity in (i for i in IDENTITIES if not operation.allows(i)):
        response = send(world, operation, identity)
        assert response.status_code == 403, (identity, response.status_code, response.text)
        body = response.json()
        assert body["code"] not in ("", "forbidden", "unauthorized") and body["message"], body
    assert world.b.audit(limit=1)["total"] == audited, "a refused request was audited"
    for identity in _allowed_order(operation):
        response = send(world, operation, identity)
        assert response.status_code not in (401, 403), (identity, response.status_code, response.text)


BAD_KEYS: dict[str, str | None] = {
    "missing": None,
    "empty": "",
    "unknown": "brokkr_BRunknwn_9XNaL2dAKxW3Q5cU7rD1yVbHfGmKpTt",
    "malformed": "not-a-pak",
    "too many parts": "brokkr_a_b_c",
    "non-ascii": "brokkr_BR\xe9_x",
}


def _any_url(operation: Operation) -> str:
    url = operation.path.replace("{id}", "00000000-0000-4000-8000-000000000001")
    for name in ("agent_id", "stack_id"):
        url = url.replace("{" + name + "}", "00000000-0000-4000-8000-000000000002")
    return url.replace("{label}", "x").replace("{key}", "k")


def test_every_operation_needs_a_valid_key(world: World) -> None:
    """Each operation with no key, an unknown key and one of the malformed ones (in turn, to stay fast)."""
    failures: list[Any] = []
    odd_cases = [case for case in BAD_KEYS if case not in ("missing", "unknown")]
    for n, operation in enumerate(OPERATIONS):
        for case in ("missing", "unknown", odd_cases[n % len(odd_cases)]):
            key = BAD_KEYS[case]
            headers = {} if key is None else {"Authorization": f"Bearer {key}".encode("latin-1")}
            response = world.b.request(operation.method, _any_url(operation), headers=headers)
            body = response.json() if response.headers.get("content-type") == "application/json" else None
            if response.status_code != 401 or not body or body.get("code") != "unauthorized":
                failures.append((operation.method, operation.path, case, response.status_code, response.text))
            elif not response.headers.get("www-authenticate", "").startswith("Bearer"):
                failures.append((operation.method, operation.path, case, "no WWW-Authenticate"))
    assert not failures


def test_a_key_may_be_sent_bare_or_as_a_bearer_token(world: World) -> None:
    for identity in IDENTITIES:
        for bearer in (True, False):
            response = world.b.request("POST", "/auth/pak", world.key(identity), bearer=bearer)
            assert response.status_code == 200, (identity, bearer, response.text)
