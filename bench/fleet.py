"""The simulated fleet of ``target_state.py``: what is seeded and what each simulated agent sends.

Stacks and their versions go through the domain's use cases; agents are inserted in batches through the unit
of work (``create_agent`` costs a transaction and an event per agent: minutes for 10 000). Requests are
``(method, path, headers)`` triples the load generator turns into bytes once.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from uuid import UUID

from common import ADMIN, services

from brokkr_adapters_postgres.database import Database
from brokkr_domain.model import Agent, AgentLabel, AgentStatus
from brokkr_domain.pak import generate_pak
from brokkr_domain.ports import TargetStateQuery
from brokkr_domain.testing import builders
from brokkr_domain.usecases import generators, stacks

LABEL = "bench-fleet"
Request = tuple[str, str, dict[str, str]]
Fleet = list[tuple[UUID, str]]  # (agent id, PAK)


def manifest(stack: int, version: int) -> str:
    """About 1 KB of YAML per object: a Deployment, its Service and a ConfigMap."""
    name = f"app-{stack}"
    return f"""apiVersion: v1
kind: ConfigMap
metadata:
  name: {name}-config
  namespace: team-{stack % 5}
data:
  version: "{version}"
  feature-flags: "search=on,checkout=on,recommendations=off"
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: team-{stack % 5}
  labels: {{app: {name}, tier: backend}}
spec:
  replicas: 3
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}, tier: backend}}
    spec:
      containers:
        - name: {name}
          image: registry.example.com/team/{name}:1.{version}.0
          ports: [{{containerPort: 8080}}]
          resources:
            requests: {{cpu: 100m, memory: 128Mi}}
            limits: {{cpu: 500m, memory: 256Mi}}
---
apiVersion: v1
kind: Service
metadata:
  name: {name}
  namespace: team-{stack % 5}
spec:
  selector: {{app: {name}}}
  ports: [{{port: 80, targetPort: 8080}}]
"""


# --- seeding ----------------------------------------------------------------------------------------------


def seed_catalogue(database: Database, stack_count: int, versions: int) -> None:
    """Stacks with the fleet's label and several versions each, through the domain's use cases."""
    svc = services(database)
    generator, _ = generators.create_generator(svc, ADMIN, name="bench-generator")
    for i in range(stack_count):
        stack = stacks.create_stack(svc, ADMIN, name=f"bench-stack-{i}", generator_id=generator.id)
        stacks.add_stack_label(svc, ADMIN, stack.id, LABEL)
        for version in range(versions):
            stacks.create_deployment_object(svc, ADMIN, stack.id, yaml_content=manifest(i, version))


def seed_agents(database: Database, first: int, count: int, batch: int = 1000) -> Fleet:
    """ACTIVE agents with the fleet label and their own PAKs, inserted in batches through the unit of work
    (``create_agent`` per agent is one transaction plus an event each: minutes for 10 000)."""
    fleet: Fleet = []
    now = datetime.now(UTC)
    for start in range(first, first + count, batch):
        with database.uow() as uow:
            for i in range(start, min(start + batch, first + count)):
                pak = generate_pak()
                agent = Agent(
                    id=uuid.uuid4(),
                    name=f"bench-agent-{i}",
                    cluster_name=f"bench-cluster-{i}",
                    status=AgentStatus.ACTIVE.value,
                    pak_hash=pak.hash,
                    created_at=now,
                    updated_at=now,
                )
                uow.agents.add(agent)
                uow.agents.add_label(AgentLabel(id=uuid.uuid4(), agent_id=agent.id, label=LABEL))
                fleet.append((agent.id, pak.key))
            uow.commit()
    return fleet


def seed_success_events(database: Database, fleet: Fleet) -> None:
    """A SUCCESS event for every object each of these agents is targeted with (their steady state)."""
    now = datetime.now(UTC)
    for agent_id, _ in fleet:
        with database.uow() as uow:
            for obj in uow.deployment_objects.target_state(TargetStateQuery(agent_id=agent_id)):
                uow.agent_events.add(builders.agent_event(now, agent_id, obj.id, "SUCCESS"))
            uow.commit()


def polls(fleet: Fleet, query: str = "?mode=full") -> list[Request]:
    return [
        ("GET", f"/api/v1/agents/{a}/target-state{query}", {"Authorization": f"Bearer {p}"}) for a, p in fleet
    ]


def heartbeats(fleet: Fleet) -> list[Request]:
    return [("POST", f"/api/v1/agents/{a}/heartbeat", {"Authorization": f"Bearer {p}"}) for a, p in fleet]


def bare_rows(fleet: Fleet) -> list[Request]:
    """Same headers as an agent's poll, so both servers parse requests of the same size."""
    return [
        ("GET", f"/row/{1 + i % 1000}", {"Authorization": f"Bearer {p}"}) for i, (_, p) in enumerate(fleet)
    ]


def warm_requests(fleet: Fleet) -> list[Request]:
    """Authenticated requests refused before any database work (another agent's target state: 403), so a
    pass over the fleet fills the auth cache at a few thousand req/s."""
    nil = UUID(int=0)
    return [("GET", f"/api/v1/agents/{nil}/target-state", {"Authorization": f"Bearer {p}"}) for _, p in fleet]
