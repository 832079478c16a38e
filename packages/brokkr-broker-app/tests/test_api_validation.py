"""Bad input is a 4xx with the JSON error body naming what is wrong — never a 500 (contract decision 10).

Strict parsing (no ``"false"`` → ``True``, no ``1`` → ``"1"``, no string where an array belongs), missing fields,
malformed JSON, bad UUIDs in paths and queries, ids in the body that differ from the path (400), duplicates (409)
and unknown ids (404), checked over the whole API.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from brokerapp_ops import OPERATIONS, World
from brokerapp_support import serving, unique
from brokkr_adapters_postgres.database import Database
from brokkr_broker_app.webhook_sender import HttpxWebhookSender
from brokkr_domain.settings import Settings

NOWHERE = "00000000-0000-4000-8000-00000000abcd"


@pytest.fixture(scope="module")
def world(
    database: Database, settings_for: Callable[..., Settings], webhook_sender: HttpxWebhookSender
) -> Iterator[World]:
    with serving(database, settings_for(), webhook_sender) as broker:
        yield World(broker)


def error_of(
    world: World, method: str, url: str, body: Any, status: int, key: str = "admin"
) -> dict[str, Any]:
    response = world.b.request(method, url, world.key(key), json=body)
    assert response.status_code == status, (method, url, body, response.status_code, response.text)
    error: dict[str, Any] = response.json()
    assert set(error) <= {"code", "message", "details"} and error["code"] and error["message"], error
    return error


# (method, url, body, the field the error must name)
WRONG_TYPES: list[tuple[str, Callable[[World], str], Callable[[World], Any], str]] = [
    ("POST", lambda w: "/agents", lambda w: {"name": 1, "cluster_name": "c"}, "name"),
    ("POST", lambda w: "/agents", lambda w: {"name": "n", "cluster_name": None}, "cluster_name"),
    ("PUT", lambda w: f"/agents/{w.me}", lambda w: {"status": True}, "status"),
    ("POST", lambda w: "/generators", lambda w: {"name": ["g"]}, "name"),
    ("PUT", lambda w: f"/generators/{w.gen}", lambda w: {"is_active": "false"}, "is_active"),
    ("POST", lambda w: "/stacks", lambda w: {"name": "s", "generator_id": 7}, "generator_id"),
    ("POST", lambda w: "/stacks", lambda w: {"name": "s", "generator_id": "not-a-uuid"}, "generator_id"),
    (
        "POST",
        lambda w: f"/stacks/{w.stack}/deployment-objects",
        lambda w: {"yaml_content": "a: b", "is_deletion_marker": "false"},
        "is_deletion_marker",
    ),
    (
        "POST",
        lambda w: f"/stacks/{w.stack}/deployment-objects",
        lambda w: {"yaml_content": 12},
        "yaml_content",
    ),
    (
        "POST",
        lambda w: f"/stacks/{w.stack}/deployment-objects/from-template",
        lambda w: {"template_id": w.template, "parameters": ["name"]},
        "parameters",
    ),
    (
        "POST",
        lambda w: "/templates",
        lambda w: {"name": "t", "template_content": "x", "parameters_schema": {"type": "object"}},
        "parameters_schema",
    ),
    (
        "POST",
        lambda w: "/webhooks",
        lambda w: {"name": "h", "url": "http://x.test", "event_types": "*"},
        "event_types",
    ),
    (
        "POST",
        lambda w: "/webhooks",
        lambda w: {"name": "h", "url": "http://x.test", "event_types": ["*"], "max_retries": "3"},
        "max_retries",
    ),
    (
        "POST",
        lambda w: "/webhooks",
        lambda w: {"name": "h", "url": "http://x.test", "event_types": ["*"], "filters": {"labels": ["a"]}},
        "filters.labels",
    ),
    ("PUT", lambda w: f"/webhooks/{w.hook}", lambda w: {"enabled": "false"}, "enabled"),
    ("POST", lambda w: f"/work-orders/{w.claimed_order}/complete", lambda w: {"success": "false"}, "success"),
    ("POST", lambda w: f"/work-orders/{w.claimed_order}/complete", lambda w: {"success": 1}, "success"),
    (
        "POST",
        lambda w: f"/work-orders/{w.claimed_order}/complete",
        lambda w: {"success": False, "retryable": "yes"},
        "retryable",
    ),
    ("POST", lambda w: f"/work-orders/{w.pending_order}/claim", lambda w: {"agent_id": 5}, "agent_id"),
    (
        "POST",
        lambda w: "/work-orders",
        lambda w: {"work_type": "custom", "yaml_content": "x", "targeting": {"agent_ids": "me"}},
        "targeting.agent_ids",
    ),
    (
        "POST",
        lambda w: "/work-orders",
        lambda w: {"work_type": "custom", "yaml_content": "x", "targeting": {"agent_ids": ["nope"]}},
        "targeting.agent_ids[0]",
    ),
    (
        "PATCH",
        lambda w: f"/agents/{w.me}/health-status",
        lambda w: {"deployment_objects": [{"id": w.obj, "status": "healthy", "checked_at": "yesterday"}]},
        "deployment_objects[0].checked_at",
    ),
    (
        "PATCH",
        lambda w: f"/agents/{w.me}/health-status",
        lambda w: {
            "deployment_objects": [{"id": w.obj, "status": "healthy", "checked_at": "2024-01-01T00:00:00"}]
        },
        "deployment_objects[0].checked_at",
    ),
    (
        "POST",
        lambda w: f"/deployment-objects/{w.obj}/diagnostics",
        lambda w: {"agent_id": w.me, "retention_minutes": "60"},
        "retention_minutes",
    ),
    (
        "POST",
        lambda w: f"/webhook-deliveries/{w.delivery}/result",
        lambda w: {"success": "true"},
        "success",
    ),
]

MISSING: list[tuple[str, Callable[[World], str], Callable[[World], Any], str]] = [
    ("POST", lambda w: "/agents", lambda w: {"name": "a"}, "cluster_name"),
    ("POST", lambda w: "/generators", lambda w: {"description": "no name"}, "name"),
    ("POST", lambda w: "/stacks", lambda w: {"name": "s"}, "generator_id"),
    ("POST", lambda w: f"/stacks/{w.stack}/deployment-objects", lambda w: {}, "yaml_content"),
    ("POST", lambda w: "/templates", lambda w: {"name": "t", "template_content": "x"}, "parameters_schema"),
    ("POST", lambda w: "/webhooks", lambda w: {"name": "h", "url": "http://x.test"}, "event_types"),
    ("POST", lambda w: "/work-orders", lambda w: {"yaml_content": "x"}, "work_type"),
    ("POST", lambda w: f"/work-orders/{w.claimed_order}/complete", lambda w: {"message": "m"}, "success"),
    ("POST", lambda w: f"/agents/{w.me}/targets", lambda w: {"agent_id": w.me}, "stack_id"),
    ("POST", lambda w: f"/diagnostics/{w.claimed_diag}/result", lambda w: {"pod_statuses": "[]"}, "events"),
]


def _ids(cases: list[tuple[str, Any, Any, str]]) -> list[str]:
    return [f"{m} {field}" for m, _, _, field in cases]


@pytest.mark.parametrize(
    ("method", "url", "body", "field"), WRONG_TYPES + MISSING, ids=_ids(WRONG_TYPES + MISSING)
)
def test_wrong_types_and_missing_fields_are_400_naming_the_field(
    world: World, method: str, url: Callable[[World], str], body: Callable[[World], Any], field: str
) -> None:
    key = "same_agent" if "/result" in url(world) else "admin"
    error = error_of(world, method, url(world), body(world), 400, key)
    assert error["details"]["field"] == field, error
    assert field.split("[", maxsplit=1)[0].rsplit(".", maxsplit=1)[-1] in error["message"], error


JSON_BODIES = [o for o in OPERATIONS if o.body is not None and o.method != "GET"]


def test_malformed_and_non_object_json_is_400_on_every_operation_with_a_body(world: World) -> None:
    for operation in JSON_BODIES:
        url = operation.url(world)
        for raw in (b"{", b"", b"[1, 2]", b"null", b"\xff\xfe"):
            if operation.path.endswith("/labels") and raw in (b"null",):
                continue
            key = world.key("same_agent" if not operation.allows("admin") else "admin")
            response = world.b.request(operation.method, url, key, content=raw)
            assert response.status_code == 400, (operation.key, raw, response.status_code, response.text)
            assert response.json()["code"] in ("invalid_json", "invalid_label"), (operation.key, raw)


def _with_bad_ids(path: str) -> str | None:
    if "{" not in path:
        return None
    return path.format(id="not-a-uuid", agent_id="12345", stack_id="zzz", label="x", key="k")


def test_a_malformed_uuid_in_the_path_is_400_naming_the_parameter(world: World) -> None:
    checked = 0
    for operation in OPERATIONS:
        url = _with_bad_ids(operation.path)
        if url is None or (operation.path.endswith(("{label}", "{key}")) and "{id}" not in operation.path):
            continue
        body = operation.body(world) if operation.body else None
        identity = "admin" if operation.allows("admin") else "same_agent"
        response = world.b.request(operation.method, url, world.key(identity), json=body)
        assert response.status_code == 400, (operation.key, response.status_code, response.text)
        error = response.json()
        assert error["details"]["field"] in ("id", "agent_id", "stack_id"), (operation.key, error)
        checked += 1
    assert checked > 50


def test_unknown_ids_are_404(world: World) -> None:
    """Every operation on a resource that does not exist, as the admin (or the agent for agent-only ones)."""
    expected_other = {("DELETE", "/agents/{id}"): 204}  # the spec: deleting an absent agent is not an error
    for operation in OPERATIONS:
        if "{" not in operation.path:
            continue
        url = operation.path.format(id=NOWHERE, agent_id=NOWHERE, stack_id=NOWHERE, label="x", key="k")
        if operation.path.startswith("/agents/{id}/") and not operation.allows("admin"):
            continue  # agent-only operations on another agent's id are 403 by design
        identity = "admin" if operation.allows("admin") else "same_agent"
        body = operation.body(world) if operation.body else None
        if isinstance(body, dict):  # a repeated parent id would not match the unknown id of the path (400)
            parent = {"/agents/{id}/": "agent_id", "/stacks/{id}/": "stack_id"}
            for prefix, field in parent.items():
                if operation.path.startswith(prefix):
                    body.pop(field, None)
        response = world.b.request(operation.method, url, world.key(identity), json=body)
        expected = expected_other.get(operation.key, 404)
        assert response.status_code == expected, (operation.key, response.status_code, response.text)


def test_bad_query_parameters_are_400_naming_them(world: World) -> None:
    cases = {
        "/admin/audit-logs?limit=abc": "limit",
        "/admin/audit-logs?limit=5000": "limit",
        "/admin/audit-logs?offset=-1": "offset",
        "/admin/audit-logs?from=yesterday": "from",
        "/admin/audit-logs?to=2024-01-01T00:00:00": "to",
        "/admin/audit-logs?actor_id=nope": "actor_id",
        "/admin/audit-logs?resource_id=1": "resource_id",
        "/work-order-log?success=maybe": "success",
        "/work-order-log?agent_id=x": "agent_id",
        "/work-order-log?limit=-3": "limit",
        "/work-orders?status=BOGUS": "status",
        f"/webhooks/{world.hook}/deliveries?status=bogus": "status",
        f"/webhooks/{world.hook}/deliveries?limit=0": "limit",
        "/agents/?name=x": "cluster_name",
    }
    for url, field in cases.items():
        error = error_of(world, "GET", url, None, 400)
        assert error["details"]["field"] == field, (url, error)


# ids repeated in the body must equal the path's (contract decision 10)
MISMATCHES: list[tuple[str, Callable[[World], str], Callable[[World], Any], str]] = [
    ("POST", lambda w: f"/agents/{w.me}/labels", lambda w: {"agent_id": w.other, "label": "x"}, "agent_id"),
    (
        "POST",
        lambda w: f"/agents/{w.me}/annotations",
        lambda w: {"agent_id": w.other, "key": "k", "value": "v"},
        "agent_id",
    ),
    (
        "POST",
        lambda w: f"/agents/{w.me}/targets",
        lambda w: {"agent_id": w.other, "stack_id": w.stack2},
        "agent_id",
    ),
    (
        "POST",
        lambda w: f"/agents/{w.me}/events",
        lambda w: {
            "agent_id": w.other,
            "deployment_object_id": w.obj,
            "event_type": "D",
            "status": "SUCCESS",
        },
        "agent_id",
    ),
    ("PUT", lambda w: f"/agents/{w.me}", lambda w: {"id": w.other, "status": "ACTIVE"}, "id"),
    ("PUT", lambda w: f"/generators/{w.gen}", lambda w: {"id": w.other_gen, "description": "d"}, "id"),
    ("PUT", lambda w: f"/stacks/{w.stack}", lambda w: {"id": w.stack2, "description": "d"}, "id"),
    (
        "POST",
        lambda w: f"/stacks/{w.stack}/labels",
        lambda w: {"stack_id": w.stack2, "label": "x"},
        "stack_id",
    ),
    (
        "POST",
        lambda w: f"/stacks/{w.stack}/annotations",
        lambda w: {"stack_id": w.stack2, "key": "k", "value": "v"},
        "stack_id",
    ),
    (
        "POST",
        lambda w: f"/templates/{w.template}/labels",
        lambda w: {"template_id": w.system_template, "label": "x"},
        "template_id",
    ),
    (
        "POST",
        lambda w: f"/templates/{w.template}/annotations",
        lambda w: {"template_id": w.system_template, "key": "k", "value": "v"},
        "template_id",
    ),
]


@pytest.mark.parametrize(("method", "url", "body", "field"), MISMATCHES, ids=_ids(MISMATCHES))
def test_an_id_in_the_body_must_match_the_path(
    world: World, method: str, url: Callable[[World], str], body: Callable[[World], Any], field: str
) -> None:
    error = error_of(world, method, url(world), body(world), 400)
    assert error["code"].endswith("_mismatch") and error["details"]["field"] == field, error


DUPLICATES: list[tuple[str, Callable[[World], str], Callable[[World], Any]]] = [
    ("POST", lambda w: "/agents", lambda w: {"name": w.me_name, "cluster_name": "c"}),
    ("POST", lambda w: "/generators", lambda w: {"name": "admin-generator"}),
    ("POST", lambda w: f"/agents/{w.me}/labels", lambda w: {"agent_id": w.me, "label": "edge"}),
    (
        "POST",
        lambda w: f"/agents/{w.me}/annotations",
        lambda w: {"agent_id": w.me, "key": "tier", "value": "x"},
    ),
    ("POST", lambda w: f"/agents/{w.me}/targets", lambda w: {"agent_id": w.me, "stack_id": w.stack}),
    ("POST", lambda w: f"/stacks/{w.stack}/labels", lambda w: "edge"),
    ("POST", lambda w: f"/stacks/{w.stack}/annotations", lambda w: {"key": "tier", "value": "x"}),
    ("POST", lambda w: f"/templates/{w.template}/labels", lambda w: "edge"),
    ("POST", lambda w: f"/templates/{w.template}/annotations", lambda w: {"key": "tier", "value": "x"}),
]


@pytest.mark.parametrize(
    ("method", "url", "body"), DUPLICATES, ids=[f"{m} {i}" for i, (m, _, _) in enumerate(DUPLICATES)]
)
def test_duplicates_are_409(
    world: World, method: str, url: Callable[[World], str], body: Callable[[World], Any]
) -> None:
    error = error_of(world, method, url(world), body(world), 409)
    assert error["code"] == "unique_violation", error


def test_a_stack_name_is_unique_until_the_stack_is_deleted(world: World) -> None:
    name = unique("stack")
    first = world.b.create_stack(world.gen, name=name)
    error_of(world, "POST", "/stacks", {"name": name, "generator_id": world.gen}, 409)
    world.b.ok("DELETE", f"/stacks/{first['id']}", status=204)
    world.b.create_stack(world.gen, name=name)


def test_label_bodies_in_every_shape_clients_send(world: World) -> None:
    b = world.b
    as_string = b.ok("POST", f"/stacks/{world.stack2}/labels", json="one")
    as_object = b.ok(
        "POST", f"/stacks/{world.stack2}/labels", json={"stack_id": world.stack2, "label": "two"}
    )
    plain = b.request(
        "POST",
        f"/stacks/{world.stack2}/labels",
        b.admin,
        content=b"three",
        headers={"Content-Type": "text/plain"},
    )
    assert plain.status_code == 200, plain.text
    assert [as_string["label"], as_object["label"], plain.json()["label"]] == ["one", "two", "three"]
    error = error_of(world, "POST", f"/stacks/{world.stack2}/labels", 5, 400)
    assert error["code"] == "invalid_label"
    error = error_of(world, "POST", f"/templates/{world.template}/labels", "bad label!", 400)
    assert error["code"] == "invalid_label" and error["details"]["field"] == "label"


def test_unknown_routes_and_methods_answer_with_the_error_body(world: World) -> None:
    assert error_of(world, "GET", "/nothing-here", None, 404)["code"] == "not_found"
    assert error_of(world, "PATCH", "/agents", None, 405)["code"] == "method_not_allowed"


def test_oversized_and_odd_values_never_reach_the_database_as_errors(world: World) -> None:
    """Values PostgreSQL would refuse (NUL characters, overlong names) are 400, not 500."""
    for body in (
        {"name": "a\u0000b", "cluster_name": "c"},
        {"name": "x" * 300, "cluster_name": "c"},
        {"name": "   ", "cluster_name": "c"},
    ):
        error = error_of(world, "POST", "/agents", body, 400)
        assert error["details"]["field"] == "name", error
    error_of(world, "POST", "/stacks", {"name": "s" + "\u0000", "generator_id": world.gen}, 400)
    error_of(
        world,
        "POST",
        f"/agents/{world.me}/events",
        {"deployment_object_id": world.obj, "event_type": "D", "status": "MAYBE"},
        400,
    )
    assert uuid.UUID(world.me)


def test_an_oversized_body_is_413_before_it_is_read_whole(world: World) -> None:
    big = b'{"name": "' + b"x" * (9 * 1024 * 1024) + b'", "cluster_name": "c"}'
    declared = world.b.request("POST", "/agents", world.key("admin"), content=big)
    assert declared.status_code == 413 and declared.json()["code"] == "payload_too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is enforced while streaming
        yield b'{"name": "'
        for _ in range(9):
            yield b"x" * (1024 * 1024)
        yield b'", "cluster_name": "c"}'

    streamed = world.b.client.post(
        "/api/v1/agents", content=chunks(), headers={"Authorization": f"Bearer {world.key('admin')}"}
    )
    assert streamed.status_code == 413 and streamed.json()["code"] == "payload_too_large"
