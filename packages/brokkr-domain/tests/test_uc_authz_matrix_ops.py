"""Who may call what: every use case of the operations modules against five identities.

Each row names the identities that may call the operation; every other identity must get a ``ForbiddenError``
with a specific code, and a refused call must change nothing (no row, no event, no audit entry). The
identities are relative to the resources of the fixture world: "agent" is the agent the work order, diagnostic
and delivery belong to, "generator" owns the stack and the template.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from brokkr_domain.errors import ForbiddenError
from brokkr_domain.model import (
    Actor,
    Caller,
    DeliveryOutcome,
    DeliveryStatus,
    DiagnosticStatus,
    WorkOrderStatus,
    WorkOrderTargeting,
)
from brokkr_domain.ports import AuditQuery
from brokkr_domain.testing import FakeClock, InMemoryUnitOfWorkFactory, RecordingAuditSink, SequentialIds
from brokkr_domain.testing import builders as b
from brokkr_domain.usecases import audit, diagnostics, templates, webhooks, work_orders
from brokkr_domain.usecases.context import Services

IDENTITIES = ("admin", "agent", "other_agent", "generator", "other_generator")
ADMIN_ONLY = frozenset({"admin"})
ADMIN_AGENT = frozenset({"admin", "agent"})
AGENT_ONLY = frozenset({"agent"})
ADMIN_OWNER = frozenset({"admin", "generator"})
TEMPLATE_USERS = frozenset({"admin", "generator", "other_generator"})
YAML = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: job\n"


class World:
    """One of each resource, owned by "agent" or "generator"."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.audit = RecordingAuditSink()
        self.uow = InMemoryUnitOfWorkFactory()
        self.s = Services(uow=self.uow, clock=self.clock, ids=SequentialIds(), audit=self.audit)
        now = self.clock.now()
        self.agent, self.other_agent = b.agent(now), b.agent(now)
        self.generator, self.other_generator = b.generator(now), b.generator(now)
        self.stack = b.stack(now, self.generator.id)
        self.obj = b.deployment_object(now, self.stack.id)
        self.template = b.template(now, self.generator.id, parameters_schema='{"type": "object"}')
        self.system_template = b.template(now, None)
        only_agent = WorkOrderTargeting(agent_ids=frozenset({self.agent.id}))
        self.pending_order = b.work_order(now, only_agent)
        self.claimed_order = b.work_order(
            now, only_agent, status=WorkOrderStatus.CLAIMED, claimed_by=self.agent.id, claimed_at=now
        )
        self.done_order = b.work_order(now, only_agent)
        self.finished = b.work_order_log(self.done_order, now)
        self.pending_diag = b.diagnostic_request(now, self.agent.id, self.obj.id)
        self.claimed_diag = b.diagnostic_request(
            now, self.agent.id, self.obj.id, status=DiagnosticStatus.CLAIMED, claimed_at=now
        )
        self.hook = b.subscription(now, target_labels=("edge",))
        self.delivery = b.delivery(
            now,
            self.hook.id,
            target_labels=("edge",),
            status=DeliveryStatus.ACQUIRED,
            acquired_by=self.agent.id,
            acquired_until=now + timedelta(seconds=60),
        )
        self._store()

    def _store(self) -> None:
        with self.uow() as uow:
            for agent in (self.agent, self.other_agent):
                uow.agents.add(agent)
                uow.agents.add_label(b.agent_label(agent.id, "edge"))
            for generator in (self.generator, self.other_generator):
                uow.generators.add(generator)
            uow.stacks.add(self.stack)
            uow.stacks.add_label(b.stack_label(self.stack.id, "web"))
            uow.deployment_objects.add(self.obj)
            for template in (self.template, self.system_template):
                uow.templates.add(template)
            uow.templates.add_label(b.template_label(self.clock.now(), self.template.id, "web"))
            uow.templates.add_annotation(b.template_annotation(self.clock.now(), self.template.id, "k", "v"))
            uow.stacks.add_annotation(b.stack_annotation(self.stack.id, "k", "v"))
            for order in (self.pending_order, self.claimed_order, self.done_order):
                uow.work_orders.add(order)
            uow.work_orders.move_to_log(self.finished)
            uow.diagnostics.add(self.pending_diag)
            uow.diagnostics.add(self.claimed_diag)
            uow.webhooks.add(self.hook)
            uow.deliveries.add(self.delivery)
            uow.commit()

    def caller(self, identity: str) -> Caller:
        actors = {
            "admin": Actor.admin(),
            "agent": Actor.agent(self.agent.id),
            "other_agent": Actor.agent(self.other_agent.id),
            "generator": Actor.generator(self.generator.id),
            "other_generator": Actor.generator(self.other_generator.id),
        }
        return Caller(actor=actors[identity])


Operation = Callable[[World, Caller], object]

T = templates
WO = work_orders
D = diagnostics
WH = webhooks
TEMPLATE_BODY = {"template_content": YAML, "parameters_schema": '{"type": "object"}'}

MATRIX: list[tuple[str, Operation, frozenset[str]]] = [
    # templates
    ("list_templates", lambda w, c: T.list_templates(w.s, c), TEMPLATE_USERS),
    ("create_template", lambda w, c: T.create_template(w.s, c, name="t", **TEMPLATE_BODY), TEMPLATE_USERS),
    ("get_template", lambda w, c: T.get_template(w.s, c, w.template.id), ADMIN_OWNER),
    ("get_system_template", lambda w, c: T.get_template(w.s, c, w.system_template.id), TEMPLATE_USERS),
    ("update_template", lambda w, c: T.update_template(w.s, c, w.template.id, **TEMPLATE_BODY), ADMIN_OWNER),
    (
        "update_system_template",
        lambda w, c: T.update_template(w.s, c, w.system_template.id, **TEMPLATE_BODY),
        ADMIN_ONLY,
    ),
    ("delete_template", lambda w, c: T.delete_template(w.s, c, w.template.id), ADMIN_OWNER),
    ("list_template_labels", lambda w, c: T.list_template_labels(w.s, c, w.template.id), ADMIN_OWNER),
    ("add_template_label", lambda w, c: T.add_template_label(w.s, c, w.template.id, "new"), ADMIN_OWNER),
    (
        "remove_template_label",
        lambda w, c: T.remove_template_label(w.s, c, w.template.id, "web"),
        ADMIN_OWNER,
    ),
    (
        "list_template_annotations",
        lambda w, c: T.list_template_annotations(w.s, c, w.template.id),
        ADMIN_OWNER,
    ),
    (
        "add_template_annotation",
        lambda w, c: T.add_template_annotation(w.s, c, w.template.id, key="n", value="v"),
        ADMIN_OWNER,
    ),
    (
        "remove_template_annotation",
        lambda w, c: T.remove_template_annotation(w.s, c, w.template.id, "k"),
        ADMIN_OWNER,
    ),
    (
        "instantiate_template",
        lambda w, c: T.instantiate_template(
            w.s, c, w.stack.id, template_id=w.template.id, parameters={"name": "x"}
        ),
        ADMIN_OWNER,
    ),
    # work orders
    (
        "create_work_order",
        lambda w, c: WO.create_work_order(w.s, c, work_type="build", yaml_content=YAML, labels=["edge"]),
        ADMIN_ONLY,
    ),
    ("list_work_orders", lambda w, c: WO.list_work_orders(w.s, c), ADMIN_ONLY),
    ("get_work_order", lambda w, c: WO.get_work_order(w.s, c, w.pending_order.id), ADMIN_ONLY),
    ("delete_work_order", lambda w, c: WO.delete_work_order(w.s, c, w.pending_order.id), ADMIN_ONLY),
    ("pending_work_orders", lambda w, c: WO.pending_for_agent(w.s, c, w.agent.id), ADMIN_AGENT),
    (
        "claim_work_order",
        lambda w, c: WO.claim_work_order(w.s, c, w.pending_order.id, agent_id=w.agent.id),
        ADMIN_AGENT,
    ),
    (
        "complete_work_order",
        lambda w, c: WO.complete_work_order(w.s, c, w.claimed_order.id, success=True),
        ADMIN_AGENT,
    ),
    ("list_work_order_log", lambda w, c: WO.list_work_order_log(w.s, c), ADMIN_ONLY),
    ("get_work_order_log_entry", lambda w, c: WO.get_work_order_log_entry(w.s, c, w.finished.id), ADMIN_ONLY),
    # diagnostics
    (
        "request_diagnostic",
        lambda w, c: D.request_diagnostic(w.s, c, w.obj.id, agent_id=w.agent.id),
        ADMIN_ONLY,
    ),
    ("pending_diagnostics", lambda w, c: D.pending_diagnostics(w.s, c, w.agent.id), ADMIN_AGENT),
    ("claim_diagnostic", lambda w, c: D.claim_diagnostic(w.s, c, w.pending_diag.id), ADMIN_AGENT),
    (
        "submit_diagnostic_result",
        lambda w, c: D.submit_diagnostic_result(
            w.s, c, w.claimed_diag.id, pod_statuses="[]", events="[]", collected_at=w.clock.now()
        ),
        AGENT_ONLY,
    ),
    ("get_diagnostic", lambda w, c: D.get_diagnostic(w.s, c, w.pending_diag.id), ADMIN_AGENT),
    # webhooks
    ("list_webhooks", lambda w, c: WH.list_webhooks(w.s, c), ADMIN_ONLY),
    (
        "create_webhook",
        lambda w, c: WH.create_webhook(w.s, c, name="h", url="https://x.test/", event_types=["*"]),
        ADMIN_ONLY,
    ),
    ("get_webhook", lambda w, c: WH.get_webhook(w.s, c, w.hook.id), ADMIN_ONLY),
    ("update_webhook", lambda w, c: WH.update_webhook(w.s, c, w.hook.id, enabled=False), ADMIN_ONLY),
    ("delete_webhook", lambda w, c: WH.delete_webhook(w.s, c, w.hook.id), ADMIN_ONLY),
    ("list_event_types", lambda w, c: WH.list_event_types(w.s, c), ADMIN_ONLY),
    ("list_deliveries", lambda w, c: WH.list_deliveries(w.s, c, w.hook.id), ADMIN_ONLY),
    ("test_webhook_payload", lambda w, c: WH.test_webhook_payload(w.s, c, w.hook.id), ADMIN_ONLY),
    ("pending_deliveries", lambda w, c: WH.pending_deliveries_for_agent(w.s, c, w.agent.id), ADMIN_AGENT),
    (
        "report_delivery_result",
        lambda w, c: WH.report_delivery_result(w.s, c, w.delivery.id, DeliveryOutcome(success=True)),
        AGENT_ONLY,
    ),
    # audit
    ("query_audit_logs", lambda w, c: audit.query_audit_logs(w.s, c, AuditQuery()), ADMIN_ONLY),
]

CASES = [
    pytest.param(operation, identity, identity in allowed, id=f"{name}-{identity}")
    for name, operation, allowed in MATRIX
    for identity in IDENTITIES
]


@pytest.mark.parametrize(("operation", "identity", "allowed"), CASES)
def test_authorization_matrix(operation: Operation, identity: str, allowed: bool) -> None:
    w = World()
    caller = w.caller(identity)
    if allowed:
        operation(w, caller)
        return
    before = w.uow.store.snapshot()
    with pytest.raises(ForbiddenError) as err:
        operation(w, caller)
    assert err.value.code not in ("", "forbidden")  # every refusal names its reason
    assert w.uow.store.snapshot() == before
    assert w.audit.entries == []
