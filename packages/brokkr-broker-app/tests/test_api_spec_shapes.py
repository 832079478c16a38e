"""Every response body of a scenario that exercises all 85 operations decodes with the spec's schemas.

The scenario runs ``brokerapp_ops.OPERATIONS`` in order, each as every identity allowed to call it (the admin, the
agent and the generator that own the world), and checks:

- each operation answered its spec success status at least once (``POST /agents`` 200, ``POST /generators`` 201…);
- each JSON body validates against the spec's schema for its status (4xx bodies against ``ErrorResponse``), with a
  tiny OpenAPI-3.0 → JSON-Schema translation: ``#/components/schemas`` refs resolved, ``nullable`` honoured,
  optional properties may be null, extra properties allowed (extensions are welcome), ``uuid`` and
  ``date-time`` formats checked.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from uuid import UUID

import httpx
import jsonschema
import pytest

from brokerapp_ops import IDENTITIES, OPERATIONS, Operation, World, spec
from brokerapp_support import Broker, Receiver

SPEC = spec()
NULL = {"type": "null"}

# Responses the spec leaves untyped (``schema: {}``) or does not list; our contract for them.
EXTRA_RESPONSES: dict[tuple[str, str, int], dict[str, Any]] = {
    ("POST", "/agents", 200): {
        "type": "object",
        "required": ["agent", "initial_pak"],
        "properties": {"agent": {"$ref": "#/components/schemas/Agent"}, "initial_pak": {"type": "string"}},
    },
    ("POST", "/agents/{id}/rotate-pak", 200): {
        "type": "object",
        "required": ["agent", "pak"],
        "properties": {"agent": {"$ref": "#/components/schemas/Agent"}, "pak": {"type": "string"}},
    },
    ("POST", "/webhooks/{id}/test", 200): {
        "type": "object",
        "required": ["success", "status_code", "message"],
        "properties": {
            "success": {"const": True},
            "status_code": {"type": "integer"},
            "message": {"type": "string"},
        },
    },
    ("POST", "/webhook-deliveries/{id}/result", 200): {
        "type": "object",
        "required": ["status", "delivery_id"],
        "properties": {"status": {"type": "string"}, "delivery_id": {"type": "string", "format": "uuid"}},
    },
    ("POST", "/work-orders/{id}/complete", 202): {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"const": "retry_scheduled"}},
    },
}


def to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 schema object → JSON Schema (draft 7) with the leniencies described above."""
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return {"$ref": node["$ref"]}  # 3.0 ignores a $ref's siblings
    out = {
        k: v for k, v in node.items() if k not in ("nullable", "example", "properties", "items", "required")
    }
    if "items" in node:
        out["items"] = to_json_schema(node["items"])
    if "properties" in node:
        required = set(node.get("required", ()))
        out["required"] = sorted(required)
        out["properties"] = {
            name: to_json_schema(prop) if name in required else {"anyOf": [to_json_schema(prop), NULL]}
            for name, prop in node["properties"].items()
        }
    if isinstance(node.get("additionalProperties"), dict):
        out["additionalProperties"] = to_json_schema(node["additionalProperties"])
    if node.get("nullable"):
        return {"anyOf": [out, NULL]}
    return out


COMPONENTS = {name: to_json_schema(s) for name, s in SPEC["components"]["schemas"].items()}
FORMATS = jsonschema.FormatChecker(formats=())


@FORMATS.checks("uuid", raises=ValueError)
def _is_uuid(value: object) -> bool:
    return not isinstance(value, str) or bool(UUID(value))


@FORMATS.checks("date-time", raises=ValueError)
def _is_timestamp(value: object) -> bool:
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            raise ValueError("a timestamp without a time zone")
    return True


def validator_for(schema: Any) -> jsonschema.Draft7Validator:
    root = {"allOf": [to_json_schema(schema)], "components": {"schemas": COMPONENTS}}
    return jsonschema.Draft7Validator(root, format_checker=FORMATS)


def response_schema(method: str, path: str, status: int) -> Any | None:
    """The schema a response must match; ``None`` when the body must be empty."""
    if (method, path, status) in EXTRA_RESPONSES:
        return EXTRA_RESPONSES[(method, path, status)]
    declared = SPEC["paths"][path][method.lower()]["responses"].get(str(status))
    if declared is None:
        assert status >= 400, f"{method} {path} answered {status}, which the spec does not list"
        return {"$ref": "#/components/schemas/ErrorResponse"}
    content = declared.get("content", {}).get("application/json")
    return None if content is None else content.get("schema", {})


def success_status(method: str, path: str) -> int:
    return next(
        int(code) for code in SPEC["paths"][path][method.lower()]["responses"] if code.startswith("2")
    )


def check(operation: Operation, response: httpx.Response) -> list[str]:
    """Problems with one response (empty when it conforms)."""
    schema = response_schema(operation.method, operation.path, response.status_code)
    where = f"{operation.method} {operation.path} -> {response.status_code}"
    if schema is None:
        return [] if not response.content else [f"{where}: expected no body, got {response.text[:200]}"]
    if not response.headers.get("content-type", "").startswith("application/json"):
        return [f"{where}: not JSON ({response.headers.get('content-type')})"]
    errors = sorted(validator_for(schema).iter_errors(response.json()), key=lambda e: list(e.absolute_path))
    return [f"{where}: {'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:5]]


@pytest.fixture
def receiver() -> Any:
    with Receiver() as r:
        yield r


def test_every_response_of_every_operation_matches_the_spec(broker: Broker, receiver: Receiver) -> None:
    world = World(broker, hook_url=receiver.url)
    problems: list[str] = []
    succeeded: set[tuple[str, str]] = set()
    for operation in OPERATIONS:
        identities = sorted((i for i in IDENTITIES if operation.allows(i)), key=lambda i: i == "admin")
        for identity in identities:
            response = broker.request(
                operation.method,
                operation.url(world),
                world.key(identity),
                json=operation.body(world) if operation.body else None,
                params=operation.params(world) if operation.params else None,
            )
            world.observe(operation, identity, response)
            problems += check(operation, response)
            if response.status_code == success_status(operation.method, operation.path):
                succeeded.add(operation.key)
    assert not problems, "\n".join(problems)
    missing = sorted({o.key for o in OPERATIONS} - succeeded)
    assert not missing, f"operations that never answered their spec success status: {missing}"


def test_denials_and_validation_errors_are_error_responses(broker: Broker) -> None:
    world = World(broker)
    problems: list[str] = []
    for operation in OPERATIONS:
        denied = next((i for i in IDENTITIES if not operation.allows(i)), None)
        if denied is not None:
            body = operation.body(world) if operation.body else None
            params = operation.params(world) if operation.params else None
            response = broker.request(
                operation.method, operation.url(world), world.key(denied), json=body, params=params
            )
            assert response.status_code == 403, (operation.key, response.status_code)
            problems += check(operation, response)
    assert not problems, "\n".join(problems)


def test_timestamps_are_rfc3339_in_utc(broker: Broker) -> None:
    agent, _ = broker.create_agent()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", agent["created_at"]), agent["created_at"]


def test_the_validator_is_not_vacuous() -> None:
    agent = {
        "id": "3c649377-7570-4552-aae1-404743860c89",
        "name": "a",
        "cluster_name": "c",
        "status": "ACTIVE",
        "created_at": "2024-01-01T00:00:00Z",
        "updated_at": "2024-01-01T00:00:00Z",
    }
    validator = validator_for({"$ref": "#/components/schemas/Agent"})
    assert validator.is_valid(
        {**agent, "last_heartbeat": None, "extension": 1}
    )  # null optional, extra allowed
    assert not validator.is_valid({k: v for k, v in agent.items() if k != "id"})  # required
    assert not validator.is_valid({**agent, "id": "not-a-uuid"})  # format
    assert not validator.is_valid({**agent, "created_at": "2024-01-01T00:00:00"})  # no time zone
    assert not validator.is_valid({**agent, "name": None})  # required and not nullable
    assert not validator.is_valid({**agent, "status": 1})  # type
    listing = validator_for(
        SPEC["paths"]["/agents"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    )
    assert listing.is_valid([agent]) and not listing.is_valid([{**agent, "id": 5}])
