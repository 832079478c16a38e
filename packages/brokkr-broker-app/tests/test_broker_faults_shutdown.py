"""SIGTERM during load: ``brokkr-broker serve`` drains and exits 0, no acknowledged write lost its audit entry,
and no work order is left half claimed.

Load: writers create stacks and deployment objects while agents race to claim a pool of work orders (several
agents per order, so most claims lose). The signal arrives mid-load; requests cut off by the shutdown may fail at
the client. Afterwards the database is read directly: every 2xx the clients saw has its audit entry (the writer's
buffer was flushed on the way out) and each work order is either claimed (status, claimer and time together, by
the agent that got the 2xx) or untouched.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import httpx
import pytest

from brokerapp_faults_support import ServedBroker
from brokkr_domain.model import WorkOrderStatus
from brokkr_domain.ports import AuditQuery

CONFIGMAP = (
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{n}\n  namespace: default\ndata:\n  k: v\n"
)
AGENTS = 4
ORDERS = 120


@pytest.fixture
def served(fresh_database_url: str, tmp_path: Path) -> Iterator[ServedBroker]:
    broker = ServedBroker(
        fresh_database_url, tmp_path / "data", {"BROKKR__BROKER__SHUTDOWN_GRACE_SECONDS": "10"}
    )
    yield broker
    broker.kill()


class Load:
    """The clients' view: which writes were acknowledged (2xx), by action and resource id."""

    def __init__(self, served: ServedBroker) -> None:
        self.served = served
        self.acked: dict[str, set[UUID]] = {"stack.created": set(), "deployment_object.created": set()}
        self.claims: dict[UUID, UUID] = {}  # work order -> the agent whose claim got a 2xx
        self.failed = 0  # requests without an HTTP answer (cut off by the shutdown)
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self._names = itertools.count()

    def writer(self, generator_id: str) -> None:
        with httpx.Client(base_url=self.served.base, headers=self.served.headers(), timeout=20) as client:
            while not self.stop.is_set():
                try:
                    name = f"stack-{next(self._names)}"
                    stack = client.post("/api/v1/stacks", json={"name": name, "generator_id": generator_id})
                    if stack.status_code != 201:
                        continue
                    with self.lock:
                        self.acked["stack.created"].add(UUID(stack.json()["id"]))
                    obj = client.post(
                        f"/api/v1/stacks/{stack.json()['id']}/deployment-objects",
                        json={"yaml_content": CONFIGMAP.format(n=name)},
                    )
                    if obj.is_success:
                        with self.lock:
                            self.acked["deployment_object.created"].add(UUID(obj.json()["id"]))
                except httpx.TransportError:
                    with self.lock:
                        self.failed += 1
                    time.sleep(0.02)

    def claimer(self, agent_id: str, pak: str, orders: list[str]) -> None:
        with httpx.Client(base_url=self.served.base, headers=self.served.headers(pak), timeout=20) as client:
            for order in orders:
                if self.stop.is_set():
                    return
                try:
                    answer = client.post(f"/api/v1/work-orders/{order}/claim", json={"agent_id": agent_id})
                except httpx.TransportError:
                    with self.lock:
                        self.failed += 1
                    time.sleep(0.02)
                    continue
                if answer.is_success:
                    with self.lock:
                        assert UUID(order) not in self.claims, "two agents were told they claimed one order"
                        self.claims[UUID(order)] = UUID(agent_id)


def _setup(served: ServedBroker) -> tuple[str, list[tuple[str, str]], list[str]]:
    with httpx.Client(base_url=served.base, headers=served.headers(), timeout=20) as admin:
        generators = admin.get("/api/v1/generators").json()
        generator_id = next(g["id"] for g in generators if g["name"] == "admin-generator")
        agents = []
        for n in range(AGENTS):
            body = admin.post("/api/v1/agents", json={"name": f"agent-{n}", "cluster_name": "c"}).json()
            agents.append((body["agent"]["id"], body["initial_pak"]))
        orders = []
        for _ in range(ORDERS):
            order = admin.post(
                "/api/v1/work-orders",
                json={
                    "work_type": "custom",
                    "yaml_content": CONFIGMAP.format(n="job"),
                    "targeting": {"agent_ids": [a for a, _ in agents]},
                },
            )
            assert order.status_code == 201, order.text
            orders.append(order.json()["id"])
    return generator_id, agents, orders


def test_sigterm_under_load_loses_no_audit_entry_and_leaves_no_half_claim(served: ServedBroker) -> None:
    served.start()
    generator_id, agents, orders = _setup(served)
    load = Load(served)
    threads = [threading.Thread(target=load.writer, args=(generator_id,)) for _ in range(6)]
    threads += [
        threading.Thread(target=load.claimer, args=(agent_id, pak, orders[i::2] + orders[1 - i :: 2]))
        for i, (agent_id, pak) in enumerate(agents[:2])
    ] + [
        threading.Thread(target=load.claimer, args=(agent_id, pak, list(reversed(orders))))
        for agent_id, pak in agents[2:]
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 15
    while len(load.acked["stack.created"]) < 40 or len(load.claims) < 10:  # load is well under way
        assert time.monotonic() < deadline, served.log()
        time.sleep(0.02)
    code = served.terminate()
    load.stop.set()
    for thread in threads:
        thread.join(30)
    assert code == 0, served.log()
    assert "Traceback" not in served.log(), served.log()

    with served.open_database() as db, db.uow() as uow:
        for action, acked in load.acked.items():
            entries, _ = uow.audit.query(AuditQuery(action=action, limit=100_000))
            recorded = {e.resource_id for e in entries}
            assert acked <= recorded, (
                f"{action}: {len(acked - recorded)} acknowledged writes lost their audit entry"
            )
            assert len(entries) == len(recorded)  # one entry per write, not two
        entries, _ = uow.audit.query(AuditQuery(action="workorder.claimed", limit=100_000))
        audited_claims = {e.resource_id for e in entries}
        assert set(load.claims) <= audited_claims
        stored = {o.id: o for o in uow.work_orders.list()}
    assert len(stored) == ORDERS  # claims never complete or delete an order
    for order in stored.values():
        if order.status is WorkOrderStatus.CLAIMED:
            assert order.claimed_by is not None and order.claimed_at is not None, order
            assert order.id in audited_claims
        else:
            assert order.status is WorkOrderStatus.PENDING, order
            assert (order.claimed_by, order.claimed_at) == (None, None), order
            assert order.id not in load.claims and order.id not in audited_claims
    for order_id, agent_id in load.claims.items():  # an acknowledged claim is the stored one
        assert stored[order_id].claimed_by == agent_id
    print(
        f"\nacknowledged: {len(load.acked['stack.created'])} stacks, "
        f"{len(load.acked['deployment_object.created'])} objects, {len(load.claims)} claims; "
        f"{load.failed} requests cut off by the shutdown"
    )
