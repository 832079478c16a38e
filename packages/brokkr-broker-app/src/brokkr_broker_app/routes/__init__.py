"""Every route of the broker: the 85 operations under ``/api/v1`` plus the operational endpoints."""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount

from brokkr_broker_app.routes import (
    admin,
    agents,
    auth,
    deployments,
    generators,
    stacks,
    system,
    templates,
    webhooks,
    work_orders,
)

API_MODULES = (auth, agents, generators, stacks, deployments, templates, work_orders, webhooks, admin)


def all_routes() -> list[BaseRoute]:
    api: list[BaseRoute] = [route for module in API_MODULES for route in module.routes]
    return [*system.routes, Mount("/api/v1", routes=api)]


__all__ = ["all_routes"]
