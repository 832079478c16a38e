"""The heartbeat tick: tell the broker we are alive, then re-read our record to pick up status changes.

An admin switches an agent between ACTIVE and INACTIVE on the broker; the agent only deploys, runs work orders
and answers diagnostics while ACTIVE, so it re-reads its own record after every heartbeat.
"""

from __future__ import annotations

from uuid import UUID

from brokkr_domain.model import Agent
from brokkr_domain.ports.broker_gateway import BrokerGateway


def heartbeat_tick(gateway: BrokerGateway, agent_id: UUID) -> Agent:
    """Heartbeat, then the agent's current record; broker errors propagate (the caller goes disconnected)."""
    gateway.heartbeat(agent_id)
    return gateway.get_agent(agent_id)


__all__ = ["heartbeat_tick"]
