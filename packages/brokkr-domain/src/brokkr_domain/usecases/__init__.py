"""Broker use cases: one function per operation, ``fn(services, caller, ...)``, each in one unit of work.

Modules by area: ``auth``, ``bootstrap``, ``agents``, ``agent_events``, ``generators``, ``stacks``,
``deployment_objects``, ``health``, ``templates``, ``work_orders``, ``diagnostics``, ``webhooks``, ``audit``;
``context`` (``Services``) and ``events`` (webhook emission) are shared.
"""

from brokkr_domain.usecases.context import DiscardAudit, Services

__all__ = ["DiscardAudit", "Services"]
