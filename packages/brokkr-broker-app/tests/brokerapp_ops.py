"""Every operation of the v1 contract as data: how to call it in a fixture world, and who may call it.

``World`` builds, through the API, one of everything with two of each identity: the resources belong to the agent
``same_agent`` and the generator ``owning_generator``; ``other_agent`` and ``other_generator`` own nothing of it.
``OPERATIONS`` maps each ``(METHOD, spec path)`` of the contract to a concrete request in that world and to the
identities allowed to make it (our contract decisions on top of the reference's "Who" column), and is shared by
the authorization matrix and the response-shape test.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import attrs
import httpx

from brokerapp_support import TEMPLATE, TEMPLATE_SCHEMA, Broker, unique

IDENTITIES = ("admin", "same_agent", "other_agent", "owning_generator", "other_generator")
HTTP_METHODS = ("get", "post", "put", "delete", "patch")


def spec() -> dict[str, Any]:
    """The contract shipped inside the app (tests never read ../shared, which CI may not have)."""
    text = resources.files("brokkr_broker_app").joinpath("openapi.json").read_text(encoding="utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


def spec_operations() -> set[tuple[str, str]]:
    return {(m.upper(), path) for path, ops in spec()["paths"].items() for m in ops if m in HTTP_METHODS}


def now() -> str:
    return datetime.now(UTC).isoformat()


class World:
    """One of every resource, built through the API as the admin and as the owning identities."""

    def __init__(self, broker: Broker, hook_url: str = "http://127.0.0.1:9/hook") -> None:
        self.b = b = broker
        gen, gen_pak = b.create_generator()
        other_gen, other_gen_pak = b.create_generator()
        me, me_pak = b.create_agent(name=unique("me"), cluster="c")
        other, other_pak = b.create_agent()
        self.gen, self.other_gen, self.me, self.other = gen["id"], other_gen["id"], me["id"], other["id"]
        self.me_name = me["name"]
        self.keys = {
            "admin": b.admin,
            "same_agent": me_pak,
            "other_agent": other_pak,
            "owning_generator": gen_pak,
            "other_generator": other_gen_pak,
        }
        # an agent-routed webhook: stack events become deliveries that "me" (label edge) may claim
        self.hook = b.create_webhook(hook_url, event_types=["stack.*"], target_labels=["edge"])["id"]
        b.ok("POST", f"/agents/{self.me}/labels", json={"agent_id": self.me, "label": "edge"})
        b.ok(
            "POST",
            f"/agents/{self.me}/annotations",
            json={"agent_id": self.me, "key": "tier", "value": "gold"},
        )
        self.stack = b.create_stack(self.gen, gen_pak)["id"]
        self.stack2 = b.create_stack(self.gen, gen_pak)["id"]
        b.ok("POST", f"/stacks/{self.stack}/labels", gen_pak, json="edge")
        b.ok("POST", f"/stacks/{self.stack}/annotations", gen_pak, json={"key": "tier", "value": "gold"})
        b.ok("POST", f"/agents/{self.me}/targets", json={"agent_id": self.me, "stack_id": self.stack})
        self.obj = b.create_object(self.stack, gen_pak)["id"]
        self.template = b.create_template(gen_pak)["id"]
        b.ok("POST", f"/templates/{self.template}/labels", gen_pak, json="edge")
        b.ok(
            "POST", f"/templates/{self.template}/annotations", gen_pak, json={"key": "tier", "value": "gold"}
        )
        self.system_template = b.create_template()["id"]
        self.event = b.ok(
            "POST",
            f"/agents/{self.me}/events",
            me_pak,
            json={
                "agent_id": self.me,
                "deployment_object_id": self.obj,
                "event_type": "DEPLOY",
                "status": "SUCCESS",
            },
        )["id"]
        b.ok(
            "PATCH",
            f"/agents/{self.me}/health-status",
            me_pak,
            json={"deployment_objects": [{"id": self.obj, "status": "healthy", "checked_at": now()}]},
        )
        self.pending_order = b.create_work_order([self.me])["id"]
        self.claimed_order = b.create_work_order([self.me])["id"]
        b.ok("POST", f"/work-orders/{self.claimed_order}/claim", me_pak, json={"agent_id": self.me})
        done = b.create_work_order([self.me])["id"]
        b.ok("POST", f"/work-orders/{done}/claim", me_pak, json={"agent_id": self.me})
        self.log_entry = b.ok("POST", f"/work-orders/{done}/complete", me_pak, json={"success": True})["id"]
        diagnostic = {"agent_id": self.me}
        self.pending_diag = b.ok(
            "POST", f"/deployment-objects/{self.obj}/diagnostics", json=diagnostic, status=201
        )["id"]
        self.claimed_diag = b.ok(
            "POST", f"/deployment-objects/{self.obj}/diagnostics", json=diagnostic, status=201
        )["id"]
        b.ok("POST", f"/diagnostics/{self.claimed_diag}/claim", me_pak)
        acquired = b.ok("GET", f"/agents/{self.me}/webhooks/pending", me_pak)
        assert acquired, "the agent-routed deliveries were not offered to the agent"
        self.delivery = acquired[0]["id"]
        b.create_stack(self.gen, gen_pak)  # one more delivery left pending for the agent

    def key(self, identity: str) -> str:
        return self.keys[identity]

    def observe(self, operation: Operation, identity: str, response: httpx.Response) -> None:
        """Follow key rotations, so later requests use the identities' current keys."""
        if operation.path.endswith("/rotate-pak") and response.status_code == 200:
            rotated = "same_agent" if operation.path.startswith("/agents") else "owning_generator"
            self.keys[rotated] = response.json()["pak"]
        # a deleted identity is replaced, so that later rows still face all five identities
        if operation.key == ("DELETE", "/generators/{id}") and response.status_code == 204:
            generator, self.keys["owning_generator"] = self.b.create_generator()
            self.gen = generator["id"]
        if operation.key == ("DELETE", "/agents/{id}") and response.status_code == 204:
            agent, self.keys["same_agent"] = self.b.create_agent()
            self.me, self.me_name = agent["id"], agent["name"]


Url = Callable[[World], str]
Body = Callable[[World], Any]


@attrs.frozen
class Operation:
    method: str
    path: str  # as in the spec, relative to /api/v1
    url: Url
    allowed: str  # one letter per identity of IDENTITIES: "A" allowed, "." denied (403)
    body: Body | None = None
    params: Callable[[World], dict[str, str]] | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.method, self.path)

    def allows(self, identity: str) -> bool:
        return self.allowed[IDENTITIES.index(identity)] == "A"


def _tpl_body(_: World) -> dict[str, Any]:
    return {"template_content": TEMPLATE, "parameters_schema": TEMPLATE_SCHEMA, "description": "v2"}


def op(method: str, path: str, url: Url, allowed: str, body: Body | None = None, **kw: Any) -> Operation:
    return Operation(method=method, path=path, url=url, allowed=allowed, body=body, **kw)


# Ordered so that one pass (the response-shape scenario) succeeds: creations and reads first, deletions last.
OPERATIONS: tuple[Operation, ...] = (
    op("POST", "/auth/pak", lambda w: "/auth/pak", "AAAAA"),
    # agents
    op("GET", "/agents", lambda w: "/agents", "A...."),
    op(
        "POST",
        "/agents",
        lambda w: "/agents",
        "A....",
        lambda w: {"name": unique("new"), "cluster_name": "c"},
    ),
    op(
        "GET",
        "/agents/",
        lambda w: "/agents/",
        "AA...",
        params=lambda w: {"name": w.me_name, "cluster_name": "c"},
    ),
    op("GET", "/agents/{id}", lambda w: f"/agents/{w.me}", "AA..."),
    op("PUT", "/agents/{id}", lambda w: f"/agents/{w.me}", "AA...", lambda w: {"status": "ACTIVE"}),
    op("GET", "/agents/{id}/events", lambda w: f"/agents/{w.me}/events", "AA..."),
    op(
        "POST",
        "/agents/{id}/events",
        lambda w: f"/agents/{w.me}/events",
        "AA...",
        lambda w: {
            "agent_id": w.me,
            "deployment_object_id": w.obj,
            "event_type": "DEPLOY",
            "status": "FAILURE",
        },
    ),
    op("GET", "/agents/{id}/labels", lambda w: f"/agents/{w.me}/labels", "AA..."),
    op(
        "POST",
        "/agents/{id}/labels",
        lambda w: f"/agents/{w.me}/labels",
        "A....",
        lambda w: {"agent_id": w.me, "label": "new"},
    ),
    op("GET", "/agents/{id}/annotations", lambda w: f"/agents/{w.me}/annotations", "AA..."),
    op(
        "POST",
        "/agents/{id}/annotations",
        lambda w: f"/agents/{w.me}/annotations",
        "A....",
        lambda w: {"agent_id": w.me, "key": "zone", "value": "eu"},
    ),
    op("GET", "/agents/{id}/targets", lambda w: f"/agents/{w.me}/targets", "AA..."),
    op(
        "POST",
        "/agents/{id}/targets",
        lambda w: f"/agents/{w.me}/targets",
        "AA...",
        lambda w: {"agent_id": w.me, "stack_id": w.stack2},
    ),
    op("POST", "/agents/{id}/heartbeat", lambda w: f"/agents/{w.me}/heartbeat", ".A..."),
    op(
        "GET",
        "/agents/{id}/target-state",
        lambda w: f"/agents/{w.me}/target-state",
        "AA...",
        params=lambda w: {"mode": "full"},
    ),
    op("GET", "/agents/{id}/stacks", lambda w: f"/agents/{w.me}/stacks", "AA..."),
    op(
        "PATCH",
        "/agents/{id}/health-status",
        lambda w: f"/agents/{w.me}/health-status",
        "AA...",
        lambda w: {"deployment_objects": [{"id": w.obj, "status": "degraded", "checked_at": now()}]},
    ),
    op("GET", "/agents/{id}/diagnostics/pending", lambda w: f"/agents/{w.me}/diagnostics/pending", "AA..."),
    op(
        "GET",
        "/agents/{agent_id}/work-orders/pending",
        lambda w: f"/agents/{w.me}/work-orders/pending",
        "AA...",
    ),
    op("GET", "/agents/{agent_id}/webhooks/pending", lambda w: f"/agents/{w.me}/webhooks/pending", "AA..."),
    op("GET", "/agent-events", lambda w: "/agent-events", "AAAAA"),
    op("GET", "/agent-events/{id}", lambda w: f"/agent-events/{w.event}", "AA.A."),
    # deployment objects, health, diagnostics
    op("GET", "/deployment-objects/{id}", lambda w: f"/deployment-objects/{w.obj}", "AA.A."),
    op("GET", "/deployment-objects/{id}/health", lambda w: f"/deployment-objects/{w.obj}/health", "A...."),
    op(
        "POST",
        "/deployment-objects/{id}/diagnostics",
        lambda w: f"/deployment-objects/{w.obj}/diagnostics",
        "A....",
        lambda w: {"agent_id": w.me, "requested_by": "ops", "retention_minutes": 30},
    ),
    op("GET", "/diagnostics/{id}", lambda w: f"/diagnostics/{w.pending_diag}", "AA..."),
    op("POST", "/diagnostics/{id}/claim", lambda w: f"/diagnostics/{w.pending_diag}/claim", "AA..."),
    op(
        "POST",
        "/diagnostics/{id}/result",
        lambda w: f"/diagnostics/{w.claimed_diag}/result",
        ".A...",
        lambda w: {"pod_statuses": "[]", "events": "[]", "log_tails": "{}", "collected_at": now()},
    ),
    # generators
    op("GET", "/generators", lambda w: "/generators", "A...."),
    op(
        "POST",
        "/generators",
        lambda w: "/generators",
        "A....",
        lambda w: {"name": unique("g"), "description": "ci"},
    ),
    op("GET", "/generators/{id}", lambda w: f"/generators/{w.gen}", "A..A."),
    op(
        "PUT",
        "/generators/{id}",
        lambda w: f"/generators/{w.gen}",
        "A..A.",
        lambda w: {"description": "changed"},
    ),
    # stacks
    op("GET", "/stacks", lambda w: "/stacks", "A..AA"),
    op(
        "POST",
        "/stacks",
        lambda w: "/stacks",
        "A..A.",
        lambda w: {"name": unique("s"), "generator_id": w.gen},
    ),
    op("GET", "/stacks/{id}", lambda w: f"/stacks/{w.stack}", "A..A."),
    op("PUT", "/stacks/{id}", lambda w: f"/stacks/{w.stack}", "A..A.", lambda w: {"description": "changed"}),
    op("GET", "/stacks/{id}/deployment-objects", lambda w: f"/stacks/{w.stack}/deployment-objects", "A..A."),
    op(
        "POST",
        "/stacks/{id}/deployment-objects",
        lambda w: f"/stacks/{w.stack}/deployment-objects",
        "A..A.",
        lambda w: {"yaml_content": "kind: ConfigMap\napiVersion: v1\nmetadata:\n  name: two\n"},
    ),
    op(
        "POST",
        "/stacks/{stack_id}/deployment-objects/from-template",
        lambda w: f"/stacks/{w.stack}/deployment-objects/from-template",
        "A..A.",
        lambda w: {"template_id": w.template, "parameters": {"name": "rendered", "replicas": 2}},
    ),
    op("GET", "/stacks/{id}/labels", lambda w: f"/stacks/{w.stack}/labels", "AA.A."),
    op("POST", "/stacks/{id}/labels", lambda w: f"/stacks/{w.stack}/labels", "A..A.", lambda w: "new"),
    op("GET", "/stacks/{id}/annotations", lambda w: f"/stacks/{w.stack}/annotations", "AA.A."),
    op(
        "POST",
        "/stacks/{id}/annotations",
        lambda w: f"/stacks/{w.stack}/annotations",
        "A..A.",
        lambda w: {"stack_id": w.stack, "key": "zone", "value": "eu"},
    ),
    op("GET", "/stacks/{id}/health", lambda w: f"/stacks/{w.stack}/health", "A...."),
    # templates (the world's template belongs to the owning generator)
    op("GET", "/templates", lambda w: "/templates", "A..AA"),
    op(
        "POST",
        "/templates",
        lambda w: "/templates",
        "A..AA",
        lambda w: {"name": unique("t"), "template_content": TEMPLATE, "parameters_schema": TEMPLATE_SCHEMA},
    ),
    op("GET", "/templates/{id}", lambda w: f"/templates/{w.template}", "A..A."),
    op("GET", "/templates/{id}/labels", lambda w: f"/templates/{w.template}/labels", "A..A."),
    op(
        "POST",
        "/templates/{id}/labels",
        lambda w: f"/templates/{w.template}/labels",
        "A..A.",
        lambda w: "extra",
    ),
    op("GET", "/templates/{id}/annotations", lambda w: f"/templates/{w.template}/annotations", "A..A."),
    op(
        "POST",
        "/templates/{id}/annotations",
        lambda w: f"/templates/{w.template}/annotations",
        "A..A.",
        lambda w: {"key": "zone", "value": "eu"},
    ),
    # webhooks
    op("GET", "/webhooks", lambda w: "/webhooks", "A...."),
    op(
        "POST",
        "/webhooks",
        lambda w: "/webhooks",
        "A....",
        lambda w: {"name": unique("h"), "url": "https://hooks.example/x", "event_types": ["agent.*"]},
    ),
    op("GET", "/webhooks/event-types", lambda w: "/webhooks/event-types", "A...."),
    op("GET", "/webhooks/{id}", lambda w: f"/webhooks/{w.hook}", "A...."),
    op("PUT", "/webhooks/{id}", lambda w: f"/webhooks/{w.hook}", "A....", lambda w: {"max_retries": 3}),
    op("GET", "/webhooks/{id}/deliveries", lambda w: f"/webhooks/{w.hook}/deliveries", "A...."),
    op("POST", "/webhooks/{id}/test", lambda w: f"/webhooks/{w.hook}/test", "A...."),
    op(
        "POST",
        "/webhook-deliveries/{id}/result",
        lambda w: f"/webhook-deliveries/{w.delivery}/result",
        ".A...",
        lambda w: {"success": True, "status_code": 200, "duration_ms": 12},
    ),
    # work orders
    op("GET", "/work-orders", lambda w: "/work-orders", "A...."),
    op(
        "POST",
        "/work-orders",
        lambda w: "/work-orders",
        "A....",
        lambda w: {"work_type": "custom", "yaml_content": "kind: X\n", "targeting": {"labels": ["edge"]}},
    ),
    op("GET", "/work-orders/{id}", lambda w: f"/work-orders/{w.pending_order}", "A...."),
    op(
        "POST",
        "/work-orders/{id}/claim",
        lambda w: f"/work-orders/{w.pending_order}/claim",
        "AA...",
        lambda w: {"agent_id": w.me},
    ),
    op(
        "POST",
        "/work-orders/{id}/complete",
        lambda w: f"/work-orders/{w.claimed_order}/complete",
        "AA...",
        lambda w: {"success": True, "message": "done"},
    ),
    op("GET", "/work-order-log", lambda w: "/work-order-log", "A...."),
    op("GET", "/work-order-log/{id}", lambda w: f"/work-order-log/{w.log_entry}", "A...."),
    # admin
    op("POST", "/admin/config/reload", lambda w: "/admin/config/reload", "A...."),
    op("GET", "/admin/audit-logs", lambda w: "/admin/audit-logs", "A...."),
    # key rotations (they change the world's keys)
    op("PUT", "/templates/{id}", lambda w: f"/templates/{w.template}", "A..A.", _tpl_body),
    op("POST", "/agents/{id}/rotate-pak", lambda w: f"/agents/{w.me}/rotate-pak", "AA..."),
    op("POST", "/generators/{id}/rotate-pak", lambda w: f"/generators/{w.gen}/rotate-pak", "A..A."),
    # deletions, the smallest things first
    op("DELETE", "/agents/{id}/labels/{label}", lambda w: f"/agents/{w.me}/labels/edge", "A...."),
    op("DELETE", "/agents/{id}/annotations/{key}", lambda w: f"/agents/{w.me}/annotations/tier", "A...."),
    op("DELETE", "/agents/{id}/targets/{stack_id}", lambda w: f"/agents/{w.me}/targets/{w.stack}", "AA..."),
    op("DELETE", "/stacks/{id}/labels/{label}", lambda w: f"/stacks/{w.stack}/labels/edge", "A..A."),
    op("DELETE", "/stacks/{id}/annotations/{key}", lambda w: f"/stacks/{w.stack}/annotations/tier", "A..A."),
    op("DELETE", "/templates/{id}/labels/{label}", lambda w: f"/templates/{w.template}/labels/edge", "A..A."),
    op(
        "DELETE",
        "/templates/{id}/annotations/{key}",
        lambda w: f"/templates/{w.template}/annotations/tier",
        "A..A.",
    ),
    op("DELETE", "/templates/{id}", lambda w: f"/templates/{w.template}", "A..A."),
    op("DELETE", "/work-orders/{id}", lambda w: f"/work-orders/{w.pending_order}", "A...."),
    op("DELETE", "/webhooks/{id}", lambda w: f"/webhooks/{w.hook}", "A...."),
    op("DELETE", "/stacks/{id}", lambda w: f"/stacks/{w.stack}", "A..A."),
    op("DELETE", "/generators/{id}", lambda w: f"/generators/{w.gen}", "A..A."),
    op("DELETE", "/agents/{id}", lambda w: f"/agents/{w.me}", "A...."),
)

BY_KEY = {operation.key: operation for operation in OPERATIONS}
